//! The ALB's 1 MB: a Lambda response whose JSON is larger becomes a bare 502 from the
//! ALB, with nothing in the function's log. So before answering: gzip when the client
//! takes it and that is enough; else, for GET and HEAD with an offload bucket, put the
//! body in S3 and redirect to a short-lived URL; else our own 502 page, and a log line
//! that says what to do. The upload ends by the invocation's deadline (504 past it): an
//! invocation Lambda stops itself would reach the ALB as a bare 502, unlogged.

use super::event::{self, Kind, Reply};
use super::offload::Offload;
use super::shrink;
use crate::error_page;
use bytes::Bytes;
use http::response::Parts;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use hyper::ext::ReasonPhrase;
use serde_json::value::RawValue;
use tokio::time::Instant;

/// The ALB's limit on the response JSON. AWS says "1 MB"; the decimal reading is the
/// safe one.
pub const LIMIT: usize = 1_000_000;

/// What goes back to the Runtime API.
pub struct Answer {
    pub status: StatusCode,
    pub json: Box<RawValue>,
}

/// A response in the shape the event encoder takes, owning its parts.
pub struct OwnedReply {
    pub status: StatusCode,
    pub reason: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl OwnedReply {
    pub fn as_reply(&self) -> Reply<'_> {
        Reply {
            status: self.status,
            reason: self.reason.as_deref(),
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn encode(&self, kind: Kind) -> Answer {
        Answer {
            status: self.status,
            json: event::encode(kind, &self.as_reply()),
        }
    }
}

/// An nginx-style page of our own.
pub fn page_reply(status: StatusCode, page: &str) -> OwnedReply {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    OwnedReply {
        status,
        reason: None,
        headers,
        body: Bytes::copy_from_slice(page.as_bytes()),
    }
}

/// Encode the response for `kind`, shrinking or moving it if it would not fit; `offload`
/// is the bucket to move it to, and the time by which the upload must be done.
pub async fn fit(
    kind: Kind,
    parts: Parts,
    body: Bytes,
    method: &Method,
    gzip_ok: bool,
    offload: Option<(&Offload, Instant)>,
    request_id: &str,
) -> Answer {
    let reason = parts
        .extensions
        .get::<ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
    let body = match bodyless(method, parts.status) {
        true => Bytes::new(),
        false => body,
    };
    let reply = OwnedReply {
        status: parts.status,
        reason,
        headers: parts.headers,
        body,
    };
    let answer = reply.encode(kind);
    if answer.json.get().len() <= LIMIT {
        return answer;
    }
    let size = reply.body.len();
    if gzip_ok && shrink::compressible(reply.status, &reply.headers) {
        let mut headers = reply.headers.clone();
        let gzipped = shrink::gzip(&mut headers, &reply.body);
        let smaller = OwnedReply {
            status: reply.status,
            reason: reply.reason.clone(),
            headers,
            body: gzipped.into(),
        };
        let answer = smaller.encode(kind);
        if answer.json.get().len() <= LIMIT {
            tracing::info!(request = %request_id, "gzipped a {size}-byte body to fit the ALB's 1 MB");
            return answer;
        }
    }
    let cacheable_method = matches!(*method, Method::GET | Method::HEAD);
    match offload {
        Some((offload, by)) if cacheable_method => {
            let upload = offload.put(reply.body.clone(), &reply.headers);
            match tokio::time::timeout_at(by, upload).await {
                Ok(Ok(url)) => {
                    tracing::info!(request = %request_id, "moved a {size}-byte body to S3 to get past the ALB's 1 MB");
                    return redirect(&url).encode(kind);
                }
                Ok(Err(e)) => {
                    tracing::error!(request = %request_id, "offloading a {size}-byte body to S3 failed: {e}")
                }
                Err(_) => {
                    tracing::error!(request = %request_id, "offloading a {size}-byte body to S3 did not finish before the invocation's deadline; is S3 reachable from the function (VPC endpoint or NAT)?");
                    return page_reply(
                        StatusCode::GATEWAY_TIMEOUT,
                        &error_page::html(StatusCode::GATEWAY_TIMEOUT),
                    )
                    .encode(kind);
                }
            }
        }
        Some(_) => tracing::error!(
            request = %request_id,
            "a {size}-byte answer to {method} exceeds the ALB's 1 MB; only GET and HEAD answers can go through S3"
        ),
        None => tracing::error!(
            request = %request_id,
            "a {size}-byte body exceeds the ALB's 1 MB even gzipped (or the client takes no gzip); set LAMPHP_OFFLOAD_BUCKET to serve large GET responses through S3"
        ),
    }
    page_reply(
        StatusCode::BAD_GATEWAY,
        &error_page::html(StatusCode::BAD_GATEWAY),
    )
    .encode(kind)
}

/// HTTP allows no body in the answer to a HEAD, nor with a 1xx, 204 or 304 (RFC 9110
/// 9.3.2, 15.3.5, 15.4.5): nginx sends none whatever the script printed, and neither does
/// hyper in `serve`, but the ALB would pass one on, so it is dropped here. The headers
/// stay as the script set them, as nginx keeps them.
pub(super) fn bodyless(method: &Method, status: StatusCode) -> bool {
    method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// A redirect to the offloaded body. 307 keeps the method (a HEAD stays a HEAD), and the
/// short-lived URL must not be cached.
fn redirect(url: &str) -> OwnedReply {
    let mut headers = HeaderMap::new();
    match HeaderValue::from_str(url) {
        Ok(location) => {
            headers.insert(header::LOCATION, location);
        }
        Err(_) => {
            return page_reply(
                StatusCode::BAD_GATEWAY,
                &error_page::html(StatusCode::BAD_GATEWAY),
            )
        }
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    OwnedReply {
        status: StatusCode::TEMPORARY_REDIRECT,
        reason: None,
        headers,
        body: Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::bodyless;
    use http::{Method, StatusCode};

    #[test]
    fn no_body_where_http_allows_none() {
        let table = [
            (Method::HEAD, 200, true),
            (Method::HEAD, 404, true),
            (Method::GET, 204, true),
            (Method::POST, 304, true),
            (Method::GET, 103, true),
            (Method::GET, 200, false),
            (Method::GET, 205, false),
            (Method::POST, 500, false),
        ];
        for (method, status, expected) in table {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(bodyless(&method, status), expected, "{method} {status}");
        }
    }
}
