use super::*;
use crate::lambda::event::{decode, encode, prelude, Kind, Reply};

const PEER: &str = "127.0.0.1:50000";

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

fn event(parts: &http::request::Parts, body: &[u8]) -> Value {
    let at = UNIX_EPOCH + std::time::Duration::from_millis(1_583_348_638_390);
    serde_json::from_slice(&event_at(parts, body, PEER.parse().unwrap(), 8080, at)).unwrap()
}

#[test]
fn request_times_are_in_the_common_log_format() {
    let table = [
        (0, "01/Jan/1970:00:00:00 +0000"),
        (1_583_348_638, "04/Mar/2020:19:03:58 +0000"),
        (951_825_599, "29/Feb/2000:11:59:59 +0000"),
        (4_102_444_800, "01/Jan/2100:00:00:00 +0000"),
    ];
    for (seconds, want) in table {
        assert_eq!(common_log_time(seconds), want, "{seconds}");
    }
}

#[test]
fn a_request_becomes_a_payload_2_event() {
    let req = parts(
        "POST",
        "/wp-admin/admin-ajax.php?action=heartbeat&_wpnonce=a%2Bb",
        &[
            ("Host", "example.com:8080"),
            ("User-Agent", "curl/8.5.0"),
            ("Cookie", "a=1; b=2"),
            ("Cookie", "c=3"),
            ("X-Custom", "one"),
            ("X-Custom", "two"),
            ("Content-Type", "application/octet-stream"),
        ],
    );
    let e = event(&req, b"\x00\x01\xff");
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["rawPath"], "/wp-admin/admin-ajax.php");
    assert_eq!(e["rawQueryString"], "action=heartbeat&_wpnonce=a%2Bb");
    assert_eq!(e["cookies"], serde_json::json!(["a=1", "b=2", "c=3"]));
    let headers = &e["headers"];
    assert_eq!(headers["x-custom"], "one,two");
    assert_eq!(headers["host"], "example.com:8080");
    assert!(headers.get("cookie").is_none(), "{headers}");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    let http = &e["requestContext"]["http"];
    assert_eq!(http["method"], "POST");
    assert_eq!(http["path"], "/wp-admin/admin-ajax.php");
    assert_eq!(http["protocol"], "HTTP/1.1");
    assert_eq!(http["sourceIp"], "127.0.0.1");
    assert_eq!(http["userAgent"], "curl/8.5.0");
    let context = &e["requestContext"];
    assert_eq!(context["domainName"], "example.com:8080");
    assert_eq!(context["domainPrefix"], "example");
    assert_eq!(context["time"], "04/Mar/2020:19:03:58 +0000");
    assert_eq!(context["timeEpoch"], 1_583_348_638_390_u64);
    assert_eq!(e["body"], "AAH/");
    assert_eq!(e["isBase64Encoded"], true);

    // A GET: no body, no cookies, text stays text.
    let e = event(&parts("GET", "/", &[("Host", "h")]), b"");
    assert!(e.get("body").is_none() && e.get("cookies").is_none(), "{e}");
    assert_eq!(e["rawQueryString"], "");
    assert_eq!(e["isBase64Encoded"], false);
}

#[test]
fn the_lambda_loop_reads_the_event_as_the_request_it_was() {
    let req = parts(
        "POST",
        "http://example.com/a%20b/index.php?x=1&x=2",
        &[
            ("Cookie", "a=1; b=2"),
            ("Content-Type", "text/plain"),
            ("Accept", "text/html"),
            ("Accept", "*/*"),
        ],
    );
    let payload = event_at(
        &req,
        b"hello",
        PEER.parse().unwrap(),
        8080,
        SystemTime::now(),
    );
    let decoded = decode(&payload).unwrap();
    assert_eq!(decoded.kind, Kind::ApiGatewayV2);
    let head = &decoded.request.head;
    assert_eq!(head.method, Method::POST);
    assert_eq!(head.path, b"/a%20b/index.php");
    let header = |name: &str| head.headers.get(name).map(|v| v.as_bytes().to_vec());
    // The absolute-form request line's host is the Host.
    assert_eq!(header("host"), Some(b"example.com".to_vec()));
    assert_eq!(header("cookie"), Some(b"a=1; b=2".to_vec()));
    assert_eq!(header("accept"), Some(b"text/html,*/*".to_vec()));
}

fn body_of(res: &Response<Bytes>) -> &[u8] {
    res.body()
}

fn headers_of(res: &Response<Bytes>, name: &str) -> Vec<String> {
    res.headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[test]
fn buffered_answers_become_responses() {
    // (answer, status, body, [(header, values)])
    type Row<'a> = (&'a str, u16, &'a [u8], &'a [(&'a str, &'a [&'a str])]);
    let table: &[Row] = &[
        (
            r#"{"statusCode":201,"headers":{"content-type":"text/plain","x-a":"1, 2"},"cookies":["a=1","b=2; Path=/x"],"body":"made","isBase64Encoded":false}"#,
            201,
            b"made",
            &[
                ("content-type", &["text/plain"]),
                ("x-a", &["1, 2"]),
                ("set-cookie", &["a=1", "b=2; Path=/x"]),
            ],
        ),
        (
            r#"{"statusCode":200,"body":"AAH/","isBase64Encoded":true}"#,
            200,
            b"\x00\x01\xff",
            &[],
        ),
        // Hop-by-hop headers go; a Content-Length that lies about the body goes.
        (
            r#"{"statusCode":200,"headers":{"connection":"close","content-length":"9"},"body":"ok"}"#,
            200,
            b"ok",
            &[("connection", &[]), ("content-length", &[])],
        ),
        // No statusCode: the JSON itself is the body.
        (
            r#"{"message":"hi"}"#,
            200,
            br#"{"message":"hi"}"#,
            &[("content-type", &["application/json"])],
        ),
        (r#""just a string""#, 200, br#""just a string""#, &[]),
        // Unusable answers are a 502.
        (r#"{"statusCode":1000}"#, 502, b"", &[]),
        (r#"{"statusCode":"200"}"#, 502, b"", &[]),
        (
            r#"{"statusCode":200,"body":"%%%","isBase64Encoded":true}"#,
            502,
            b"",
            &[],
        ),
        (
            r#"{"statusCode":200,"headers":{"bad name":"x"}}"#,
            502,
            b"",
            &[],
        ),
        ("not json", 502, b"", &[]),
    ];
    for (answer, status, body, headers) in table {
        let res = http_from_lambda(answer.as_bytes());
        assert_eq!(res.status().as_u16(), *status, "{answer}");
        assert_eq!(body_of(&res), *body, "{answer}");
        for (name, values) in *headers {
            assert_eq!(headers_of(&res, name), *values, "{name} of {answer}");
        }
    }
    let huge = format!(r#"{{"statusCode":200,"body":"{}"}}"#, "x".repeat(6 << 20));
    assert_eq!(http_from_lambda(huge.as_bytes()).status(), 502);
}

#[test]
fn the_loops_own_answers_come_back_whole() {
    let mut headers = HeaderMap::new();
    headers.append("content-type", HeaderValue::from_static("text/html"));
    headers.append("set-cookie", HeaderValue::from_static("a=1"));
    headers.append("set-cookie", HeaderValue::from_static("b=2; HttpOnly"));
    headers.append("vary", HeaderValue::from_static("accept"));
    headers.append("vary", HeaderValue::from_static("cookie"));
    for body in [&b"<p>hi</p>"[..], b"\xff\xfe"] {
        let reply = Reply {
            status: StatusCode::NOT_FOUND,
            reason: None,
            headers: &headers,
            body,
        };
        let json = encode(Kind::ApiGatewayV2, &reply);
        let res = http_from_lambda(json.get().as_bytes());
        assert_eq!(res.status(), 404);
        assert_eq!(body_of(&res), body);
        assert_eq!(headers_of(&res, "set-cookie"), ["a=1", "b=2; HttpOnly"]);
        assert_eq!(headers_of(&res, "vary"), ["accept, cookie"]);
    }
}

#[test]
fn a_prelude_is_found_and_read_as_the_head() {
    let mut headers = HeaderMap::new();
    headers.append("content-type", HeaderValue::from_static("text/plain"));
    headers.append("set-cookie", HeaderValue::from_static("a=1"));
    headers.append("set-cookie", HeaderValue::from_static("b=2"));
    let mut stream = prelude(Kind::ApiGatewayV2, StatusCode::IM_A_TEAPOT, &headers).unwrap();
    stream.extend_from_slice(&DELIMITER);
    stream.extend_from_slice(b"body\0with a NUL");
    let (json, rest) = split_prelude(&stream).unwrap();
    assert_eq!(rest, b"body\0with a NUL");
    let head = head_from_prelude(json).unwrap();
    assert_eq!(head.status, 418);
    assert_eq!(head.headers["content-type"], "text/plain");
    let cookies: Vec<_> = head.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);

    // (what arrived, (prelude, body so far) once the delimiter is in)
    type Row<'a> = (&'a [u8], Option<(&'a [u8], &'a [u8])>);
    let table: &[Row] = &[
        (b"{}\0\0\0\0\0\0\0\0", Some((b"{}", b""))),
        (b"{}\0\0\0\0\0\0\0", None),
        (b"{}\0\0\0\0\0\0\0\0\0x", Some((b"{}", b"\0x"))),
        (b"", None),
    ];
    for (buf, want) in table {
        assert_eq!(split_prelude(buf), *want, "{buf:?}");
    }
    for bad in [&b"nope"[..], b"{\"statusCode\":99999}", b"[]"] {
        assert!(head_from_prelude(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn error_trailers_say_why_the_stream_failed() {
    let trailers = |pairs: &[(&'static str, &str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    };
    let document =
        BASE64.encode(r#"{"errorMessage":"the request ran out of time","errorType":"X"}"#);
    let table = [
        (
            trailers(&[
                ("lambda-runtime-function-error-type", "Lamphp.StreamError"),
                ("lambda-runtime-function-error-body", &document),
            ]),
            Some("Lamphp.StreamError: the request ran out of time"),
        ),
        // A body that is no error document is shown as it is.
        (
            trailers(&[
                ("lambda-runtime-function-error-type", "E"),
                (
                    "lambda-runtime-function-error-body",
                    &BASE64.encode("plain"),
                ),
            ]),
            Some("E: plain"),
        ),
        (
            trailers(&[("lambda-runtime-function-error-type", "E")]),
            Some("E: "),
        ),
        (trailers(&[("x-other", "1")]), None),
    ];
    for (map, want) in table {
        assert_eq!(stream_error(&map).as_deref(), want, "{map:?}");
    }
}
