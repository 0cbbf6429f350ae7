//! Keep-alive: several requests on one connection, one after another and pipelined, a
//! body PHP never reads followed by the next request, PHP asking to close, and the
//! server's own refusals, which end the connection.

use crate::case::{get, raw, req, Conversation};
use crate::http::Pace::{BodyAfterAnswer, OneByOne, Pipelined};

const FORM_TYPE: &str = "Content-Type: application/x-www-form-urlencoded";

pub fn conversations() -> Vec<Conversation> {
    // More than any socket buffer holds, so a server that does not read or discard it
    // before the next request would take the body for that request.
    let unread: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mixed = || {
        vec![
            get("", "/dump.php?n=1").h("Cookie: a=1"),
            req("", "HEAD", "/hello.txt"),
            get("", "/missing.php").status(404),
            get("", "/sub?q=1").status(301),
            req("", "POST", "/dump.php?n=5")
                .h(FORM_TYPE)
                .body("a=1&b=2"),
            get("", "/hello.txt"),
            get("", "/dump.php?n=7"),
        ]
    };
    let unread_then_next = |unread: &[u8]| {
        vec![
            req("", "POST", "/head.php")
                .h("Content-Type: application/octet-stream")
                .body(unread.to_vec()),
            req("", "POST", "/hello.txt")
                .h(FORM_TYPE)
                .body(unread.to_vec())
                .status(405),
            req("", "PUT", "/dump.php")
                .h("Content-Type: text/plain")
                .body("put body"),
            get("", "/dump.php?after=unread"),
        ]
    };
    vec![
        Conversation::new("keepalive_sequential", OneByOne, mixed()),
        Conversation::new("keepalive_pipelined", Pipelined, mixed()),
        Conversation::new("keepalive_unread_body", OneByOne, unread_then_next(&unread)),
        Conversation::new(
            "keepalive_unread_body_pipelined",
            Pipelined,
            unread_then_next(&unread),
        ),
        Conversation::new(
            "keepalive_php_connection_close",
            OneByOne,
            vec![get("", "/close.php"), get("", "/dump.php?after=close")],
        ),
        // The body still on its way when the answer ends: it must be read and dropped,
        // not taken for the next request nor a reason to close. Not through the ALB
        // emulator, which waits for the whole body before it invokes the function.
        Conversation::new(
            "keepalive_body_after_answer",
            BodyAfterAnswer,
            vec![
                req("", "POST", "/hello.txt")
                    .h(FORM_TYPE)
                    .body(unread.clone())
                    .status(405),
                req("", "POST", "/.env")
                    .h(FORM_TYPE)
                    .body(unread.clone())
                    .status(404),
                get("", "/dump.php?after=late-body"),
            ],
        )
        .serve_only(),
        // Not through the ALB emulator: there the ALB owns the client's connection, and a
        // function's 400 does not end it (nginx behind the ALB closes its own).
        Conversation::new(
            "keepalive_after_refusal",
            OneByOne,
            vec![get("", "/../x").status(400), get("", "/dump.php?after=400")],
        )
        .serve_only(),
        Conversation::new(
            "keepalive_http10",
            OneByOne,
            vec![
                raw(
                    "",
                    "GET /dump.php?n=1 HTTP/1.0\r\nHost: parity.test\r\nConnection: keep-alive\r\n",
                ),
                raw("", "GET /dump.php?n=2 HTTP/1.0\r\nHost: parity.test\r\n"),
            ],
        ),
    ]
}
