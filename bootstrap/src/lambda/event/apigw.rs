//! API Gateway's events: payload 1.0 (REST APIs, and HTTP APIs set to 1.0) and payload
//! 2.0 (HTTP APIs, and Function URLs, which use the same format).
//!
//! Unlike an ALB's, these events do not carry the client's request verbatim: HTTP APIs
//! hand over the path percent-decoded, payload 1.0 decodes the query parameters, and the
//! connection facts come from `requestContext` rather than from headers nginx would read.

use super::wire::Raw;
use super::{event_body, event_headers, event_path, join_query, push_header, Parts, Refused};
use crate::origin::Origin;
use http::{header, HeaderMap};
use std::net::IpAddr;

pub(super) fn v1(mut raw: Raw) -> Result<Parts, Refused> {
    let method = raw
        .http_method
        .take()
        .ok_or("the event has no httpMethod")?;
    let path = escape_path(&event_path(raw.path.take(), "path")?);
    // API Gateway decodes the parameters (and does not keep their order), so the
    // client's own query string is gone; encoding them again gives PHP the same $_GET.
    let query = match (
        raw.multi_value_query_string_parameters.take(),
        raw.query_string_parameters.take(),
    ) {
        (Some(multi), _) => join_query(multi.0.iter().flat_map(|(key, values)| {
            values
                .iter()
                .map(move |value| (encode_component(key), encode_component(value)))
        })),
        (None, Some(single)) => join_query(
            single
                .0
                .iter()
                .map(|(k, v)| (encode_component(k), encode_component(v))),
        ),
        (None, None) => None,
    };
    let context = raw.request_context.take();
    let mut headers = event_headers(&mut raw)?;
    let domain = context.as_ref().and_then(|c| c.domain_name.as_deref());
    default_host(&mut headers, domain)?;
    let source_ip = context
        .as_ref()
        .and_then(|c| c.identity.as_ref())
        .and_then(|i| i.source_ip.as_deref());
    let origin = gateway_origin(source_ip, &headers);
    Ok(Parts {
        method,
        path,
        query,
        origin,
        body: event_body(&mut raw)?,
        headers,
    })
}

pub(super) fn v2(mut raw: Raw) -> Result<Parts, Refused> {
    let context = raw.request_context.take();
    let http = context.as_ref().and_then(|c| c.http.as_ref());
    let method = http
        .map(|h| h.method.clone())
        .ok_or("the event has no requestContext.http.method")?;
    let path = escape_path(&event_path(raw.raw_path.take(), "rawPath")?);
    // Unlike the parameters, rawQueryString is the client's, still encoded.
    let query = raw
        .raw_query_string
        .take()
        .filter(|q| !q.is_empty())
        .map(String::into_bytes);
    let mut headers = event_headers(&mut raw)?;
    // Payload 2.0 moves the Cookie header(s) here; PHP expects them where nginx 1.23+
    // puts several: one header, joined with "; ".
    if let Some(cookies) = raw.cookies.take().filter(|c| !c.is_empty()) {
        push_header(&mut headers, "cookie", &cookies.join("; "))?;
    }
    default_host(
        &mut headers,
        context.as_ref().and_then(|c| c.domain_name.as_deref()),
    )?;
    let origin = gateway_origin(http.and_then(|h| h.source_ip.as_deref()), &headers);
    Ok(Parts {
        method,
        path,
        query,
        origin,
        body: event_body(&mut raw)?,
        headers,
    })
}

/// API Gateway always knows the domain it was called on; only a hand-made test event (the
/// console's, or the docs' examples) lacks the Host header, and the request is still
/// for that domain.
fn default_host(headers: &mut HeaderMap, domain: Option<&str>) -> Result<(), Refused> {
    match domain {
        Some(domain) if !headers.contains_key(header::HOST) => push_header(headers, "host", domain),
        _ => Ok(()),
    }
}

/// What the reference's nginx would derive behind a proxy that sent X-Forwarded-For:
/// `sourceIp`, X-Forwarded-Proto: https (API Gateway and Function URLs only speak HTTPS)
/// and X-Forwarded-Port (443 when the event does not say).
fn gateway_origin(source_ip: Option<&str>, headers: &HeaderMap) -> Origin {
    let port = headers.get("x-forwarded-port").map_or_else(
        || "443".into(),
        |v| String::from_utf8_lossy(v.as_bytes()).into_owned(),
    );
    Origin {
        // Like nginx's realip module, an entry that is not an address is ignored.
        remote_addr: source_ip
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        remote_port: String::new(),
        server_addr: String::new(),
        server_port: port,
        scheme: "https".into(),
        https: true,
    }
}

/// HTTP APIs hand over `rawPath` (and the 1.0 `path`) percent-decoded, while REST APIs
/// and Function URLs keep the client's encoding. Escaping what can never stand literally
/// in a request path restores a usable target from the former and leaves the latter
/// unchanged. A decoded `%` followed by two hex digits cannot be told from an escape: the
/// one loss left.
fn escape_path(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for (i, &b) in path.iter().enumerate() {
        let literal = match b {
            b'%' => path
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)),
            b'?' | b'#' => false,
            0x21..=0x7e => true,
            _ => false,
        };
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

/// Percent-encode all but RFC 3986's unreserved characters: whatever the client wrote,
/// PHP decodes this back to the same value.
fn encode_component(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_encoded_paths_alone() {
        let table: &[(&str, &str)] = &[
            ("/a%20b/%2F/~x", "/a%20b/%2F/~x"),
            ("/a b", "/a%20b"),
            ("/what?/#1", "/what%3F/%231"),
            ("/100%", "/100%25"),
            ("/100%zz", "/100%25zz"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            ("/tab\there", "/tab%09here"),
        ];
        for (raw, want) in table {
            assert_eq!(escape_path(raw.as_bytes()), want.as_bytes(), "{raw}");
        }
    }

    #[test]
    fn components_round_trip_through_php_decoding() {
        assert_eq!(encode_component("a b&c=d/é~"), b"a%20b%26c%3Dd%2F%C3%A9~");
    }
}
