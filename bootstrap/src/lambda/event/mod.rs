//! HTTP events in, responses out: the ALB's (the main case), API Gateway's REST payload
//! 1.0, and the payload 2.0 shared by API Gateway HTTP APIs and Function URLs.
//!
//! [`decode`] turns an event into the same [`Request`] `serve` builds from a socket, so
//! everything after it (host validation, `$uri`, routing, PHP's params) is shared; a
//! request nginx would refuse is refused here with the reason, and the caller answers it
//! with a 400 in the event's own format. [`encode`] writes a response in the format the
//! event came in, which for an ALB depends on the target group's multi-value setting.
//! Invocations that are no HTTP event may be the release command's (`lamphp_protocol::Command`).

mod alb;
mod apigw;
mod encode;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

pub use encode::{encode, prelude, Reply, DELIMITER};

use crate::error_page;
use crate::origin::Origin;
use crate::request::{Head, Request};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::{alphabet, Engine};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Version};
use http_body_util::{BodyExt, Full};
use std::fmt;
use thiserror::Error;
use wire::Raw;

/// Which service sent an event, and so which format the answer must take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `multi_value`: the target group has `lambda.multi_value_headers.enabled`.
    Alb { multi_value: bool },
    /// A REST API (or an HTTP API with payload 1.0); `multi_value` when the event
    /// carried the multi-value fields. Answers use `multiValueHeaders` either way, which
    /// payload 1.0 always accepts.
    ApiGatewayV1 { multi_value: bool },
    /// An HTTP API with payload 2.0, or a Function URL.
    ApiGatewayV2,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Kind::Alb { .. } => "ALB",
            Kind::ApiGatewayV1 { .. } => "API Gateway (payload 1.0)",
            Kind::ApiGatewayV2 => "API Gateway HTTP API or Function URL (payload 2.0)",
        })
    }
}

/// A decoded event: the request, and the format its answer must take.
pub struct HttpEvent {
    pub request: Request,
    pub kind: Kind,
}

#[derive(Debug, Error)]
pub enum EventError {
    /// Answered through the Runtime API's invocation error endpoint.
    #[error("the event is not valid JSON, or one of its fields has the wrong type: {0}")]
    Json(#[from] serde_json::Error),
    /// Answered through the Runtime API's invocation error endpoint.
    #[error(
        "the event is not an HTTP event lamphp knows (ALB, API Gateway REST or HTTP API, \
         Function URL); is the function wired to another trigger?"
    )]
    UnknownShape,
    /// Answered in the event's own format with the page nginx would refuse it with.
    #[error("refusing the request in an {kind} event: {reason}")]
    BadRequest {
        kind: Kind,
        refusal: error_page::Refusal,
        reason: String,
    },
}

/// Read an event the Runtime API handed over.
pub fn decode(payload: &[u8]) -> Result<HttpEvent, EventError> {
    let raw: Raw = serde_json::from_slice(payload)?;
    let kind = kind_of(&raw).ok_or(EventError::UnknownShape)?;
    let parts = match kind {
        Kind::Alb { .. } => alb::parts(raw),
        Kind::ApiGatewayV1 { .. } => apigw::v1(raw),
        Kind::ApiGatewayV2 => apigw::v2(raw),
    };
    let request = parts
        .and_then(Parts::into_request)
        .map_err(|Refused { page, reason }| EventError::BadRequest {
            kind,
            refusal: page,
            reason,
        })?;
    Ok(HttpEvent { request, kind })
}

fn kind_of(raw: &Raw) -> Option<Kind> {
    let context = raw.request_context.as_ref()?;
    let multi_value =
        raw.multi_value_headers.is_some() || raw.multi_value_query_string_parameters.is_some();
    if context.elb.is_some() {
        Some(Kind::Alb { multi_value })
    } else if raw.version.as_deref() == Some("2.0") && context.http.is_some() {
        Some(Kind::ApiGatewayV2)
    } else if raw.http_method.is_some() {
        Some(Kind::ApiGatewayV1 { multi_value })
    } else {
        None
    }
}

/// Why a request is refused, and how; [`decode`] adds the event's kind.
struct Refused {
    page: error_page::Refusal,
    reason: String,
}

impl Refused {
    fn with(page: error_page::Refusal, reason: &str) -> Refused {
        Refused {
            page,
            reason: reason.to_owned(),
        }
    }
}

impl From<String> for Refused {
    fn from(reason: String) -> Refused {
        Refused {
            page: error_page::Refusal::BadRequest,
            reason,
        }
    }
}

impl From<&str> for Refused {
    fn from(reason: &str) -> Refused {
        Refused::from(reason.to_owned())
    }
}

/// A request taken apart from its event, before the checks every front door shares.
struct Parts {
    method: String,
    path: Vec<u8>,
    query: Option<Vec<u8>>,
    headers: HeaderMap,
    origin: Origin,
    body: Vec<u8>,
}

/// nginx reads the request line and each header line into 8 KiB buffers
/// (`large_client_header_buffers 4 8k`); `serve` refuses longer ones the same way.
const LINE_LIMIT: usize = 8192;
/// `serve`'s limit too. It also keeps us far below the 32768 entries past which
/// `HeaderMap` panics.
const MAX_HEADERS: usize = 1000;

impl Parts {
    fn into_request(self) -> Result<Request, Refused> {
        let mut target = self.path;
        if let Some(query) = &self.query {
            target.push(b'?');
            target.extend_from_slice(query);
        }
        if let Some(&b) = target.iter().find(|&&b| b < 0x20 || b == 0x7f) {
            return Err(format!("request target contains the control byte {b:#04x}").into());
        }
        if self.method.len() + target.len() + " HTTP/1.1\r\n".len() + 1 > LINE_LIMIT {
            let why = "request line is longer than nginx's 8 KiB";
            return Err(Refused::with(error_page::Refusal::UriTooLong, why));
        }
        let method = Method::from_bytes(self.method.as_bytes())
            .map_err(|_| format!("invalid method {:?}", self.method))?;
        // Only an ALB health check comes without a Host header. nginx accepts a request
        // without one only as HTTP/1.0, and a refused health check would mark the target
        // unhealthy, so that is what such an event becomes.
        let version = if self.headers.contains_key(header::HOST) {
            Version::HTTP_11
        } else {
            Version::HTTP_10
        };
        let head = Head::new(method, &target, version, self.headers, self.origin)
            .map_err(|e| e.to_string())?;
        let body = Full::new(Bytes::from(self.body))
            .map_err(|never| match never {})
            .boxed_unsync();
        Ok(Request { head, body })
    }
}

/// Add one header line, refusing what nginx (or `serve`) would refuse.
fn push_header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), Refused> {
    if headers.len() >= MAX_HEADERS {
        return Err(format!("more than {MAX_HEADERS} header lines").into());
    }
    if name.len() + value.len() + ": \r\n".len() > LINE_LIMIT {
        let why = format!("header {name:?} is longer than nginx's 8 KiB");
        return Err(Refused::with(error_page::Refusal::HeaderTooLarge, &why));
    }
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name {name:?}"))?;
    // An HTTP parser would not have kept surrounding whitespace either.
    let value = HeaderValue::from_bytes(value.trim_matches([' ', '\t']).as_bytes())
        .map_err(|_| format!("invalid value in header {name:?}"))?;
    headers.append(header_name, value);
    Ok(())
}

/// The event's headers: every value of the multi-value form when it has one.
fn event_headers(raw: &mut Raw) -> Result<HeaderMap, Refused> {
    let mut headers = HeaderMap::new();
    if let Some(multi) = raw.multi_value_headers.take() {
        for (name, values) in &multi.0 {
            for value in values {
                push_header(&mut headers, name, value)?;
            }
        }
    } else if let Some(single) = raw.headers.take() {
        for (name, value) in &single.0 {
            push_header(&mut headers, name, value)?;
        }
    }
    Ok(headers)
}

/// `k=v` pairs joined by `&`; `None` when there are none, so the target gets no `?`.
fn join_query<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Option<Vec<u8>> {
    let mut query = Vec::new();
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            query.push(b'&');
        }
        query.extend_from_slice(key.as_ref());
        query.push(b'=');
        query.extend_from_slice(value.as_ref());
    }
    (!query.is_empty()).then_some(query)
}

/// The path, which the event must give, checked for what no request target may hold.
fn event_path(path: Option<Vec<u8>>, field: &str) -> Result<Vec<u8>, Refused> {
    let path = path.ok_or_else(|| format!("the event has no {field}"))?;
    if path.first() != Some(&b'/') {
        return Err(format!("{field} does not start with '/'").into());
    }
    if path.contains(&0) {
        return Err(format!("{field} contains a NUL byte").into());
    }
    if std::str::from_utf8(&path).is_err() {
        return Err(format!("{field} is not UTF-8 (a lone surrogate escape?)").into());
    }
    Ok(path)
}

/// Headers that describe one connection, not the response; none of the services honours
/// them, and nginx would not pass them on either.
pub(crate) const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TE,
    header::TRAILER,
    HeaderName::from_static("proxy-connection"),
];

/// Lenient about padding, strict about the alphabet.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn event_body(raw: &mut Raw) -> Result<Vec<u8>, Refused> {
    let body = raw.body.take().unwrap_or_default();
    if raw.is_base64_encoded == Some(true) {
        BASE64
            .decode(body.as_bytes())
            .map_err(|e| format!("body is marked base64 but is not: {e}").into())
    } else {
        Ok(body.into_bytes())
    }
}
