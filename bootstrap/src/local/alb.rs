//! What an ALB does around a Lambda target, as the ELB guide ("Lambda functions as
//! targets") describes it: an HTTP request becomes the event the ALB would send, and the
//! function's JSON answer becomes the HTTP response the ALB would send back.

use crate::lambda::event::wire::Pairs;
use crate::lambda::event::{BASE64, HOP_BY_HOP};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use hyper::ext::ReasonPhrase;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(test)]
mod tests;

/// Plausible, and plainly not a real target group.
const TARGET_GROUP_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lamphp-local/0123456789abcdef";

/// The event an ALB would send for this HTTP request from `peer` to a listener on `listen_port`.
pub fn event_from_http(
    parts: &http::request::Parts,
    body: &[u8],
    peer: SocketAddr,
    listen_port: u16,
    multi_value: bool,
) -> Vec<u8> {
    let headers = forwarded_headers(&request_headers(parts), peer, listen_port);
    let mut event = Map::new();
    let context = serde_json::json!({ "elb": { "targetGroupArn": TARGET_GROUP_ARN } });
    event.insert("requestContext".into(), context);
    event.insert("httpMethod".into(), parts.method.as_str().into());
    event.insert("path".into(), parts.uri.path().into());
    let query = query_parameters(parts.uri.query().unwrap_or(""), multi_value);
    if multi_value {
        event.insert("multiValueQueryStringParameters".into(), query);
        let all = headers.into_iter().map(|(n, v)| (n, v.into()));
        event.insert("multiValueHeaders".into(), Value::Object(all.collect()));
    } else {
        event.insert("queryStringParameters".into(), query);
        // Without multi-value headers the ALB keeps the last of repeated headers.
        let last = headers
            .into_iter()
            .filter_map(|(n, mut v)| Some((n, v.pop()?.into())));
        event.insert("headers".into(), Value::Object(last.collect()));
    }
    let (body, base64) = body_field(&parts.headers, body);
    event.insert("body".into(), body.into());
    event.insert("isBase64Encoded".into(), base64.into());
    serde_json::to_vec(&Value::Object(event)).expect("a serde_json::Value always serialises")
}

/// The client's headers, with the host of an absolute-form request line as its Host
/// (RFC 9112, 3.2.2: the request line's host wins).
pub(super) fn request_headers(parts: &http::request::Parts) -> HeaderMap {
    let mut headers = parts.headers.clone();
    if let Some(authority) = parts.uri.authority() {
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            headers.insert(header::HOST, host);
        }
    }
    headers
}

/// The client's headers, names lower-cased and in order, with the ALB's own: the client's
/// address appended to X-Forwarded-For, the listener's protocol and port, a trace id.
pub(super) fn forwarded_headers(
    headers: &HeaderMap,
    peer: SocketAddr,
    listen_port: u16,
) -> Vec<(String, Vec<String>)> {
    let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    let mut list: Vec<(String, Vec<String>)> = headers
        .keys()
        .map(|name| {
            (
                name.to_string(),
                headers.get_all(name).iter().map(text).collect(),
            )
        })
        .collect();
    let existing = |list: &[(String, Vec<String>)], name: &str| {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, values)| values.join(", "))
    };
    let trace = trace_header(existing(&list, "x-amzn-trace-id").as_deref());
    let client = peer.ip().to_canonical().to_string();
    let forwarded_for = match existing(&list, "x-forwarded-for") {
        Some(chain) if !chain.trim().is_empty() => format!("{chain}, {client}"),
        _ => client,
    };
    for (name, value) in [
        ("x-amzn-trace-id", trace),
        ("x-forwarded-for", forwarded_for),
        ("x-forwarded-port", listen_port.to_string()),
        // The emulator listens on plain HTTP.
        ("x-forwarded-proto", "http".to_owned()),
    ] {
        match list.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = vec![value],
            None => list.push((name.to_owned(), vec![value])),
        }
    }
    list
}

/// "Request tracing for your Application Load Balancer": a new `Root`, or a `Self` in
/// front of the client's own `Root` and fields.
fn trace_header(existing: Option<&str>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let hasher = std::collections::hash_map::RandomState::new();
    let high = hasher.hash_one(COUNTER.fetch_add(1, Ordering::Relaxed));
    let low = hasher.hash_one(high) as u32;
    let id = format!("1-{:08x}-{high:016x}{low:08x}", seconds as u32);
    let fields = existing.map(|h| h.split(';').map(str::trim).collect::<Vec<_>>());
    match fields {
        Some(fields) if fields.iter().any(|f| f.starts_with("Root=")) => {
            let kept: Vec<&str> = fields
                .into_iter()
                .filter(|f| !f.starts_with("Self="))
                .collect();
            format!("Self={id};{}", kept.join(";"))
        }
        _ => format!("Root={id}"),
    }
}

/// Keys and values still encoded, in order; in single-value mode a repeated key keeps its
/// first place and its last value, as the ALB keeps "the last value that it receives".
fn query_parameters(query: &str, multi_value: bool) -> Value {
    let mut map = Map::new();
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        if !multi_value {
            map.insert(key.into(), value.into());
        } else if let Value::Array(values) = map.entry(key).or_insert(Value::Array(Vec::new())) {
            values.push(value.into());
        }
    }
    Value::Object(map)
}

/// The ELB guide: base64 when Content-Encoding is present; otherwise text/*,
/// application/json, application/javascript and application/xml as text, anything else
/// base64. A "text" body that is not UTF-8 cannot be a JSON string, so it goes as base64.
pub(super) fn body_field(headers: &HeaderMap, body: &[u8]) -> (String, bool) {
    if body.is_empty() {
        return (String::new(), false);
    }
    let textual = !headers.contains_key(header::CONTENT_ENCODING)
        && headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| is_text(v.as_bytes()));
    match std::str::from_utf8(body) {
        Ok(text) if textual => (text.to_owned(), false),
        _ => (STANDARD.encode(body), true),
    }
}

fn is_text(content_type: &[u8]) -> bool {
    let media = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default();
    let media = media.trim_ascii().to_ascii_lowercase();
    media.starts_with(b"text/")
        || [
            &b"application/json"[..],
            b"application/javascript",
            b"application/xml",
        ]
        .contains(&media.as_slice())
}

/// The function's answer, in either header mode.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    status_code: u16,
    status_description: Option<String>,
    headers: Option<Pairs<String>>,
    multi_value_headers: Option<Pairs<Vec<String>>>,
    body: Option<String>,
    is_base64_encoded: Option<bool>,
}

/// The ALB's limit on the response JSON; past it the client gets a bare 502.
const RESPONSE_LIMIT: usize = 1 << 20;

/// The HTTP response an ALB would send for a Lambda's JSON answer (either header mode);
/// malformed answers → 502 like the ALB.
pub fn http_from_lambda(json: &[u8]) -> Response<Bytes> {
    answer(json).unwrap_or_else(|why| {
        tracing::warn!("502 Bad Gateway, as the ALB would answer: the function's response {why}");
        bad_gateway()
    })
}

fn answer(json: &[u8]) -> Result<Response<Bytes>, String> {
    if json.len() > RESPONSE_LIMIT {
        return Err(format!("is {} bytes, over the ALB's 1 MB", json.len()));
    }
    let answer: Answer =
        serde_json::from_slice(json).map_err(|e| format!("is not an ALB answer: {e}"))?;
    let status = status_code(answer.status_code)?;
    let body = answer_body(answer.body, answer.is_base64_encoded)?;
    // The real ALB reads only the field its mode names (an answer in the other one loses
    // its headers); the emulator has no mode here, so it takes whichever is present.
    let pairs: Vec<(String, String)> = match (answer.multi_value_headers, answer.headers) {
        (Some(multi), _) => multi
            .0
            .into_iter()
            .flat_map(|(name, values)| values.into_iter().map(move |v| (name.clone(), v)))
            .collect(),
        (None, Some(single)) => single.0,
        (None, None) => Vec::new(),
    };
    let mut res = response(status, pairs, Bytes::from(body))?;
    let reason = answer.status_description.as_deref().and_then(|d| {
        let text = d.strip_prefix(status.as_str())?.strip_prefix(' ')?;
        ReasonPhrase::try_from(text.to_owned()).ok()
    });
    if let Some(reason) = reason {
        res.extensions_mut().insert(reason);
    }
    Ok(res)
}

/// A response of `status` with the function's header `pairs` and `body`, as a proxy in
/// front of Lambda passes them on; an invalid name or value is the function's fault.
pub(super) fn response(
    status: StatusCode,
    pairs: impl IntoIterator<Item = (String, String)>,
    body: Bytes,
) -> Result<Response<Bytes>, String> {
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let body_len = res.body().len().to_string();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("has an invalid header name {name:?}"))?;
        // Neither an ALB nor a Function URL honours a hop-by-hop header. A Content-Length
        // that agrees with the body is kept where the function put it (and a HEAD
        // answer's, whose body is empty); one that does not would make the proxy's own
        // framing a lie.
        let wrong_length =
            name == header::CONTENT_LENGTH && !res.body().is_empty() && value != body_len;
        if HOP_BY_HOP.contains(&name) || wrong_length {
            continue;
        }
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("has an invalid value in header {name}"))?;
        res.headers_mut().append(name, value);
    }
    Ok(res)
}

/// An answer's `body`, decoded when `isBase64Encoded` says so.
pub(super) fn answer_body(body: Option<String>, base64: Option<bool>) -> Result<Vec<u8>, String> {
    let body = body.unwrap_or_default();
    if base64 == Some(true) {
        BASE64
            .decode(body.as_bytes())
            .map_err(|e| format!("has a body marked base64 that is not: {e}"))
    } else {
        Ok(body.into_bytes())
    }
}

/// The function's `statusCode`, if HTTP has it.
pub(super) fn status_code(code: u16) -> Result<StatusCode, String> {
    StatusCode::from_u16(code)
        .ok()
        .filter(|s| s.as_u16() <= 599)
        .ok_or_else(|| format!("has an invalid statusCode {code}"))
}

/// The page an ALB answers with when its target's answer is unusable.
fn bad_gateway() -> Response<Bytes> {
    let page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";
    let mut res = Response::new(Bytes::from_static(page.as_bytes()));
    *res.status_mut() = StatusCode::BAD_GATEWAY;
    let headers = res.headers_mut();
    headers.insert(header::SERVER, HeaderValue::from_static("awselb/2.0"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    res
}
