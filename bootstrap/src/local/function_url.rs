//! What a Lambda Function URL does around its function, for `bootstrap local
//! --function-url`: an HTTP request becomes the payload 2.0 event a Function URL sends
//! ("Invoking Lambda function URLs" in the Lambda guide), and the function's answer
//! becomes the HTTP response: a JSON document in `BUFFERED` invoke mode
//! ([`http_from_lambda`]), or in `RESPONSE_STREAM` mode a stream relayed to the client as
//! it arrives ([`relay`]): the metadata prelude (`statusCode`, `headers`, `cookies`),
//! eight NUL bytes, then the body.
//!
//! This is our own emulator of AWS's side, not AWS: it is the thing under test here,
//! with the real `bootstrap lambda` behind it. Where it has to choose, it follows the
//! guides: headers lower-cased and repeated ones joined with commas, Cookie moved to
//! `cookies`, the answer's `cookies` each its own Set-Cookie, an answer without
//! `statusCode` sent as a 200 JSON body, a failed stream cut off.

use super::alb::{
    answer_body, body_field, forwarded_headers, request_headers, response, status_code,
};
use super::runtime_api::{Overdue, Stream};
use crate::body::Body;
use crate::lambda::event::wire::Pairs;
use crate::lambda::event::{BASE64, DELIMITER};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Poll};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use tokio::time::{timeout_at, Sleep};

/// A Function URL takes request bodies up to Lambda's 6 MB invocation payload.
pub const MAX_BODY: usize = 6 << 20;

/// The largest buffered answer Lambda returns (6 MB); past it the client gets a 502.
const RESPONSE_LIMIT: usize = 6 << 20;

/// The most of a stream read while looking for the end of its prelude: a head is a few
/// kilobytes, and a stream without the delimiter must not be buffered whole.
const PRELUDE_LIMIT: usize = 1 << 20;

/// What the runtime says a streamed body starts with the HTTP head in.
const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";

const ERROR_TYPE: &str = "lambda-runtime-function-error-type";
const ERROR_BODY: &str = "lambda-runtime-function-error-body";

/// The event a Function URL would send for this HTTP request from `peer` to a listener
/// on `listen_port`.
pub fn event_from_http(
    parts: &http::request::Parts,
    body: &[u8],
    peer: SocketAddr,
    listen_port: u16,
) -> Vec<u8> {
    event_at(parts, body, peer, listen_port, SystemTime::now())
}

fn event_at(
    parts: &http::request::Parts,
    body: &[u8],
    peer: SocketAddr,
    listen_port: u16,
    now: SystemTime,
) -> Vec<u8> {
    let request = request_headers(parts);
    let mut cookies: Vec<Value> = Vec::new();
    let mut headers = Map::new();
    for (name, values) in forwarded_headers(&request, peer, listen_port) {
        if name == "cookie" {
            let each = values.iter().flat_map(|v| v.split(';'));
            cookies.extend(
                each.map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(Into::into),
            );
        } else {
            headers.insert(name, values.join(",").into());
        }
    }
    let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    let host = request.get(header::HOST).map(text);
    let domain = host.unwrap_or_else(|| format!("127.0.0.1:{listen_port}"));
    let prefix = domain
        .split(['.', ':'])
        .next()
        .unwrap_or_default()
        .to_owned();
    let user_agent = request
        .get(header::USER_AGENT)
        .map(text)
        .unwrap_or_default();
    let epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let context = serde_json::json!({
        "accountId": "anonymous",
        "apiId": prefix,
        "domainName": domain,
        "domainPrefix": prefix,
        "http": {
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "protocol": format!("{:?}", parts.version),
            "sourceIp": peer.ip().to_canonical().to_string(),
            "userAgent": user_agent,
        },
        "requestId": format!("{:032x}", epoch.as_nanos()),
        "routeKey": "$default",
        "stage": "$default",
        "time": common_log_time(epoch.as_secs()),
        "timeEpoch": epoch.as_millis() as u64,
    });
    let mut event = Map::new();
    event.insert("version".into(), "2.0".into());
    event.insert("routeKey".into(), "$default".into());
    event.insert("rawPath".into(), parts.uri.path().into());
    event.insert(
        "rawQueryString".into(),
        parts.uri.query().unwrap_or("").into(),
    );
    if !cookies.is_empty() {
        event.insert("cookies".into(), cookies.into());
    }
    event.insert("headers".into(), Value::Object(headers));
    event.insert("requestContext".into(), context);
    let (body, base64) = body_field(&parts.headers, body);
    if !body.is_empty() {
        event.insert("body".into(), body.into());
    }
    event.insert("isBase64Encoded".into(), base64.into());
    serde_json::to_vec(&Value::Object(event)).expect("a serde_json::Value always serialises")
}

/// `requestContext.time`'s format, `12/Mar/2020:19:03:58 +0000`, for `seconds` since the
/// epoch (UTC).
fn common_log_time(seconds: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, secs) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (never negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A payload 2.0 answer, or a streamed answer's prelude (which has no body).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    status_code: Option<u16>,
    headers: Option<Pairs<String>>,
    cookies: Option<Vec<String>>,
    body: Option<String>,
    is_base64_encoded: Option<bool>,
}

impl Answer {
    /// The response head and body it describes (a prelude's status defaults to 200).
    fn into_response(self) -> Result<Response<Bytes>, String> {
        let status = status_code(self.status_code.unwrap_or(200))?;
        let body = answer_body(self.body, self.is_base64_encoded)?;
        let headers = self.headers.map(|h| h.0).unwrap_or_default();
        let cookies = self.cookies.unwrap_or_default();
        let cookies = cookies.into_iter().map(|c| ("set-cookie".to_owned(), c));
        response(
            status,
            headers.into_iter().chain(cookies),
            Bytes::from(body),
        )
    }
}

/// The HTTP response a Function URL in `BUFFERED` mode would send for the function's
/// JSON answer; malformed answers → 502.
pub fn http_from_lambda(json: &[u8]) -> Response<Bytes> {
    buffered(json).unwrap_or_else(|why| {
        tracing::warn!(
            "502 Bad Gateway, as the Function URL would answer: the function's response {why}"
        );
        bad_gateway()
    })
}

fn buffered(json: &[u8]) -> Result<Response<Bytes>, String> {
    if json.len() > RESPONSE_LIMIT {
        return Err(format!("is {} bytes, over Lambda's 6 MB", json.len()));
    }
    let value: Value = serde_json::from_slice(json).map_err(|e| format!("is not JSON: {e}"))?;
    // "If your function returns valid JSON without a statusCode, Lambda infers" a 200
    // with that JSON as an application/json body.
    if !value
        .as_object()
        .is_some_and(|o| o.contains_key("statusCode"))
    {
        let pairs = [("content-type".to_owned(), "application/json".to_owned())];
        return response(StatusCode::OK, pairs, Bytes::copy_from_slice(json));
    }
    let answer: Answer =
        serde_json::from_value(value).map_err(|e| format!("is not a payload 2.0 answer: {e}"))?;
    answer.into_response()
}

/// The head a streamed answer's prelude describes.
fn head_from_prelude(json: &[u8]) -> Result<http::response::Parts, String> {
    let answer: Answer = serde_json::from_slice(json)
        .map_err(|e| format!("has a prelude that is no metadata JSON: {e}"))?;
    Ok(answer.into_response()?.into_parts().0)
}

/// The prelude and what follows its delimiter, once `buf` holds the delimiter.
fn split_prelude(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = buf.windows(DELIMITER.len()).position(|w| w == DELIMITER)?;
    Some((&buf[..at], &buf[at + DELIMITER.len()..]))
}

/// Why error trailers say the stream failed (`type: message`), if they do.
fn stream_error(trailers: &HeaderMap) -> Option<String> {
    let kind = trailers.get(ERROR_TYPE)?;
    let kind = String::from_utf8_lossy(kind.as_bytes()).into_owned();
    let document = trailers
        .get(ERROR_BODY)
        .and_then(|b| BASE64.decode(b.as_bytes()).ok())
        .unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&document)
        .ok()
        .and_then(|v| v.get("errorMessage")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&document).into_owned());
    Some(format!("{kind}: {message}"))
}

/// The HTTP response for a streamed answer to request `id` (`method`): its head as soon
/// as the prelude is complete, then its body as it arrives. A stream that fails before
/// its head is a 502; one that fails after it (error trailers, a runtime gone, the
/// deadline) is cut off: the client's chunked body ends without its last chunk, so no
/// client takes it for complete.
pub async fn relay(stream: Stream, id: &str, method: &Method) -> Response<Body> {
    let Stream {
        content_type,
        mut body,
        deadline,
        relayed,
        overdue,
    } = stream;
    let id: Arc<str> = id.into();
    let fail = |why: String| {
        tracing::error!(request = %id, "502 Bad Gateway, as the Function URL would answer: the function's streamed response {why}");
        let mut res = Response::new(crate::body::empty());
        *res.status_mut() = StatusCode::BAD_GATEWAY;
        res
    };
    let integration = content_type
        .as_ref()
        .is_some_and(|t| t.as_bytes().starts_with(HTTP_INTEGRATION.as_bytes()));
    let (mut head, first) = if integration {
        let mut buf = BytesMut::new();
        loop {
            if let Some((prelude, rest)) = split_prelude(&buf) {
                match head_from_prelude(prelude) {
                    Ok(head) => break (head, Bytes::copy_from_slice(rest)),
                    Err(why) => return fail(why),
                }
            }
            if buf.len() > PRELUDE_LIMIT {
                return fail(format!(
                    "has no end to its prelude in its first {PRELUDE_LIMIT} bytes"
                ));
            }
            let frame = match timeout_at(deadline, body.frame()).await {
                Err(_) => {
                    overdue.reset();
                    return fail(
                        "had sent no complete head by the deadline (Task timed out)".into(),
                    );
                }
                Ok(None) => return fail("ended before its prelude did".into()),
                Ok(Some(Err(e))) => return fail(format!("broke off before its head: {e}")),
                Ok(Some(Ok(frame))) => frame,
            };
            match frame.into_data() {
                Ok(data) => buf.extend_from_slice(&data),
                Err(frame) => {
                    let why = frame.into_trailers().ok().and_then(|t| stream_error(&t));
                    let why = why.unwrap_or_else(|| "trailers without an error".into());
                    return fail(format!("failed before its head: {why}"));
                }
            }
        }
    } else {
        // No prelude: all of it is the body, of the type the runtime named.
        let mut head = Response::new(()).into_parts().0;
        if let Some(content_type) = content_type {
            head.headers.insert(header::CONTENT_TYPE, content_type);
        }
        (head, Bytes::new())
    };
    // The body is chunked, as a Function URL streams it, so that a cut shows.
    if method != Method::HEAD {
        head.headers.remove(header::CONTENT_LENGTH);
    }
    let body = Relay {
        first: Some(first).filter(|f| !f.is_empty()),
        body,
        deadline: Box::pin(tokio::time::sleep_until(deadline)),
        overdue,
        id,
        _relayed: relayed,
        done: false,
    };
    Response::from_parts(head, body.boxed_unsync())
}

/// A streamed body on its way from the runtime to the client: each frame is read from
/// the runtime only when hyper can write the last one to the client, so a slow client
/// holds the runtime back rather than filling our memory.
struct Relay {
    /// Body bytes that came with the prelude's last frame.
    first: Option<Bytes>,
    body: Incoming,
    deadline: Pin<Box<Sleep>>,
    /// Reset at the deadline, as Lambda resets a sandbox whose invocation timed out.
    overdue: Overdue,
    id: Arc<str>,
    /// Dropped with the relay: the runtime's POST is answered then.
    _relayed: oneshot::Sender<()>,
    done: bool,
}

impl Relay {
    /// End the client's response abruptly: an error makes hyper close the connection
    /// without the last chunk.
    fn cut(&mut self, why: String) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.done = true;
        tracing::error!(request = %self.id, "the function's response stream failed after its head ({why}): the client's response was cut off, as a Function URL cuts it");
        Poll::Ready(Some(Err(std::io::Error::other(why))))
    }
}

impl http_body::Body for Relay {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.overdue.reset();
            return self.cut("Task timed out: the stream was still open at the deadline".into());
        }
        loop {
            let frame = match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => {
                    self.done = true;
                    return Poll::Ready(None);
                }
                Some(Err(e)) => return self.cut(format!("the runtime's connection broke: {e}")),
                Some(Ok(frame)) => frame,
            };
            match frame.into_data() {
                Ok(data) if data.is_empty() => continue,
                Ok(data) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Err(frame) => {
                    let trailers = frame.into_trailers().unwrap_or_default();
                    match stream_error(&trailers) {
                        Some(why) => return self.cut(why),
                        // Trailers that report nothing: the stream ended well.
                        None => {
                            self.done = true;
                            return Poll::Ready(None);
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.first.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// What the emulator answers when the function's answer is unusable: a bare 502 (what
/// a Function URL's page says is not ours to copy).
fn bad_gateway() -> Response<Bytes> {
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = StatusCode::BAD_GATEWAY;
    res
}

#[cfg(test)]
mod tests;
