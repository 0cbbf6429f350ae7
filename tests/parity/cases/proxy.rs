//! Trusted-proxy mode only: how X-Forwarded-For/-Proto/-Port become REMOTE_ADDR, HTTPS,
//! REQUEST_SCHEME and SERVER_PORT, exactly as the reference's ALB server derives them.

use crate::case::{get, raw, Case, HOST};

/// A proxy-mode request to dump.php carrying exactly `headers` instead of the ALB's.
fn alb(name: &str, headers: &[&str]) -> Case {
    headers.iter().fold(
        get(name, "/dump.php").proxy_only().no_alb(),
        |case, line| case.h(line),
    )
}

/// A proxy-mode directory redirect (`/sub` to `/sub/?q=1`) with exactly `headers` beside
/// the client's address, so the Location must name that scheme and port.
fn alb_redirect(name: &str, host: &str, headers: &[&str]) -> Case {
    let head = format!("GET /sub?q=1 HTTP/1.1\r\nHost: {host}\r\n");
    let case = raw(name, head).proxy_only().no_alb().status(301);
    headers
        .iter()
        .fold(case.h("X-Forwarded-For: 198.51.100.1"), |case, line| {
            case.h(line)
        })
}

pub fn cases() -> Vec<Case> {
    let (proto, port) = ("X-Forwarded-Proto: https", "X-Forwarded-Port: 443");
    vec![
        alb("xff_one", &["X-Forwarded-For: 198.51.100.1", proto, port]),
        alb(
            "xff_several",
            &[
                "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 198.51.100.1",
                proto,
                port,
            ],
        ),
        alb(
            "xff_several_no_spaces",
            &["X-Forwarded-For: 10.0.0.1,198.51.100.1", proto, port],
        ),
        alb("xff_garbage", &["X-Forwarded-For: garbage", proto, port]),
        alb(
            "xff_garbage_last",
            &["X-Forwarded-For: 198.51.100.1, nonsense", proto, port],
        ),
        alb("xff_empty", &["X-Forwarded-For:", proto, port]),
        alb("xff_ipv6", &["X-Forwarded-For: 2001:db8::1", proto, port]),
        alb(
            "xff_ipv6_after_ipv4",
            &["X-Forwarded-For: 198.51.100.1, 2001:db8::2", proto, port],
        ),
        alb(
            "xff_ipv6_brackets",
            &["X-Forwarded-For: [2001:db8::1]", proto, port],
        ),
        alb(
            "xff_with_port",
            &["X-Forwarded-For: 198.51.100.1:5555", proto, port],
        ),
        alb(
            "xff_spaces",
            &["X-Forwarded-For:   198.51.100.1  ", proto, port],
        ),
        alb("xff_missing", &[proto, port]),
        alb(
            "xff_two_headers",
            &[
                "X-Forwarded-For: 10.0.0.1",
                "X-Forwarded-For: 198.51.100.1",
                proto,
                port,
            ],
        )
        .repeated(),
        alb(
            "xff_underscore_spoof",
            &[
                "X_Forwarded_For: 6.6.6.6",
                "X-Forwarded-For: 198.51.100.1",
                proto,
                port,
            ],
        ),
        alb(
            "proto_http",
            &[
                "X-Forwarded-For: 198.51.100.1",
                "X-Forwarded-Proto: http",
                "X-Forwarded-Port: 80",
            ],
        ),
        alb(
            "proto_uppercase",
            &[
                "X-Forwarded-For: 198.51.100.1",
                "X-Forwarded-Proto: HTTPS",
                port,
            ],
        ),
        alb("proto_missing", &["X-Forwarded-For: 198.51.100.1", port]),
        alb(
            "proto_garbage",
            &[
                "X-Forwarded-For: 198.51.100.1",
                "X-Forwarded-Proto: gopher",
                port,
            ],
        ),
        alb(
            "port_custom",
            &[
                "X-Forwarded-For: 198.51.100.1",
                proto,
                "X-Forwarded-Port: 8443",
            ],
        ),
        alb("port_missing", &["X-Forwarded-For: 198.51.100.1", proto]),
        alb(
            "port_garbage",
            &[
                "X-Forwarded-For: 198.51.100.1",
                proto,
                "X-Forwarded-Port: eighty",
            ],
        ),
        alb("alb_headers_none", &[]),
        get("alb_dir_redirect", "/sub").proxy_only().status(301),
        get("alb_dir_redirect_query", "/onlyhtml?x=1")
            .proxy_only()
            .status(301),
        alb_redirect(
            "alb_dir_redirect_http_80",
            HOST,
            &["X-Forwarded-Proto: http", "X-Forwarded-Port: 80"],
        ),
        alb_redirect(
            "alb_dir_redirect_https_8443",
            HOST,
            &[proto, "X-Forwarded-Port: 8443"],
        ),
        alb_redirect(
            "alb_dir_redirect_http_8080",
            HOST,
            &["X-Forwarded-Proto: http", "X-Forwarded-Port: 8080"],
        ),
        alb_redirect(
            "alb_dir_redirect_proto_uppercase",
            HOST,
            &["X-Forwarded-Proto: HTTPS", port],
        ),
        alb_redirect(
            "alb_dir_redirect_host_port",
            "Parity.TEST.:8443",
            &[proto, port],
        ),
        get("alb_host_port", "/dump.php")
            .proxy_only()
            .no_alb()
            .h("X-Forwarded-For: 198.51.100.1")
            .h(proto)
            .h(port),
        get("alb_static", "/hello.txt").proxy_only(),
        get("alb_front_controller", "/some/route?x=1").proxy_only(),
        get("alb_path_info", "/a.php/b/c").proxy_only(),
    ]
}
