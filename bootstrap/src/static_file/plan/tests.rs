//! Table tests for [`super::plan`], each row checked against nginx 1.22.

use super::*;
use http::HeaderName;

const TEN: FileMeta = FileMeta {
    size: 10,
    mtime: 1_700_000_000,
};
const DATE: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
const ETAG: &str = "\"6553f100-a\"";

/// The plan for `method` with `request` headers, and whether a boundary was taken.
fn run(method: Method, request: &[(&str, &str)], file: FileMeta) -> (Plan, bool) {
    let mut headers = HeaderMap::new();
    for (name, value) in request {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        headers.append(name, value.parse().unwrap());
    }
    let mut taken = false;
    let planned = plan(&method, &headers, file, "text/plain", || {
        taken = true;
        7
    });
    (planned, taken)
}

fn send(status: StatusCode, headers: &[(&str, &str)], parts: Vec<Part>) -> Plan {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    Plan::Send {
        status,
        headers: map,
        parts,
    }
}

fn file(start: u64, len: u64) -> Part {
    Part::File { start, len }
}

#[test]
fn answers_like_nginx() {
    let whole = |status| {
        let headers = [
            ("content-type", "text/plain"),
            ("content-length", "10"),
            ("last-modified", DATE),
            ("etag", ETAG),
            ("accept-ranges", "bytes"),
        ];
        send(status, &headers, vec![file(0, 10)])
    };
    let not_modified = || {
        send(
            StatusCode::NOT_MODIFIED,
            &[("last-modified", DATE), ("etag", ETAG)],
            vec![],
        )
    };
    let one_two = || {
        send(
            StatusCode::PARTIAL_CONTENT,
            &[
                ("content-type", "text/plain"),
                ("content-length", "2"),
                ("last-modified", DATE),
                ("etag", ETAG),
                ("content-range", "bytes 1-2/10"),
            ],
            vec![file(1, 2)],
        )
    };
    let range = ("range", "bytes=1-2");
    let cases = [
        (Method::GET, vec![], whole(StatusCode::OK)),
        (Method::HEAD, vec![], whole(StatusCode::OK)),
        (
            Method::POST,
            vec![],
            Plan::Page(StatusCode::METHOD_NOT_ALLOWED),
        ),
        (
            Method::PUT,
            vec![],
            Plan::Page(StatusCode::METHOD_NOT_ALLOWED),
        ),
        (Method::GET, vec![("if-none-match", ETAG)], not_modified()),
        (
            Method::GET,
            vec![("if-match", "\"x\"")],
            Plan::Page(StatusCode::PRECONDITION_FAILED),
        ),
        (Method::GET, vec![range], one_two()),
        (Method::HEAD, vec![range], one_two()),
        (
            Method::GET,
            vec![("range", "bytes=20-")],
            Plan::Unsatisfiable { size: 10 },
        ),
        (
            Method::HEAD,
            vec![("range", "bytes=abc")],
            Plan::Unsatisfiable { size: 10 },
        ),
        (
            Method::GET,
            vec![range, ("if-range", "\"x\"")],
            whole(StatusCode::OK),
        ),
        (Method::GET, vec![range, ("if-range", ETAG)], one_two()),
        (Method::GET, vec![range, ("if-range", DATE)], one_two()),
        (
            Method::GET,
            vec![range, ("if-none-match", ETAG)],
            not_modified(),
        ),
        (
            Method::GET,
            vec![range, ("if-match", "\"x\"")],
            Plan::Page(StatusCode::PRECONDITION_FAILED),
        ),
        (
            Method::GET,
            vec![range, ("if-modified-since", "garbage")],
            one_two(),
        ),
        (
            Method::GET,
            vec![("range", "bytes=0-,0-")],
            whole(StatusCode::OK),
        ),
    ];
    for (method, request, want) in cases {
        let (got, taken) = run(method.clone(), &request, TEN);
        assert_eq!(got, want, "{method} {request:?}");
        assert!(!taken, "{method} {request:?} took a boundary");
    }
}

#[test]
fn several_ranges_are_multipart() {
    let (got, taken) = run(Method::GET, &[("range", "bytes=1-2,4-5")], TEN);
    assert!(taken);
    let Plan::Send {
        status,
        headers,
        parts,
    } = got
    else {
        panic!("{got:?}");
    };
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    let names: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        ["content-type", "content-length", "last-modified", "etag"]
    );
    assert_eq!(
        headers["content-type"],
        "multipart/byteranges; boundary=00000000000000000007"
    );
    assert_eq!(headers["content-length"], "198");
    assert_eq!(parts.len(), 5);
    assert_eq!((&parts[1], &parts[3]), (&file(1, 2), &file(4, 2)));
}

#[test]
fn empty_file() {
    let empty = FileMeta { size: 0, ..TEN };
    for request in [
        vec![],
        vec![("range", "bytes=0-0")],
        vec![("range", "bytes=-5")],
    ] {
        let (got, _) = run(Method::GET, &request, empty);
        let Plan::Send {
            status,
            headers,
            parts,
        } = got
        else {
            panic!("{got:?}");
        };
        assert_eq!((status, parts), (StatusCode::OK, vec![]));
        assert_eq!(headers["content-length"], "0");
        assert_eq!(headers["etag"], "\"6553f100-0\"");
    }
    let (got, _) = run(Method::GET, &[("range", "bytes=1-")], empty);
    assert_eq!(got, Plan::Unsatisfiable { size: 0 });
}

#[test]
fn odd_mtimes_like_nginx() {
    // nginx 1.22 with two-byte files touched to these times.
    for (mtime, etag, last_modified) in [
        (
            0x6b02_3187,
            "\"6b023187-2\"",
            Some("Sun, 22 Nov 2026 00:04:23 GMT"),
        ),
        (-1, "\"-1-2\"", None),
        (
            -86_401,
            "\"-15181-2\"",
            Some("Thu, 01 Jan 1970 00:00:00 GMT"),
        ),
        (
            15_032_385_535,
            "\"37fffffff-2\"",
            Some("Thu, 10 May 2446 22:38:55 GMT"),
        ),
    ] {
        let (got, _) = run(Method::GET, &[], FileMeta { size: 2, mtime });
        let Plan::Send { headers, .. } = got else {
            panic!("{got:?}");
        };
        assert_eq!(headers["etag"], etag);
        let got = headers.get("last-modified").map(|v| v.to_str().unwrap());
        assert_eq!(got, last_modified);
    }
}
