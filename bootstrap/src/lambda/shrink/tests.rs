use super::*;
use flate2::read::GzDecoder;
use http::header::HeaderName;
use std::io::Read;

/// Header lines, in order.
type Pairs<'a> = &'a [(&'a str, &'a str)];

fn map(pairs: Pairs) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

fn all(headers: &HeaderMap, name: HeaderName) -> Vec<&str> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

#[test]
fn accepts_gzip_table() {
    let cases: &[(&[&str], bool)] = &[
        (&[], false),
        (&[""], false),
        (&["gzip"], true),
        (&["GZip"], true),
        (&["x-gzip"], true),
        (&["gzip, deflate, br"], true),
        (&["br;q=1.0, gzip;q=0.8, *;q=0.1"], true),
        (&["deflate, br"], false),
        (&["identity"], false),
        (&["gzip;q=0"], false),
        (&["gzip;q=0.000"], false),
        (&["gzip;Q=0"], false),
        (&["gzip ; q=0"], false),
        (&["gzip;q=0.001"], true),
        (&["gzip;q=1"], true),
        (&["gzip;q=1.000"], true),
        (&["*"], true),
        (&["*;q=0"], false),
        (&["*;q=0, gzip"], true),
        (&["gzip;q=0, *"], false),
        (&["gzip;q=0", "*;q=1"], false),
        (&["br", "gzip"], true),
        // Malformed q-values drop the coding they belong to.
        (&["gzip;q=2"], false),
        (&["gzip;q=1.5"], false),
        (&["gzip;q=0.5000"], false),
        (&["gzip;q=-1"], false),
        (&["gzip;q="], false),
        (&["gzip;q=abc"], false),
        (&["gzip;q=abc, *"], true),
        (&["gzip;level"], false),
        (&["gzip;level=9"], true),
        (&[",gzip,"], true),
        (&["gzipx"], false),
    ];
    for (values, want) in cases {
        let pairs: Vec<_> = values.iter().map(|v| ("accept-encoding", *v)).collect();
        assert_eq!(
            accepts_gzip(&map(&pairs)),
            *want,
            "Accept-Encoding: {values:?}"
        );
    }
}

#[test]
fn compressible_table() {
    let cases: &[(u16, Pairs, bool)] = &[
        (200, &[("content-type", "text/html; charset=UTF-8")], true),
        (200, &[], true),
        (404, &[("content-type", "text/html")], true),
        (500, &[("content-type", "application/json")], true),
        (301, &[("location", "/x")], true),
        (101, &[], false),
        (204, &[], false),
        (205, &[], false),
        (206, &[("content-range", "bytes 0-9/100")], false),
        (304, &[("etag", "\"x\"")], false),
        (200, &[("content-range", "bytes 0-9/100")], false),
        (416, &[("content-range", "bytes */100")], false),
        (200, &[("content-encoding", "gzip")], false),
        (200, &[("content-encoding", "br")], false),
        (200, &[("content-encoding", "identity")], false),
        (200, &[("cache-control", "public, No-Transform")], false),
        (
            200,
            &[
                ("cache-control", "public"),
                ("cache-control", "no-transform"),
            ],
            false,
        ),
        (200, &[("cache-control", "no-transformer")], true),
        (200, &[("content-type", "image/jpeg")], false),
        (200, &[("content-type", "IMAGE/PNG")], false),
        (200, &[("content-type", "video/mp4")], false),
        (200, &[("content-type", "audio/mpeg")], false),
        (200, &[("content-type", "application/zip")], false),
        (200, &[("content-type", "font/woff2")], false),
        (200, &[("content-type", "image/svg+xml")], true),
        (200, &[("content-type", "application/octet-stream")], true),
        (200, &[("content-type", "text/csv;charset=utf-8")], true),
    ];
    for (status, pairs, want) in cases {
        let status = StatusCode::from_u16(*status).unwrap();
        assert_eq!(
            compressible(status, &map(pairs)),
            *want,
            "{status} with {pairs:?}"
        );
    }
}

#[test]
fn gzip_round_trips_and_shrinks() {
    let body = "<tr><td>lamphp</td><td>row</td></tr>\n".repeat(30_000);
    let mut headers = map(&[("content-type", "text/html")]);
    let packed = gzip(&mut headers, body.as_bytes());
    assert!(packed.len() < body.len() / 20, "{} bytes", packed.len());
    let mut unpacked = Vec::new();
    GzDecoder::new(&packed[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, body.as_bytes());
}

#[test]
fn gzip_of_nothing_is_a_valid_stream() {
    let packed = gzip(&mut HeaderMap::new(), b"");
    let mut unpacked = Vec::new();
    GzDecoder::new(&packed[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    assert!(unpacked.is_empty());
}

#[test]
fn gzip_headers_table() {
    // (headers before, header, its values after)
    let cases: &[(Pairs, &str, &[&str])] = &[
        (&[], "content-encoding", &["gzip"]),
        (&[], "vary", &["Accept-Encoding"]),
        (&[("vary", "Cookie")], "vary", &["Cookie, Accept-Encoding"]),
        (
            &[("vary", "Cookie"), ("vary", "Origin")],
            "vary",
            &["Cookie, Origin, Accept-Encoding"],
        ),
        (&[("vary", "accept-encoding")], "vary", &["accept-encoding"]),
        (
            &[("vary", "Cookie, Accept-Encoding")],
            "vary",
            &["Cookie, Accept-Encoding"],
        ),
        (&[("vary", "*")], "vary", &["*"]),
        (&[], "content-length", &[]),
        (&[("content-length", "1000000")], "content-length", &["LEN"]),
        (&[("accept-ranges", "bytes")], "accept-ranges", &[]),
        (&[("etag", "\"abc\"")], "etag", &["W/\"abc\""]),
        (&[("etag", "W/\"abc\"")], "etag", &["W/\"abc\""]),
        (&[("etag", "abc")], "etag", &[]),
        (&[], "etag", &[]),
        (
            &[("content-type", "text/html; charset=UTF-8")],
            "content-type",
            &["text/html; charset=UTF-8"],
        ),
        (
            &[("cache-control", "max-age=60")],
            "cache-control",
            &["max-age=60"],
        ),
    ];
    let body = b"hello, hello, hello, hello".repeat(100);
    for (before, name, want) in cases {
        let mut headers = map(before);
        let packed = gzip(&mut headers, &body);
        let len = packed.len().to_string();
        let want: Vec<&str> = want
            .iter()
            .map(|v| if *v == "LEN" { len.as_str() } else { v })
            .collect();
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        assert_eq!(all(&headers, name.clone()), want, "{name} after {before:?}");
    }
}
