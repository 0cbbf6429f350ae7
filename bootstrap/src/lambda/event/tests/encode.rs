use crate::lambda::event::{encode, prelude, Kind, Reply};
use http::{HeaderMap, HeaderValue, StatusCode};

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

fn answer(kind: Kind, status: u16, reason: Option<&str>, h: &HeaderMap, body: &[u8]) -> String {
    let reply = Reply {
        status: StatusCode::from_u16(status).unwrap(),
        reason,
        headers: h,
        body,
    };
    encode(kind, &reply).get().to_owned()
}

const SINGLE: Kind = Kind::Alb { multi_value: false };
const MULTI: Kind = Kind::Alb { multi_value: true };

#[test]
fn text_and_binary_bodies() {
    let h = headers(&[("content-type", "text/html")]);
    assert_eq!(
        answer(SINGLE, 200, None, &h, b"<h1>Hello from Lambda!</h1>"),
        r#"{"statusCode":200,"statusDescription":"200 OK","headers":{"content-type":"text/html"},"isBase64Encoded":false,"body":"<h1>Hello from Lambda!</h1>"}"#
    );
    let h = headers(&[("content-type", "image/png")]);
    assert_eq!(
        answer(MULTI, 200, None, &h, b"\x89PNG\r\n\x1a\n"),
        r#"{"statusCode":200,"statusDescription":"200 OK","multiValueHeaders":{"content-type":["image/png"]},"isBase64Encoded":true,"body":"iVBORw0KGgo="}"#
    );
    assert_eq!(
        answer(SINGLE, 204, None, &HeaderMap::new(), b""),
        r#"{"statusCode":204,"statusDescription":"204 No Content","headers":{},"isBase64Encoded":false,"body":""}"#
    );
}

#[test]
fn status_descriptions_follow_nginx_unless_php_named_one() {
    let none = HeaderMap::new();
    let description = |status, reason| {
        let json: serde_json::Value =
            serde_json::from_str(&answer(SINGLE, status, reason, &none, b"")).unwrap();
        json["statusDescription"].as_str().unwrap().to_owned()
    };
    assert_eq!(description(302, None), "302 Moved Temporarily");
    assert_eq!(description(405, None), "405 Not Allowed");
    assert_eq!(description(299, Some("Custom Thing")), "299 Custom Thing");
    assert_eq!(description(418, None), "418 ");
}

#[test]
fn repeated_set_cookie_in_both_modes() {
    let h = headers(&[
        ("content-type", "text/html"),
        ("set-cookie", "a=1; Path=/"),
        ("x-dump", "1"),
        ("set-cookie", "b=2; HttpOnly"),
    ]);
    assert_eq!(
        answer(MULTI, 200, None, &h, b""),
        r#"{"statusCode":200,"statusDescription":"200 OK","multiValueHeaders":{"content-type":["text/html"],"set-cookie":["a=1; Path=/","b=2; HttpOnly"],"x-dump":["1"]},"isBase64Encoded":false,"body":""}"#
    );
    // The ALB would keep the last value too; a warning names the setting to turn on.
    assert_eq!(
        answer(SINGLE, 200, None, &h, b""),
        r#"{"statusCode":200,"statusDescription":"200 OK","headers":{"content-type":"text/html","set-cookie":"b=2; HttpOnly","x-dump":"1"},"isBase64Encoded":false,"body":""}"#
    );
    assert_eq!(
        answer(
            Kind::ApiGatewayV1 { multi_value: false },
            200,
            None,
            &h,
            b""
        ),
        r#"{"statusCode":200,"multiValueHeaders":{"content-type":["text/html"],"set-cookie":["a=1; Path=/","b=2; HttpOnly"],"x-dump":["1"]},"isBase64Encoded":false,"body":""}"#
    );
    assert_eq!(
        answer(Kind::ApiGatewayV2, 200, None, &h, b""),
        r#"{"statusCode":200,"headers":{"content-type":"text/html","x-dump":"1"},"cookies":["a=1; Path=/","b=2; HttpOnly"],"isBase64Encoded":false,"body":""}"#
    );
}

#[test]
fn hop_by_hop_headers_are_dropped() {
    let h = headers(&[
        ("connection", "keep-alive"),
        ("keep-alive", "timeout=5"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "h2c"),
        ("te", "trailers"),
        ("trailer", "x"),
        ("proxy-connection", "close"),
        ("vary", "Accept-Encoding"),
        ("vary", "Cookie"),
    ]);
    for (kind, want) in [
        (SINGLE, r#""headers":{"vary":"Cookie"}"#),
        (
            MULTI,
            r#""multiValueHeaders":{"vary":["Accept-Encoding","Cookie"]}"#,
        ),
        (
            Kind::ApiGatewayV2,
            r#""headers":{"vary":"Accept-Encoding, Cookie"}"#,
        ),
    ] {
        let json = answer(kind, 200, None, &h, b"ok");
        assert!(json.contains(want), "{kind}: {json}");
    }
}

#[test]
fn v2_binary_body_and_status() {
    assert_eq!(
        answer(Kind::ApiGatewayV2, 404, None, &HeaderMap::new(), &[0, 0xff]),
        r#"{"statusCode":404,"headers":{},"isBase64Encoded":true,"body":"AP8="}"#
    );
}

#[test]
fn a_streamed_head_is_metadata_json() {
    let h = headers(&[
        ("content-type", "text/html"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("vary", "Accept"),
        ("vary", "Cookie"),
        ("connection", "close"),
    ]);
    let v1 = Kind::ApiGatewayV1 { multi_value: false };
    let table: [(Kind, u16, &HeaderMap, Option<&str>); 4] = [
        (
            Kind::ApiGatewayV2,
            200,
            &h,
            Some(
                r#"{"statusCode":200,"headers":{"content-type":"text/html","vary":"Accept, Cookie"},"cookies":["a=1","b=2"]}"#,
            ),
        ),
        (
            Kind::ApiGatewayV2,
            404,
            &HeaderMap::new(),
            Some(r#"{"statusCode":404,"headers":{},"cookies":[]}"#),
        ),
        (
            v1,
            201,
            &h,
            Some(
                r#"{"statusCode":201,"multiValueHeaders":{"content-type":["text/html"],"set-cookie":["a=1","b=2"],"vary":["Accept","Cookie"]}}"#,
            ),
        ),
        (SINGLE, 200, &h, None),
    ];
    for (kind, status, h, expected) in table {
        let got = prelude(kind, StatusCode::from_u16(status).unwrap(), h);
        let expected = expected.map(|json| json.as_bytes().to_vec());
        assert_eq!(got, expected, "{kind}");
    }
}
