use super::*;
use crate::origin::Origin;
use http::{HeaderValue, Method, Version};

fn head(
    method: Method,
    target: &str,
    headers: &[(&'static str, &'static [u8])],
    origin: Origin,
) -> Head {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(*k, HeaderValue::from_bytes(v).unwrap());
    }
    Head::new(method, target.as_bytes(), Version::HTTP_11, map, origin).unwrap()
}

fn text(p: &Params) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into(),
                String::from_utf8_lossy(v).into(),
            )
        })
        .collect()
}

fn alb_origin() -> Origin {
    Origin {
        remote_addr: "1.2.3.4".into(),
        remote_port: "".into(),
        server_addr: "127.0.0.1".into(),
        server_port: "".into(),
        scheme: "".into(),
        https: false,
    }
}

/// The sequence captured from the reference nginx's ALB server (a FastCGI listener that
/// printed what nginx sent) for
/// `POST /x/y?q=1` with Host, Content-Length, two Cookie headers, X-Forwarded-For,
/// Content-Type and Connection, routed to the front controller. Duplicated names are
/// collapsed to their first position and last value, and the two Cookie headers are
/// joined (nginx 1.23+).
#[test]
fn front_controller_post_matches_the_reference_sequence() {
    let h = head(
        Method::POST,
        "/x/y?q=1",
        &[
            ("host", b"a"),
            ("content-length", b"3"),
            ("cookie", b"a=1"),
            ("cookie", b"b=2"),
            ("x-forwarded-for", b"1.2.3.4"),
            ("content-type", b"text/plain"),
            ("connection", b"close"),
        ],
        alb_origin(),
    );
    let script = Script {
        name: b"/index.php",
        path_info: b"",
        document_root: b"/tmp/root",
    };
    let want = [
        ("QUERY_STRING", "q=1"),
        ("REQUEST_METHOD", "POST"),
        ("CONTENT_TYPE", "text/plain"),
        ("CONTENT_LENGTH", "3"),
        ("SCRIPT_NAME", "/index.php"),
        ("REQUEST_URI", "/x/y?q=1"),
        ("DOCUMENT_URI", "/index.php"),
        ("DOCUMENT_ROOT", "/tmp/root"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", ""),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_SOFTWARE", SERVER_SOFTWARE),
        ("REMOTE_ADDR", "1.2.3.4"),
        ("REMOTE_PORT", ""),
        ("REMOTE_USER", ""),
        ("SERVER_ADDR", "127.0.0.1"),
        ("SERVER_PORT", ""),
        ("SERVER_NAME", "a"),
        ("REDIRECT_STATUS", "200"),
        ("HTTP_HOST", "a"),
        ("SCRIPT_FILENAME", "/tmp/root/index.php"),
        ("PATH_INFO", ""),
        ("HTTP_CONTENT_LENGTH", "3"),
        ("HTTP_COOKIE", "a=1; b=2"),
        ("HTTP_X_FORWARDED_FOR", "1.2.3.4"),
        ("HTTP_CONTENT_TYPE", "text/plain"),
        ("HTTP_CONNECTION", "close"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(text(&params(&h, &script, None)), want);
}

fn lookup(p: &Params, name: &str) -> Option<String> {
    p.iter()
        .find(|(k, _)| &k[..] == name.as_bytes())
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

#[test]
fn per_request_values() {
    let direct = Origin::direct(
        "10.0.0.9:4444".parse().unwrap(),
        "127.0.0.1:8080".parse().unwrap(),
    );
    let script = Script {
        name: b"/a.php",
        path_info: b"/b/c",
        document_root: b"/srv",
    };
    // (headers, body length known only after reading, param, expected value or absent)
    type Row = (
        &'static [(&'static str, &'static [u8])],
        Option<u64>,
        &'static str,
        Option<&'static str>,
    );
    let table: &[Row] = &[
        (&[], None, "CONTENT_LENGTH", Some("")),
        (&[], None, "CONTENT_TYPE", Some("")),
        (&[], Some(12), "CONTENT_LENGTH", Some("12")),
        (
            &[("content-length", b"5")],
            Some(5),
            "CONTENT_LENGTH",
            Some("5"),
        ),
        (&[], None, "HTTP_CONTENT_LENGTH", None),
        (&[], None, "HTTPS", None),
        (&[], None, "SCRIPT_FILENAME", Some("/srv/a.php")),
        (&[], None, "PATH_INFO", Some("/b/c")),
        (&[], None, "REQUEST_SCHEME", Some("http")),
        (&[], None, "SERVER_PORT", Some("8080")),
        (&[], None, "REMOTE_PORT", Some("4444")),
        (
            &[("x_forwarded_for", b"6.6.6.6")],
            None,
            "HTTP_X_FORWARDED_FOR",
            None,
        ),
        (&[("x.dot", b"1")], None, "HTTP_X_DOT", None),
        (
            &[("x-a", b"1"), ("x-a", b"2")],
            None,
            "HTTP_X_A",
            Some("1, 2"),
        ),
        (&[("x-empty", b"")], None, "HTTP_X_EMPTY", Some("")),
        (
            &[("x-bin", b"caf\xc3\xa9")],
            None,
            "HTTP_X_BIN",
            Some("caf\u{e9}"),
        ),
        (
            &[("authorization", b"Basic dTpw")],
            None,
            "REMOTE_USER",
            Some("u"),
        ),
        (
            &[("authorization", b"basic   dTpw")],
            None,
            "REMOTE_USER",
            Some("u"),
        ),
        (
            &[("authorization", b"Basic dQ==")],
            None,
            "REMOTE_USER",
            Some(""),
        ),
        (
            &[("authorization", b"Basic !!!")],
            None,
            "REMOTE_USER",
            Some(""),
        ),
        (
            &[("authorization", b"Bearer dTpw")],
            None,
            "REMOTE_USER",
            Some(""),
        ),
        (
            &[("authorization", b"Bearer x")],
            None,
            "HTTP_AUTHORIZATION",
            Some("Bearer x"),
        ),
    ];
    for (headers, length, name, want) in table {
        let mut all = vec![("host", &b"h"[..])];
        all.extend_from_slice(headers);
        let h = head(Method::GET, "/a.php/b/c", &all, direct.clone());
        let p = params(&h, &script, *length);
        assert_eq!(
            lookup(&p, name).as_deref(),
            *want,
            "{name} with {headers:?}"
        );
    }
}

#[test]
fn https_follows_the_forwarded_proto_after_path_info() {
    let origin = Origin {
        scheme: "https".into(),
        https: true,
        ..alb_origin()
    };
    let h = head(Method::GET, "/", &[("host", b"h")], origin);
    let script = Script {
        name: b"/index.php",
        path_info: b"",
        document_root: b"/srv",
    };
    let p = text(&params(&h, &script, None));
    let names: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    let at = |n| names.iter().position(|k| *k == n).unwrap();
    assert_eq!(at("HTTPS"), at("PATH_INFO") + 1);
    assert_eq!(
        lookup(&params(&h, &script, None), "REQUEST_SCHEME").as_deref(),
        Some("https")
    );
}
