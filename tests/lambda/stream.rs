//! Streaming mode (`LAMPHP_RESPONSE_MODE=streaming`) through the Function URL of
//! `cargo lambda watch`, a Runtime API emulator we did not write that relays a streamed
//! answer to its client as it comes.

use crate::emulator::Watch;
use crate::http;
use crate::server::docroot;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::unique;

/// `cargo lambda watch` with a `bootstrap` in streaming mode serving tests/serve/docroot,
/// once it answers.
fn streaming() -> (Watch, PathBuf) {
    let mut watch = Watch::start(env!("CARGO_MANIFEST_DIR").as_ref());
    let runtime_dir =
        std::env::temp_dir().join(format!("lamphp-stream-{}-{}", std::process::id(), unique()));
    watch.runtime(
        env!("CARGO_BIN_EXE_bootstrap").as_ref(),
        [
            ("LAMPHP_ROOT", docroot()),
            ("LAMPHP_RUNTIME_DIR", runtime_dir.clone()),
            ("LAMPHP_RESPONSE_MODE", "streaming".into()),
        ],
    );
    (watch, runtime_dir)
}

/// GET `path` through the Function URL: the time the first body byte came, and the
/// response.
fn get(watch: &Watch, method: &str, path: &str) -> (Duration, http::Response) {
    let (first_byte, raw, _) = timed(watch.port, method, &format!("/lambda-url/_{path}"));
    (first_byte, http::parse(&raw).unwrap())
}

/// `method target` to 127.0.0.1:`port`, read to the end: when the first body byte came
/// (or the end, if none did), the raw response, and whether it ended cleanly (EOF rather
/// than a reset).
pub fn timed(port: u16, method: &str, target: &str) -> (Duration, Vec<u8>, bool) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let start = Instant::now();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut first_byte = None;
    let mut buf = vec![0; 1 << 16];
    let clean = loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break false,
            Err(e) => panic!("reading the response: {e}"),
        };
        raw.extend_from_slice(&buf[..n]);
        if first_byte.is_none() {
            // The head ends, and at least one chunk's data follows its size line.
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let body = &raw[end + 4..];
                if let Some(size_end) = body.windows(2).position(|w| w == b"\r\n") {
                    if body.len() > size_end + 2 {
                        first_byte = Some(start.elapsed());
                    }
                }
            }
        }
    };
    (first_byte.unwrap_or_else(|| start.elapsed()), raw, clean)
}

#[test]
fn a_streamed_answer_starts_before_the_script_ends_and_can_be_large() {
    let (watch, runtime_dir) = streaming();
    // An ALB event is answered in JSON as in buffered mode (and the runtime is ready).
    let alb = serde_json::to_vec(&serde_json::json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lamphp/0123456789abcdef"}},
        "httpMethod": "GET",
        "path": "/hello.php",
        "multiValueQueryStringParameters": {},
        "multiValueHeaders": {"host": ["example.com"]},
        "body": "",
        "isBase64Encoded": false
    }))
    .unwrap();
    let (status, body) = watch.invoke_when_ready(&alb);
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["body"], "Hello, world!\n", "{answer}");

    // flush() reaches the client while the script still sleeps.
    let (first_byte, res) = get(&watch, "GET", "/flush.php?s=3");
    assert_eq!(res.status, 200, "{}", watch.log());
    assert!(res.is_chunked(), "not streamed");
    assert_eq!(res.body, b"first\nlast\n");
    assert_eq!(
        res.header("content-type"),
        Some(&b"text/plain;charset=UTF-8"[..])
    );
    assert!(
        first_byte < Duration::from_secs(2),
        "the first bytes came after {first_byte:?}, as if buffered"
    );

    // Past the 6 MB of a buffered answer, and the 64 MB LAMPHP_MAX_RESPONSE collects.
    let (_, res) = get(&watch, "GET", "/big.php?mb=80");
    assert_eq!(res.status, 200);
    assert_eq!(res.body.len(), 80 << 20);
    assert!(res.body.iter().all(|&b| b == b'x'));

    // Cookies go in the prelude's own list, each its own Set-Cookie.
    let (_, res) = get(&watch, "GET", "/cookies.php");
    assert_eq!(res.body, b"cookies\n");
    let cookies: Vec<_> = res
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
        .collect();
    assert_eq!(cookies.len(), 2, "{:?}", res.headers);
    assert!(cookies[1].starts_with("b=2; path=/x"), "{cookies:?}");

    // No body for HEAD, whatever the script prints; a 404 from the core is streamed too.
    let (_, res) = get(&watch, "HEAD", "/hello.php");
    assert_eq!(res.status, 200);
    assert_eq!(res.body, b"");
    let (_, res) = get(&watch, "GET", "/missing.php");
    assert_eq!(res.status, 404);
    let _ = std::fs::remove_dir_all(runtime_dir);
}
