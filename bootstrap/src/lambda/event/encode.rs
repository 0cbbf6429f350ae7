//! The JSON the Runtime API's response endpoint gets: the response in the format of the
//! event it answers.

use super::{Kind, HOP_BY_HOP};
use crate::error_page;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A whole response, as the core produced it.
pub struct Reply<'a> {
    pub status: StatusCode,
    /// PHP's own reason phrase (`Status: 299 Custom`), if it gave one.
    pub reason: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The answer to an event of `kind`, as the JSON text the Runtime API gets (serialised
/// once: a `RawValue` made from it is not parsed again).
pub fn encode(kind: Kind, reply: &Reply) -> Box<RawValue> {
    let mut out = Map::new();
    out.insert("statusCode".into(), reply.status.as_u16().into());
    match kind {
        Kind::Alb { multi_value } => {
            // nginx's reason phrase where PHP gave none, so the status line matches; an
            // unknown code gets nginx's empty phrase ("418 "), which the format allows.
            let reason = reply
                .reason
                .unwrap_or_else(|| error_page::reason(reply.status));
            let description = format!("{} {reason}", reply.status.as_u16());
            out.insert("statusDescription".into(), description.into());
            if multi_value {
                out.insert("multiValueHeaders".into(), every_value(reply.headers));
            } else {
                out.insert("headers".into(), last_values(reply.headers));
            }
        }
        // Payload 1.0 answers may always use multiValueHeaders, whatever the request
        // used, and then nothing is lost.
        Kind::ApiGatewayV1 { .. } => {
            out.insert("multiValueHeaders".into(), every_value(reply.headers));
        }
        Kind::ApiGatewayV2 => {
            let (headers, cookies) = joined_and_cookies(reply.headers);
            out.insert("headers".into(), headers);
            if !cookies.is_empty() {
                out.insert("cookies".into(), cookies.into());
            }
        }
    }
    let (body, base64) = match std::str::from_utf8(reply.body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (BASE64.encode(reply.body), true),
    };
    out.insert("isBase64Encoded".into(), base64.into());
    out.insert("body".into(), body.into());
    serde_json::value::to_raw_value(&Value::Object(out))
        .expect("a serde_json::Value always serialises")
}

/// The head of a streamed answer (`LAMPHP_RESPONSE_MODE=streaming`): the metadata JSON
/// a Function URL or an API Gateway REST integration in `STREAM` mode reads before the
/// body ("Lambda proxy integration format for response streaming"); [`DELIMITER`]
/// follows it. `None` for an ALB, which never invokes in streaming mode.
pub fn prelude(kind: Kind, status: StatusCode, headers: &HeaderMap) -> Option<Vec<u8>> {
    let mut out = Map::new();
    out.insert("statusCode".into(), status.as_u16().into());
    match kind {
        Kind::Alb { .. } => return None,
        // As in the buffered answer: multiValueHeaders loses nothing.
        Kind::ApiGatewayV1 { .. } => {
            out.insert("multiValueHeaders".into(), every_value(headers));
        }
        Kind::ApiGatewayV2 => {
            let (headers, cookies) = joined_and_cookies(headers);
            out.insert("headers".into(), headers);
            out.insert("cookies".into(), cookies.into());
        }
    }
    Some(serde_json::to_vec(&Value::Object(out)).expect("a serde_json::Value always serialises"))
}

/// What ends the prelude of a streamed answer: eight NUL bytes.
pub const DELIMITER: [u8; 8] = [0; 8];

/// Each header name once, with its values in order, hop-by-hop headers left out.
fn grouped(headers: &HeaderMap) -> impl Iterator<Item = (&HeaderName, Vec<String>)> {
    headers
        .keys()
        .filter(|name| !HOP_BY_HOP.contains(name))
        .map(|name| (name, headers.get_all(name).iter().map(text).collect()))
}

/// JSON strings hold Unicode; a value with other bytes (obs-text) cannot pass unchanged.
fn text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

fn every_value(headers: &HeaderMap) -> Value {
    let map: Map<String, Value> = grouped(headers)
        .map(|(name, values)| (name.to_string(), values.into()))
        .collect();
    Value::Object(map)
}

/// Without multi-value headers the ALB takes one value per name, and keeps the last it
/// receives of repeated ones ("Multi-value headers" in the ELB guide); so do we, loudly,
/// since a lost Set-Cookie is a lost session.
fn last_values(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for (name, mut values) in grouped(headers) {
        if values.len() > 1 {
            tracing::warn!(
                header = %name,
                "the response has {} {name} headers but the ALB target group takes one \
                 value per header, so only the last is sent; set the target group \
                 attribute lambda.multi_value_headers.enabled=true to send them all",
                values.len()
            );
        }
        if let Some(last) = values.pop() {
            map.insert(name.to_string(), last.into());
        }
    }
    Value::Object(map)
}

/// Payload 2.0 has one string per header (a list's values joined as HTTP allows) and
/// a separate list for Set-Cookie, which cannot be joined.
fn joined_and_cookies(headers: &HeaderMap) -> (Value, Vec<String>) {
    let mut map = Map::new();
    let mut cookies = Vec::new();
    for (name, values) in grouped(headers) {
        if name == header::SET_COOKIE {
            cookies = values;
        } else {
            map.insert(name.to_string(), values.join(", ").into());
        }
    }
    (Value::Object(map), cookies)
}
