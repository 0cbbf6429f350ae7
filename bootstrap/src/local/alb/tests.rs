use super::*;
use crate::lambda::event::{decode, encode, Kind, Reply};
use futures_util::FutureExt;
use http_body_util::BodyExt;

const PEER: &str = "127.0.0.1:50000";

fn parts(
    method: &str,
    uri: &str,
    headers: &[(&'static str, &'static str)],
) -> http::request::Parts {
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

fn event_json(parts: &http::request::Parts, body: &[u8], multi: bool) -> Value {
    serde_json::from_slice(&event_from_http(
        parts,
        body,
        PEER.parse().unwrap(),
        8080,
        multi,
    ))
    .unwrap()
}

/// What `decode` makes of the emulated event: query, header lines, REMOTE_ADDR,
/// SERVER_PORT, REQUEST_SCHEME, body.
fn through_decode(
    parts: &http::request::Parts,
    body: &[u8],
    multi: bool,
) -> (String, Vec<String>, (String, String, String), Vec<u8>) {
    let payload = event_from_http(parts, body, PEER.parse().unwrap(), 8080, multi);
    let event = decode(&payload).unwrap();
    assert_eq!(event.kind, Kind::Alb { multi_value: multi });
    let head = event.request.head;
    assert_eq!(head.method, parts.method);
    assert_eq!(head.path, parts.uri.path().as_bytes());
    let query = String::from_utf8(head.query.unwrap_or_default()).unwrap();
    let headers = head
        .headers
        .iter()
        .filter(|(name, _)| *name != "x-amzn-trace-id")
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
        .collect();
    let o = head.origin;
    let body = event
        .request
        .body
        .collect()
        .now_or_never()
        .unwrap()
        .unwrap();
    (
        query,
        headers,
        (o.remote_addr, o.server_port, o.scheme),
        body.to_bytes().to_vec(),
    )
}

const CLIENT_HEADERS: &[(&str, &str)] = &[
    ("host", "localhost:8080"),
    ("cookie", "a=1"),
    ("cookie", "b=2"),
    ("x-forwarded-for", "203.0.113.7"),
    ("content-type", "application/json; charset=utf-8"),
];

#[test]
fn round_trip_multi_value() {
    let p = parts("POST", "/p%20a/th.php?b=2&a=%2B1&b=3&c", CLIENT_HEADERS);
    let (query, headers, origin, body) = through_decode(&p, br#"{"x":1}"#, true);
    // Values of one key come together: the event's map groups them.
    assert_eq!(query, "b=2&b=3&a=%2B1&c=");
    assert_eq!(
        headers,
        [
            "host: localhost:8080",
            "cookie: a=1",
            "cookie: b=2",
            "x-forwarded-for: 203.0.113.7, 127.0.0.1",
            "content-type: application/json; charset=utf-8",
            "x-forwarded-port: 8080",
            "x-forwarded-proto: http",
        ]
    );
    assert_eq!(origin, ("127.0.0.1".into(), "8080".into(), "http".into()));
    assert_eq!(body, br#"{"x":1}"#);
}

#[test]
fn round_trip_single_value_keeps_the_last_of_repeats() {
    let p = parts("GET", "/?b=2&a=1&b=3", CLIENT_HEADERS);
    let (query, headers, _, body) = through_decode(&p, b"", false);
    assert_eq!(query, "b=3&a=1");
    assert_eq!(headers[1], "cookie: b=2");
    assert_eq!(headers.len(), 6);
    assert!(body.is_empty());
    let event = event_json(&p, b"", false);
    assert_eq!(event["body"], "");
    assert_eq!(event["isBase64Encoded"], false);
}

#[test]
fn bodies_are_text_or_base64_by_the_elb_guides_rules() {
    // (request headers, body, sent as base64)
    type Row<'a> = (&'a [(&'a str, &'a str)], &'a [u8], bool);
    let table: &[Row] = &[
        (&[("content-type", "text/html")], b"<p>hi</p>", false),
        (&[("content-type", "Application/XML")], b"<a/>", false),
        (&[("content-type", "application/javascript")], b"x()", false),
        (
            &[("content-type", "application/x-www-form-urlencoded")],
            b"a=1",
            true,
        ),
        (&[], b"no type", true),
        (&[("content-type", "image/png")], b"\x89PNG", true),
        (
            &[("content-type", "text/plain"), ("content-encoding", "gzip")],
            b"\x1f\x8b",
            true,
        ),
        (&[("content-type", "text/plain")], b"not \xff utf-8", true),
    ];
    for (headers, body, base64) in table {
        let mut all = vec![("host", "h")];
        all.extend_from_slice(headers);
        let p = parts("POST", "/", &all);
        assert_eq!(
            event_json(&p, body, false)["isBase64Encoded"],
            *base64,
            "{headers:?}"
        );
        assert_eq!(through_decode(&p, body, false).3, *body, "{headers:?}");
    }
}

#[test]
fn the_alb_adds_its_headers() {
    let p = parts("GET", "/", &[("host", "h")]);
    let event = event_json(&p, b"", false);
    let headers = &event["headers"];
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-port"], "8080");
    let trace = headers["x-amzn-trace-id"].as_str().unwrap();
    let id = trace.strip_prefix("Root=1-").unwrap();
    let (time, random) = id.split_once('-').unwrap();
    assert_eq!((time.len(), random.len()), (8, 24), "{trace}");
    assert!(id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
    let arn = event["requestContext"]["elb"]["targetGroupArn"]
        .as_str()
        .unwrap();
    assert!(arn.starts_with("arn:aws:elasticloadbalancing:"));

    let p = parts(
        "GET",
        "/",
        &[(
            "x-amzn-trace-id",
            "Self=1-x-y;Root=1-67891233-abc;CalledFrom=app",
        )],
    );
    let v6 = "[::ffff:10.0.0.1]:5".parse().unwrap();
    let event: Value = serde_json::from_slice(&event_from_http(&p, b"", v6, 80, false)).unwrap();
    let trace = event["headers"]["x-amzn-trace-id"].as_str().unwrap();
    assert!(trace.starts_with("Self=1-"), "{trace}");
    assert!(
        trace.ends_with(";Root=1-67891233-abc;CalledFrom=app"),
        "{trace}"
    );
    assert_eq!(event["headers"]["x-forwarded-for"], "10.0.0.1");
}

fn back(
    kind: Kind,
    status: u16,
    reason: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<Bytes> {
    let reply = Reply {
        status: StatusCode::from_u16(status).unwrap(),
        reason,
        headers,
        body,
    };
    http_from_lambda(encode(kind, &reply).get().as_bytes())
}

#[test]
fn answers_round_trip_in_both_modes() {
    let mut headers = HeaderMap::new();
    headers.append("content-type", HeaderValue::from_static("image/png"));
    headers.append("set-cookie", HeaderValue::from_static("a=1"));
    headers.append("set-cookie", HeaderValue::from_static("b=2"));
    headers.append("transfer-encoding", HeaderValue::from_static("chunked"));
    let body = b"\x89PNG\r\n\x1a\n";
    let res = back(Kind::Alb { multi_value: true }, 201, None, &headers, body);
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.extensions().get::<ReasonPhrase>().unwrap().as_bytes(),
        b"Created"
    );
    let cookies: Vec<_> = res.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert!(!res.headers().contains_key("transfer-encoding"));
    assert_eq!(res.body().as_ref(), body);

    let res = back(
        Kind::Alb { multi_value: false },
        299,
        Some("Custom Thing"),
        &headers,
        b"text",
    );
    assert_eq!(
        res.extensions().get::<ReasonPhrase>().unwrap().as_bytes(),
        b"Custom Thing"
    );
    let cookies: Vec<_> = res.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["b=2"]);
    assert_eq!(res.body().as_ref(), b"text");
}

#[test]
fn the_elb_guides_example_answer() {
    let json = br#"{
        "isBase64Encoded": false,
        "statusCode": 200,
        "statusDescription": "200 OK",
        "headers": {"Set-cookie": "cookies", "Content-Type": "application/json"},
        "body": "Hello from Lambda (optional)"
    }"#;
    let res = http_from_lambda(json);
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["set-cookie"], "cookies");
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.body().as_ref(), b"Hello from Lambda (optional)");
}

#[test]
fn malformed_answers_are_a_502() {
    let huge = format!(
        r#"{{"statusCode": 200, "body": "{}"}}"#,
        "a".repeat(RESPONSE_LIMIT)
    );
    let table: &[&[u8]] = &[
        b"not json",
        b"\"Hello\"",
        br#"{"body": "no status"}"#,
        br#"{"statusCode": "200"}"#,
        br#"{"statusCode": 42}"#,
        br#"{"statusCode": 700}"#,
        br#"{"statusCode": 200, "isBase64Encoded": true, "body": "%%"}"#,
        br#"{"statusCode": 200, "headers": {"bad name": "x"}}"#,
        br#"{"statusCode": 200, "headers": {"x": "a\nb"}}"#,
        br#"{"statusCode": 200, "multiValueHeaders": {"x": "not a list"}}"#,
        huge.as_bytes(),
    ];
    for json in table {
        let res = http_from_lambda(json);
        assert_eq!(
            res.status(),
            502,
            "{}",
            String::from_utf8_lossy(&json[..json.len().min(80)])
        );
        assert_eq!(res.headers()["server"], "awselb/2.0");
    }
}
