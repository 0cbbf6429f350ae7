//! The query string as the events carry it, and what they lose of it.

use crate::lambda::event::decode;
use serde_json::json;

fn alb_query(params: serde_json::Value) -> Option<String> {
    let event = json!({
        "requestContext": {"elb": {"targetGroupArn": "arn"}},
        "httpMethod": "GET",
        "path": "/x",
        "multiValueQueryStringParameters": params,
        "multiValueHeaders": {"host": ["h"]},
        "body": "",
        "isBase64Encoded": false
    });
    let event = decode(&serde_json::to_vec(&event).unwrap()).unwrap();
    event
        .request
        .head
        .query
        .map(|q| String::from_utf8(q).unwrap())
}

/// The ALB hands over `?a` and `?a=` alike (`"a": [""]`), and `/x?` like `/x`; both
/// come back in the one form the event allows.
#[test]
fn what_the_event_cannot_tell_apart() {
    assert_eq!(alb_query(json!({"a": [""]})).as_deref(), Some("a="));
    assert_eq!(alb_query(json!({})), None);
    assert_eq!(alb_query(json!({"": [""]})).as_deref(), Some("="));
    assert_eq!(alb_query(json!({"k": []})), None);
}

#[test]
fn a_repeated_json_key_is_kept_not_overwritten() {
    let event = br#"{"requestContext": {"elb": {}}, "httpMethod": "GET", "path": "/",
        "queryStringParameters": {"a": "1", "a": "2"}, "headers": {"host": "h"}}"#;
    let query = decode(event).unwrap().request.head.query;
    assert_eq!(query.as_deref(), Some(&b"a=1&a=2"[..]));
}
