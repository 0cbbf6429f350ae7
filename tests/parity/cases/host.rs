//! Host variants: SERVER_NAME, HTTP_HOST (departure b) and the host in redirects.

use crate::case::{raw, AlbFate, Case};

/// A GET of `target` with exactly `host_line` as its Host header line.
fn with_host(name: &str, target: &str, host_line: &str) -> Case {
    raw(name, format!("GET {target} HTTP/1.1\r\n{host_line}\r\n"))
}

pub fn cases() -> Vec<Case> {
    vec![
        with_host("host_with_port", "/dump.php", "Host: parity.test:8080"),
        with_host("host_own_port", "/dump.php", "Host: 127.0.0.1:{PORT}"),
        with_host("host_own_port_redirect", "/sub", "Host: 127.0.0.1:{PORT}"),
        with_host("host_uppercase", "/dump.php", "Host: PARITY.Test"),
        with_host("host_uppercase_port", "/dump.php", "Host: PARITY.Test:8080"),
        with_host("host_ipv6_port", "/dump.php", "Host: [::1]:8080"),
        with_host("host_ipv6", "/dump.php", "Host: [::1]"),
        with_host("host_ip", "/dump.php", "Host: 127.0.0.1"),
        with_host("host_trailing_dot", "/dump.php", "Host: parity.test."),
        with_host("host_empty", "/dump.php", "Host:"),
        with_host("host_invalid_slash", "/dump.php", "Host: bad/host"),
        with_host("host_invalid_dotdot", "/dump.php", "Host: ..evil"),
        with_host("host_underscore", "/dump.php", "Host: my_host.test"),
        with_host("host_port_80", "/dump.php", "Host: parity.test:80"),
        with_host("host_port_redirect", "/sub", "Host: parity.test:8080"),
        with_host("host_uppercase_redirect", "/sub", "Host: PARITY.TEST"),
        raw(
            "host_twice",
            "GET /dump.php HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n",
        )
        .status(400)
        .alb_fate(AlbFate::Refuses(400)),
        raw(
            "host_absolute_form",
            "GET http://other.test/dump.php?x=1 HTTP/1.1\r\nHost: parity.test\r\n",
        ),
        raw(
            "host_absolute_form_port",
            "GET http://other.test:8080/dump.php HTTP/1.1\r\nHost: parity.test:9090\r\n",
        ),
        raw(
            "host_absolute_form_https",
            "GET https://Other.Test/a.php/x HTTP/1.1\r\nHost: parity.test\r\n",
        ),
        raw(
            "host_absolute_form_redirect",
            "GET http://other.test/sub HTTP/1.1\r\nHost: parity.test\r\n",
        ),
        raw(
            "host_http10_absolute",
            "GET http://other.test/dump.php HTTP/1.0\r\n",
        ),
    ]
}
