//! The request every front door produces: what PHP must see, kept exactly as received.
//!
//! The raw path and query string are bytes as the client sent them (never decoded and
//! re-encoded), headers keep their order, and [`Origin`] holds the connection facts
//! nginx would derive. Building a [`Head`] is where malformed requests are refused, with
//! the 400 nginx would give.

use crate::origin::Origin;
use bytes::Bytes;
use http::{header, HeaderMap, Method, Version};
use http_body_util::combinators::UnsyncBoxBody;
use thiserror::Error;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body as it arrives: streamed from a socket, or whole from an event.
pub type RequestBody = UnsyncBoxBody<Bytes, BoxError>;

/// A request: its head and its body.
pub struct Request {
    pub head: Head,
    pub body: RequestBody,
}

/// Everything about a request but its body.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: Method,
    /// The path as sent, still percent-encoded.
    pub path: Vec<u8>,
    /// What follows the first `?`, as sent; `None` without a `?`.
    pub query: Option<Vec<u8>>,
    pub version: Version,
    pub headers: HeaderMap,
    /// nginx's `$host` with the port the client named (`$request_port`), if any.
    pub host: Host,
    pub origin: Origin,
}

/// The host a request is for: from an absolute-form request line, else the Host header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    /// Lower-cased, port and trailing dot removed (nginx's `$host`); empty when the
    /// request named no host (HTTP/1.0 without Host).
    pub name: String,
    /// The port as the client wrote it, if it wrote one.
    pub port: Option<String>,
}

impl Host {
    /// What lamphp passes as HTTP_HOST: nginx 1.30's `$host$is_request_port$request_port`.
    /// Debian's nginx passes `$host` alone, which loses a non-default port and breaks sites
    /// that build their own URLs from HTTP_HOST; the raw header is unsafe (see
    /// [`Head::new`]). This keeps the port and stays safe.
    pub fn http_host(&self) -> String {
        match &self.port {
            Some(port) => format!("{}:{port}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A request nginx would refuse before running anything: with 400, or 501 for a transfer
/// coding it does not implement.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BadRequest {
    #[error("request target is not a path")]
    Target,
    #[error("invalid host {0:?}")]
    Host(String),
    #[error("HTTP/1.1 request without a Host header")]
    MissingHost,
    #[error("more than one Host header")]
    DuplicateHost,
    #[error("invalid method {0:?}")]
    Method(String),
    #[error("more than one Content-Length header")]
    DuplicateLength,
    #[error("both Content-Length and Transfer-Encoding")]
    LengthAndChunked,
    /// nginx implements `chunked` alone (a list such as `identity, chunked`, which hyper
    /// would take, is a classic way to make two servers disagree about a body).
    #[error("unsupported Transfer-Encoding {0:?}")]
    TransferCoding(String),
}

impl BadRequest {
    pub fn status(&self) -> http::StatusCode {
        match self {
            BadRequest::TransferCoding(_) => http::StatusCode::NOT_IMPLEMENTED,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}

impl Head {
    /// Build a head from a parsed request line and headers. `target` is the request
    /// target as sent (origin-form `/p?q`, or absolute-form `http://h/p?q`).
    pub fn new(
        method: Method,
        target: &[u8],
        version: Version,
        headers: HeaderMap,
        origin: Origin,
    ) -> Result<Head, BadRequest> {
        // nginx's parser takes only upper-case letters, `_` and `-` in a method.
        if !method
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
        {
            return Err(BadRequest::Method(method.to_string()));
        }
        // Two framings of one body are how requests get smuggled past proxies.
        match headers.get_all(header::CONTENT_LENGTH).iter().count() {
            0 => {}
            1 if headers.contains_key(header::TRANSFER_ENCODING) => {
                return Err(BadRequest::LengthAndChunked)
            }
            1 => {}
            _ => return Err(BadRequest::DuplicateLength),
        }
        let mut codings = headers.get_all(header::TRANSFER_ENCODING).iter();
        if let Some(coding) = codings.next() {
            if !coding.as_bytes().eq_ignore_ascii_case(b"chunked") || codings.next().is_some() {
                let all = headers.get_all(header::TRANSFER_ENCODING).iter();
                let all: Vec<_> = all.map(|v| String::from_utf8_lossy(v.as_bytes())).collect();
                return Err(BadRequest::TransferCoding(all.join(", ")));
            }
        }
        let (authority, path_and_query) = split_absolute_form(target)?;
        let (path, query) = match path_and_query.iter().position(|&b| b == b'?') {
            Some(i) => (&path_and_query[..i], Some(path_and_query[i + 1..].to_vec())),
            None => (path_and_query, None),
        };
        // Like nginx, a host in the request line wins over the Host header, which is what
        // keeps a forged Host header away from PHP in that case.
        let host = match authority {
            Some(authority) => parse_host(authority)?,
            None => host_header(&headers, version)?,
        };
        Ok(Head {
            method,
            path: path.to_vec(),
            query,
            version,
            headers,
            host,
            origin,
        })
    }

    /// nginx's `$request_uri`: path and query as the client sent them.
    pub fn request_uri(&self) -> Vec<u8> {
        let mut uri = self.path.clone();
        if let Some(query) = &self.query {
            uri.push(b'?');
            uri.extend_from_slice(query);
        }
        uri
    }
}

fn split_absolute_form(target: &[u8]) -> Result<(Option<&[u8]>, &[u8]), BadRequest> {
    if target.first() == Some(&b'/') {
        return Ok((None, target));
    }
    let lower = target.to_ascii_lowercase();
    let rest = if lower.starts_with(b"http://") {
        &target[7..]
    } else if lower.starts_with(b"https://") {
        &target[8..]
    } else {
        return Err(BadRequest::Target);
    };
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let path = match &rest[end..] {
        [] => &b"/"[..],
        p if p[0] == b'?' => return Err(BadRequest::Target),
        p => p,
    };
    Ok((Some(&rest[..end]), path))
}

fn host_header(headers: &HeaderMap, version: Version) -> Result<Host, BadRequest> {
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => Err(BadRequest::DuplicateHost),
        (Some(value), None) => parse_host(value.as_bytes()),
        (None, _) if version >= Version::HTTP_11 => Err(BadRequest::MissingHost),
        (None, _) => Ok(Host::default()),
    }
}

/// nginx's `ngx_http_validate_host`: lower-case, split off the port, drop one trailing
/// dot; refuse `..`, `/`, `\`, NUL, and an empty name.
fn parse_host(raw: &[u8]) -> Result<Host, BadRequest> {
    let bad = || BadRequest::Host(String::from_utf8_lossy(raw).into_owned());
    let (name, port) = if raw.first() == Some(&b'[') {
        let close = raw.iter().position(|&b| b == b']').ok_or_else(bad)?;
        match &raw[close + 1..] {
            [] => (&raw[..=close], None),
            [b':', port @ ..] => (&raw[..=close], Some(port)),
            _ => return Err(bad()),
        }
    } else {
        match raw.iter().position(|&b| b == b':') {
            Some(i) => (&raw[..i], Some(&raw[i + 1..])),
            None => (raw, None),
        }
    };
    if name.windows(2).any(|w| w == b"..") || name.iter().any(|b| b"/\\\0".contains(b)) {
        return Err(bad());
    }
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() {
        return Err(bad());
    }
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| bad());
    Ok(Host {
        name: text(&name.to_ascii_lowercase())?,
        port: port.filter(|p| !p.is_empty()).map(text).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn head(target: &str, version: Version, hosts: &[&str]) -> Result<Head, BadRequest> {
        let mut headers = HeaderMap::new();
        for h in hosts {
            headers.append(header::HOST, HeaderValue::from_str(h).unwrap());
        }
        Head::new(
            Method::GET,
            target.as_bytes(),
            version,
            headers,
            Origin::default(),
        )
    }

    #[test]
    fn splits_target_and_host() {
        // (target, Host headers) -> (path, query, $host, port)
        type Row<'a> = (
            &'a str,
            &'a [&'a str],
            &'a str,
            Option<&'a str>,
            &'a str,
            Option<&'a str>,
        );
        let table: &[Row] = &[
            (
                "/a?b=1",
                &["Example.COM:8080"],
                "/a",
                Some("b=1"),
                "example.com",
                Some("8080"),
            ),
            ("/a?", &["h"], "/a", Some(""), "h", None),
            ("/a??x", &["h."], "/a", Some("?x"), "h", None),
            ("/", &["[::1]:8080"], "/", None, "[::1]", Some("8080")),
            ("/", &["[::1]"], "/", None, "[::1]", None),
            ("/", &["h:"], "/", None, "h", None),
            ("http://Other/x?y", &["h"], "/x", Some("y"), "other", None),
            ("HTTP://other:81", &["h"], "/", None, "other", Some("81")),
        ];
        for (target, hosts, path, query, name, port) in table {
            let h = head(target, Version::HTTP_11, hosts).unwrap();
            assert_eq!(h.path, path.as_bytes(), "{target}");
            assert_eq!(h.query.as_deref(), query.map(str::as_bytes), "{target}");
            assert_eq!(h.host.name, *name, "{target}");
            assert_eq!(h.host.port.as_deref(), *port, "{target}");
        }
    }

    #[test]
    fn refuses_what_nginx_refuses() {
        let table: &[(&str, Version, &[&str])] = &[
            ("/", Version::HTTP_11, &[]),
            ("/", Version::HTTP_11, &["a", "b"]),
            ("/", Version::HTTP_11, &[""]),
            ("/", Version::HTTP_11, &["a..b"]),
            ("/", Version::HTTP_11, &["a/b"]),
            ("/", Version::HTTP_11, &["[::1"]),
            ("*", Version::HTTP_11, &["h"]),
            ("ftp://h/", Version::HTTP_11, &["h"]),
        ];
        for (target, version, hosts) in table {
            assert!(head(target, *version, hosts).is_err(), "{target} {hosts:?}");
        }
        type Headers = &'static [(&'static str, &'static str)];
        let framings: [(Headers, Result<(), u16>); 7] = [
            (
                &[("content-length", "1"), ("content-length", "1")],
                Err(400),
            ),
            (
                &[("content-length", "1"), ("transfer-encoding", "chunked")],
                Err(400),
            ),
            (&[("transfer-encoding", "chunked")], Ok(())),
            (&[("transfer-encoding", "Chunked")], Ok(())),
            (&[("transfer-encoding", "identity, chunked")], Err(501)),
            (&[("transfer-encoding", "gzip")], Err(501)),
            (
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked"),
                ],
                Err(501),
            ),
        ];
        for (framing, want) in framings {
            let mut headers = HeaderMap::from_iter([(header::HOST, HeaderValue::from_static("h"))]);
            for (k, v) in framing {
                headers.append(*k, HeaderValue::from_static(v));
            }
            let got = Head::new(
                Method::POST,
                b"/",
                Version::HTTP_11,
                headers,
                Origin::default(),
            );
            let got = got.map(drop).map_err(|e| e.status().as_u16());
            assert_eq!(got, want, "{framing:?}");
        }
        let lower = Method::from_bytes(b"get").unwrap();
        let headers = HeaderMap::from_iter([(header::HOST, HeaderValue::from_static("h"))]);
        assert!(Head::new(lower, b"/", Version::HTTP_11, headers, Origin::default()).is_err());
    }

    #[test]
    fn http_1_0_may_omit_host() {
        let h = head("/", Version::HTTP_10, &[]).unwrap();
        assert_eq!(h.host, Host::default());
        assert_eq!(h.host.http_host(), "");
    }

    #[test]
    fn http_host_keeps_the_port() {
        let h = head("/", Version::HTTP_11, &["WWW.Example.com:8080"]).unwrap();
        assert_eq!(h.host.http_host(), "www.example.com:8080");
        assert_eq!(h.request_uri(), b"/");
    }
}
