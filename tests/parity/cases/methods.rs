//! Request methods and protocol versions: what reaches PHP, and what nginx refuses itself.

use crate::case::{raw, req, AlbFate, Case, Parser};

pub fn cases() -> Vec<Case> {
    vec![
        req("method_get", "GET", "/dump.php"),
        req("method_head_php", "HEAD", "/dump.php"),
        req("method_post_empty", "POST", "/dump.php"),
        req("method_put", "PUT", "/dump.php").h("Content-Type: text/plain").body("put body"),
        req("method_patch", "PATCH", "/dump.php").h("Content-Type: application/json").body(r#"{"op":"x"}"#),
        req("method_delete", "DELETE", "/dump.php?id=7"),
        req("method_options", "OPTIONS", "/dump.php"),
        req("method_custom", "PURGE", "/dump.php"),
        req("method_custom_front_controller", "PROPFIND", "/some/route"),
        req("method_lowercase", "get", "/dump.php"),
        req("method_trace", "TRACE", "/dump.php"),
        req("method_connect", "CONNECT", "/dump.php"),
        req("method_options_root", "OPTIONS", "/"),
        raw("http10_with_host", "GET /dump.php HTTP/1.0\r\nHost: parity.test\r\n"),
        raw("http10_without_host", "GET /dump.php HTTP/1.0\r\n"),
        raw("http10_head", "HEAD /dump.php HTTP/1.0\r\nHost: parity.test\r\n"),
        raw("http10_post", "POST /dump.php HTTP/1.0\r\nHost: parity.test\r\nContent-Type: application/x-www-form-urlencoded\r\n")
            .body("a=1&b=2"),
        raw("http10_static", "GET /hello.txt HTTP/1.0\r\n"),
        raw("http10_dir_redirect_no_host", "GET /sub HTTP/1.0\r\n"),
        raw("http10_front_controller", "GET /some/route?x=1 HTTP/1.0\r\n"),
        raw("http10_keepalive", "GET /dump.php HTTP/1.0\r\nHost: parity.test\r\nKeep-Alive: 300\r\n"),
        raw("http11_no_host", "GET /dump.php HTTP/1.1\r\n").status(400).alb_fate(AlbFate::Refuses(400)),
        raw("http2_version", "GET /dump.php HTTP/2.0\r\nHost: parity.test\r\n").parser(Parser::Refuses),
        raw("http12_version", "GET /dump.php HTTP/1.2\r\nHost: parity.test\r\n").parser(Parser::Refuses),
        raw("http_version_garbage", "GET /dump.php HTTX/1.1\r\nHost: parity.test\r\n").parser(Parser::Refuses),
    ]
}
