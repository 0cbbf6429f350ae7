//! `bootstrap local --function-url`: our Function URL emulator in front of real
//! `bootstrap lambda` sandboxes and php-fpm, in both invoke modes. Unlike `cargo lambda
//! watch` (tests/lambda/stream.rs), it reads the error trailers of a failed stream, so
//! this is where lambda/stream.rs's trailers are checked end to end.

use crate::http;
use crate::server::{rss_peak_kb_of, Server};
use crate::stream::timed;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn function_url(mode: &str, args: &[&str]) -> Server {
    Server::local(&[&["--function-url", mode], args].concat(), &[])
}

fn set_cookies(res: &http::Response) -> Vec<String> {
    res.headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
        .collect()
}

#[test]
fn a_streaming_function_url_sends_what_php_flushes_at_once_and_a_buffered_one_at_the_end() {
    for mode in ["streaming", "buffered"] {
        let s = function_url(mode, &[]);
        let (first_byte, raw, clean) = timed(s.port, "GET", "/flush.php?s=3");
        assert!(clean, "{mode}: the response was reset");
        let res = http::parse(&raw).unwrap_or_else(|e| panic!("{mode}: {e}\n{}", s.log()));
        assert_eq!(res.status, 200, "{mode}: {}", s.log());
        assert_eq!(res.body, b"first\nlast\n", "{mode}");
        assert_eq!(
            res.header("content-type"),
            Some(&b"text/plain;charset=UTF-8"[..]),
            "{mode}"
        );
        if mode == "streaming" {
            assert!(res.is_chunked(), "not streamed");
            assert!(
                first_byte < Duration::from_millis(1500),
                "the first bytes came after {first_byte:?}, as if buffered"
            );
        } else {
            assert!(
                first_byte >= Duration::from_secs(3),
                "buffered, yet the first bytes came after only {first_byte:?}"
            );
        }

        // Each cookie its own Set-Cookie, from the answer's (or the prelude's) list.
        let (_, raw, _) = timed(s.port, "GET", "/cookies.php");
        let res = http::parse(&raw).unwrap();
        assert_eq!(res.body, b"cookies\n", "{mode}");
        assert_eq!(
            set_cookies(&res),
            ["a=1", "b=2; path=/x; HttpOnly"],
            "{mode}"
        );

        // No body for HEAD, whatever the script prints.
        let (_, raw, _) = timed(s.port, "HEAD", "/hello.php");
        let end = http::find(&raw, b"\r\n\r\n").expect("a head");
        assert_eq!(&raw[end + 4..], b"", "{mode}: a body after HEAD");
        assert_eq!(http::parse(&raw).unwrap().status, 200, "{mode}");

        // A binary request body reaches PHP through the payload 2.0 event (in base64).
        let post = "POST /echo.php HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\nConnection: close\r\n\r\n\x00\x01\x02";
        let res = http::exchange(s.port, post.as_bytes()).unwrap();
        // sha1 of those three bytes
        let want = b"3 0c7a623fd2bbc05b06423be359e4021d36e721ad\n";
        assert_eq!(res.body, want, "{mode}");
    }
}

#[test]
fn a_streamed_answer_can_be_larger_than_a_buffered_one() {
    let s = function_url("streaming", &[]);
    let (_, raw, clean) = timed(s.port, "GET", "/big.php?mb=50");
    assert!(clean);
    let res = http::parse(&raw).unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.body.len(), 50 << 20);
    assert!(res.body.iter().all(|&b| b == b'x'));
}

#[test]
fn a_stream_that_fails_after_its_head_is_cut_off_and_logged() {
    // The script flushes, then sleeps past the 2 s timeout: the bootstrap ends its
    // stream at its deadline with the Runtime API's error trailers.
    let mut s = function_url(
        "streaming",
        &["--function-timeout", "2", "--sandboxes", "1"],
    );
    let start = Instant::now();
    let (first_byte, raw, _) = timed(s.port, "GET", "/flush.php?s=5");
    let took = start.elapsed();
    assert!(first_byte < Duration::from_millis(1500), "{first_byte:?}");
    assert!(took < Duration::from_secs(4), "the cut came after {took:?}");
    let head = http::find(&raw, b"\r\n\r\n").expect("a head");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text[head..].contains("first\n"), "{text}");
    assert!(!text.contains("last"), "{text}");
    // Not a clean end: the chunked body lacks its last chunk, and says so to a parser.
    assert!(!raw.ends_with(b"0\r\n\r\n"), "{text}");
    let cut = http::parse(&raw).expect_err("a cut body parsed as whole");
    assert!(cut.contains("chunk"), "{cut}");
    let line = s.wait_for_log("failed after its head", Duration::from_secs(5));
    assert!(line.contains("Lamphp.StreamError"), "{line}");
    assert!(line.contains("ran out of time"), "{line}");
    assert!(line.contains("\"level\":\"ERROR\""), "{line}");
    // The sandbox serves on.
    let (_, raw, _) = timed(s.port, "GET", "/hello.php");
    assert_eq!(http::parse(&raw).unwrap().body, b"Hello, world!\n");
}

#[test]
fn a_slow_client_holds_a_large_stream_back_instead_of_filling_memory() {
    let s = function_url("streaming", &["--sandboxes", "1"]);
    let mut stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /big.php?mb=200 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    // About 4 MB/s for 4 s: a sixth of the body, while PHP could write it all in one.
    let start = Instant::now();
    let mut buf = vec![0; 64 << 10];
    let mut read = 0;
    while start.elapsed() < Duration::from_secs(4) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended after {read} bytes");
        read += n;
        let due = Duration::from_secs_f64(read as f64 / (4 << 20) as f64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    assert!(read > 8 << 20, "only {read} bytes in 4 s");
    assert!(
        read < 40 << 20,
        "read {read} bytes: not slow enough to show anything"
    );
    let sandboxes = crate::sandbox_pids(&s);
    assert_eq!(sandboxes.len(), 1);
    for (who, pid) in [
        ("bootstrap local", s.child.id()),
        ("its sandbox", sandboxes[0]),
    ] {
        let peak = rss_peak_kb_of(pid);
        assert!(
            peak < 64 << 10,
            "{who} peaked at {} MB with a 200 MB body streaming to a slow client",
            peak >> 10
        );
    }
    // A client that goes away mid-stream frees its sandbox (its only one) for the next.
    drop(stream);
    let start = Instant::now();
    let (_, raw, _) = timed(s.port, "GET", "/hello.php");
    assert_eq!(http::parse(&raw).unwrap().body, b"Hello, world!\n");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
