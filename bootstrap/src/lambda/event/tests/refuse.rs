use crate::error_page::Refusal;
use crate::lambda::event::{decode, EventError, Kind};
use serde_json::{json, Value};

/// What an error must be: the variant, and for a 400 the kind its answer takes.
#[derive(Debug, PartialEq)]
enum Want {
    Json,
    Unknown,
    Bad(Kind),
    Page(Refusal),
}

fn outcome(payload: &[u8]) -> Want {
    match decode(payload) {
        Ok(_) => panic!("accepted {:?}", String::from_utf8_lossy(payload)),
        Err(EventError::Json(_)) => Want::Json,
        Err(EventError::UnknownShape) => Want::Unknown,
        Err(EventError::BadRequest {
            kind,
            refusal,
            reason,
        }) => {
            assert!(!reason.is_empty());
            match refusal {
                Refusal::BadRequest => Want::Bad(kind),
                page => Want::Page(page),
            }
        }
    }
}

/// A valid single-value ALB event with `patch`'s members replaced.
fn alb(patch: Value) -> Vec<u8> {
    let mut event = json!({
        "requestContext": {"elb": {"targetGroupArn": "arn"}},
        "httpMethod": "GET",
        "path": "/",
        "queryStringParameters": {},
        "headers": {"host": "example.com"},
        "body": "",
        "isBase64Encoded": false
    });
    for (key, value) in patch.as_object().unwrap() {
        event[key] = value.clone();
    }
    serde_json::to_vec(&event).unwrap()
}

fn v2(patch: Value) -> Vec<u8> {
    let mut event = json!({
        "version": "2.0",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"host": "example.com"},
        "requestContext": {"http": {"method": "GET", "sourceIp": "198.51.100.1"}},
        "isBase64Encoded": false
    });
    for (key, value) in patch.as_object().unwrap() {
        event[key] = value.clone();
    }
    serde_json::to_vec(&event).unwrap()
}

const ALB: Want = Want::Bad(Kind::Alb { multi_value: false });

#[test]
fn bad_events_get_the_right_error_and_never_a_panic() {
    let many: serde_json::Map<String, Value> =
        (0..1001).map(|i| (format!("x-h{i}"), json!("v"))).collect();
    let long = "a".repeat(8200);
    let table: Vec<(&str, Vec<u8>, Want)> = vec![
        ("not JSON", b"GET / HTTP/1.1".to_vec(), Want::Json),
        (
            "truncated",
            b"{\"httpMethod\": \"GET\"".to_vec(),
            Want::Json,
        ),
        ("an array", b"[1, 2]".to_vec(), Want::Json),
        ("wrong type", alb(json!({"headers": 5})), Want::Json),
        (
            "wrong value type",
            alb(json!({"headers": {"a": 1}})),
            Want::Json,
        ),
        ("empty object", b"{}".to_vec(), Want::Unknown),
        (
            "SQS",
            br#"{"Records": [{"eventSource": "aws:sqs"}]}"#.to_vec(),
            Want::Unknown,
        ),
        ("no method", alb(json!({"httpMethod": null})), ALB),
        ("lower-case method", alb(json!({"httpMethod": "get"})), ALB),
        (
            "method with a space",
            alb(json!({"httpMethod": "G T"})),
            ALB,
        ),
        ("no path", alb(json!({"path": null})), ALB),
        ("relative path", alb(json!({"path": "x"})), ALB),
        ("NUL in path", alb(json!({"path": "/a\u{0}b"})), ALB),
        ("newline in path", alb(json!({"path": "/a\nb"})), ALB),
        ("'?' in path", alb(json!({"path": "/a?b"})), ALB),
        (
            "bad base64",
            alb(json!({"body": "%%%", "isBase64Encoded": true})),
            ALB,
        ),
        (
            "bad header name",
            alb(json!({"headers": {"host": "h", "bad name": "x"}})),
            ALB,
        ),
        (
            "empty header name",
            alb(json!({"headers": {"host": "h", "": "x"}})),
            ALB,
        ),
        (
            "newline in a value",
            alb(json!({"headers": {"host": "h", "x": "a\r\nb"}})),
            ALB,
        ),
        (
            "header over 8 KiB",
            alb(json!({"headers": {"host": "h", "x": long}})),
            Want::Page(Refusal::HeaderTooLarge),
        ),
        ("1001 headers", alb(json!({"headers": many})), ALB),
        (
            "target over 8 KiB",
            alb(json!({"path": format!("/{long}")})),
            Want::Page(Refusal::UriTooLong),
        ),
        (
            "forged host",
            alb(json!({"headers": {"host": "../etc"}})),
            ALB,
        ),
        (
            "two hosts",
            alb(json!({"multiValueHeaders": {"host": ["a", "b"]}, "headers": null})),
            Want::Bad(Kind::Alb { multi_value: true }),
        ),
        (
            "two framings",
            alb(
                json!({"headers": {"host": "h", "content-length": "1", "transfer-encoding": "chunked"}}),
            ),
            ALB,
        ),
        (
            "v2 bad base64",
            v2(json!({"body": "a", "isBase64Encoded": true})),
            Want::Bad(Kind::ApiGatewayV2),
        ),
        (
            "v2 control in query",
            v2(json!({"rawQueryString": "a=\u{1}"})),
            Want::Bad(Kind::ApiGatewayV2),
        ),
        (
            "v2 NUL in path",
            v2(json!({"rawPath": "/\u{0}"})),
            Want::Bad(Kind::ApiGatewayV2),
        ),
        (
            "v2 without rawPath",
            v2(json!({"rawPath": null})),
            Want::Bad(Kind::ApiGatewayV2),
        ),
    ];
    for (what, payload, want) in table {
        assert_eq!(outcome(&payload), want, "{what}");
    }
}

/// A path that is not UTF-8 can only come from a broken event: a lone surrogate escape,
/// or raw bytes that are not UTF-8. Both are the request's fault, so a 400.
#[test]
fn a_path_that_is_not_utf8_is_a_bad_request() {
    let base = String::from_utf8(alb(json!({"path": "/PATH"}))).unwrap();
    let surrogate = base.replace("/PATH", "/\\udc80").into_bytes();
    assert_eq!(outcome(&surrogate), ALB);
    let raw: Vec<u8> = base.replace("/PATH", "/\u{1}").into_bytes();
    let raw: Vec<u8> = raw
        .into_iter()
        .map(|b| if b == 1 { 0xff } else { b })
        .collect();
    assert_eq!(outcome(&raw), ALB);
}
