//! Any bytes as php-fpm's side of a connection: FastCGI records, then the CGI head in
//! their stdout. Parsing must answer or refuse, never panic.
#![no_main]

use bytes::BytesMut;
use lamphp::cgi::response::{find_head_end, parse_head};
use lamphp::fastcgi::record::{decode, Frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As records: whatever decodes, its stdout goes on to the head parser.
    let mut buf = BytesMut::from(data);
    let mut stdout = Vec::new();
    while let Ok(Some(frame)) = decode(&mut buf) {
        if let Frame::Stdout(bytes) = frame {
            stdout.extend_from_slice(&bytes);
        }
    }
    // As a head directly, too: the record layer rarely lets arbitrary bytes through.
    for input in [&stdout[..], data] {
        if let Some((head_len, body_start)) = find_head_end(input) {
            assert!(head_len <= body_start && body_start <= input.len());
            let _ = parse_head(&input[..head_len]);
        }
    }
});
