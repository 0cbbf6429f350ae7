//! Any bytes as php-fpm's side of a connection: FastCGI records, then the CGI head in
//! their stdout. Parsing must answer or refuse, never panic; and what it accepts must
//! round-trip: the head written back as CGI (its `Status:` line, then its headers)
//! parses to the same head, hides what nginx hides, and keeps every other line.
#![no_main]

use bytes::BytesMut;
use lamphp::cgi::response::{find_head_end, parse_head, CgiHead, HIDDEN};
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
            if let Ok(head) = parse_head(&input[..head_len]) {
                check(&input[..head_len], &head);
            }
        }
    }
});

fn check(input: &[u8], head: &CgiHead) {
    for (name, _) in &head.headers {
        let name = name.as_str();
        assert!(
            !HIDDEN.contains(&name) && !name.starts_with("x-accel-"),
            "{name} passed on"
        );
    }
    // Every line that is not hidden is kept: as many headers as such lines.
    let kept = input
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .filter(|l| {
            let name = l.split(|&b| b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            !HIDDEN.contains(&name.as_str()) && !name.starts_with("x-accel-")
        })
        .count();
    assert_eq!(head.headers.len(), kept, "lines kept");
    let mut written = format!("Status: {}", head.status.as_u16()).into_bytes();
    if let Some(reason) = &head.reason {
        written.push(b' ');
        written.extend_from_slice(reason.as_bytes());
    }
    written.extend_from_slice(b"\r\n");
    for (name, value) in &head.headers {
        written.extend_from_slice(name.as_str().as_bytes());
        written.extend_from_slice(b": ");
        written.extend_from_slice(value.as_bytes());
        written.extend_from_slice(b"\r\n");
    }
    let again = parse_head(&written).expect("a head written back from a parsed one parses");
    assert_eq!(
        &again,
        head,
        "round trip of {:?}",
        String::from_utf8_lossy(&written)
    );
}
