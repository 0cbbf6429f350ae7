//! Request bodies: forms, multipart uploads, raw and chunked bodies, Expect.

use crate::case::{raw, req, AlbFate, Case, Parser};

/// A multipart body with several files (binary, empty), a field array and plain fields.
fn multipart() -> Vec<u8> {
    let b = "----parityBoundary7MA4YWxk";
    let mut body = Vec::new();
    let mut part = |headers: &str, content: &[u8]| {
        body.extend_from_slice(format!("--{b}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    part(
        r#"Content-Disposition: form-data; name="title""#,
        b"hello world",
    );
    part(r#"Content-Disposition: form-data; name="tags[]""#, b"one");
    part(r#"Content-Disposition: form-data; name="tags[]""#, b"two");
    part(
        r#"Content-Disposition: form-data; name="nested[a][b]""#,
        "é".as_bytes(),
    );
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    part("Content-Disposition: form-data; name=\"bin\"; filename=\"b.bin\"\r\nContent-Type: application/octet-stream", &binary);
    part("Content-Disposition: form-data; name=\"empty\"; filename=\"empty.txt\"\r\nContent-Type: text/plain", b"");
    part("Content-Disposition: form-data; name=\"docs[]\"; filename=\"a.txt\"\r\nContent-Type: text/plain", b"first");
    part("Content-Disposition: form-data; name=\"docs[]\"; filename=\"b.txt\"\r\nContent-Type: text/plain", b"second");
    body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    body
}

const MULTIPART_TYPE: &str =
    "Content-Type: multipart/form-data; boundary=----parityBoundary7MA4YWxk";
const FORM_TYPE: &str = "Content-Type: application/x-www-form-urlencoded";

fn chunked(parts: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        body.extend_from_slice(p);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

pub fn cases() -> Vec<Case> {
    let nul_bytes: Vec<u8> = b"\x00\x01binary\x00\xff\xfe\x00end".to_vec();
    let several_mb: Vec<u8> = (0..6_000_000u32).map(|i| (i % 251) as u8).collect();
    let one_mb: Vec<u8> = (0..1_100_000u32).map(|i| (i % 13) as u8 + b'a').collect();
    vec![
        req("body_form", "POST", "/dump.php").h(FORM_TYPE).body("a=1&b[]=2&b[]=3&c=%20x+y&d"),
        req("body_form_charset", "POST", "/dump.php").h(format!("{FORM_TYPE}; charset=UTF-8")).body("a=%C3%A9"),
        req("body_form_uppercase_type", "POST", "/dump.php").h("Content-Type: APPLICATION/X-WWW-FORM-URLENCODED").body("a=1"),
        req("body_form_and_query", "POST", "/dump.php?a=query&q=1").h(FORM_TYPE).body("a=post&p=1"),
        req("body_form_front_controller", "POST", "/some/route").h(FORM_TYPE).body("x=1"),
        req("body_multipart", "POST", "/dump.php").h(MULTIPART_TYPE).body(multipart()),
        req("body_multipart_no_boundary", "POST", "/dump.php").h("Content-Type: multipart/form-data").body("--x\r\n\r\n"),
        req("body_json", "POST", "/dump.php").h("Content-Type: application/json").body(r#"{"a":[1,2],"b":"é"}"#),
        req("body_binary_nul", "POST", "/dump.php").h("Content-Type: application/octet-stream").body(nul_bytes.clone()),
        req("body_binary_echo", "POST", "/input.php").h("Content-Type: application/octet-stream").body(nul_bytes),
        req("body_several_mb", "POST", "/dump.php").h("Content-Type: application/octet-stream").body(several_mb).alb_fate(AlbFate::Refuses(413)),
        req("body_one_mb_echo", "PUT", "/input.php").h("Content-Type: text/plain").body(one_mb).alb_fate(AlbFate::Refuses(413)),
        req("body_chunked", "POST", "/dump.php")
            .h("Content-Type: application/x-www-form-urlencoded")
            .h("Transfer-Encoding: chunked")
            .body(chunked(&[b"a=1&", b"b=2&c=", b"3"])),
        req("body_chunked_echo", "POST", "/input.php")
            .h("Transfer-Encoding: chunked")
            .body(chunked(&[b"\x00chunk one\n", &[b'z'; 5000], b"end"])),
        req("body_chunked_with_length", "POST", "/dump.php")
            .h("Content-Length: 5")
            .h("Transfer-Encoding: chunked")
            .body(chunked(&[b"hello"]))
            .accepts("POST /dump.php HTTP/1.1\r\nHost: parity.test\r\nTransfer-Encoding: chunked\r\n"),
        req("body_content_length_zero", "POST", "/dump.php").h("Content-Length: 0").h(FORM_TYPE),
        req("body_post_without_length", "POST", "/dump.php").h(FORM_TYPE),
        req("body_expect_continue", "POST", "/dump.php").h("Expect: 100-continue").h(FORM_TYPE).body("a=1"),
        req("body_expect_continue_static", "POST", "/hello.txt").h("Expect: 100-continue").body("a=1"),
        req("body_expect_unknown", "POST", "/dump.php").h("Expect: something-else").body("a=1"),
        req("body_too_large_declared", "POST", "/dump.php").h("Content-Length: 70000000").body("x").alb_fate(AlbFate::Refuses(413)),
        req("body_bad_content_length", "POST", "/dump.php").h("Content-Length: abc").body("x").parser(Parser::Refuses),
        req("body_negative_content_length", "POST", "/dump.php").h("Content-Length: -1").parser(Parser::Refuses),
        req("body_delete_with_body", "DELETE", "/dump.php").h("Content-Type: application/json").body("{}"),
        req("body_get_with_body", "GET", "/dump.php").h("Content-Type: text/plain").body("get body"),
        req("body_post_dir_index", "POST", "/sub/").h(FORM_TYPE).body("a=1"),
        req("body_post_static", "POST", "/hello.txt").h(FORM_TYPE).body("a=1").status(405),
        req("body_put_static", "PUT", "/hello.txt").body("a=1"),
        req("body_delete_static", "DELETE", "/hello.txt"),
        raw("body_duplicate_content_length", "POST /dump.php HTTP/1.1\r\nHost: parity.test\r\nContent-Length: 3\r\nContent-Length: 3\r\n")
            .body("abc")
            .accepts("POST /dump.php HTTP/1.1\r\nHost: parity.test\r\nContent-Length: 3\r\n"),
    ]
}
