//! The CGI response head php-fpm writes before the body, read as nginx reads it.
//!
//! `Status:` sets the status (its text becomes the reason phrase), a `Location:` without
//! a status means 302, neither means 200. `Status` and `X-Accel-*` are nginx's
//! (`fastcgi_hide_header` defaults) and hop-by-hop headers are the front door's, so none
//! of them are passed on; every other header is kept in order, repeats included. A head
//! nginx would call invalid is a 502, so the caller answers with nginx's Bad Gateway.

use http::{HeaderName, HeaderValue, StatusCode};
use thiserror::Error;

/// Parsed CGI response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiHead {
    pub status: StatusCode,
    /// The reason phrase from `Status:`, when PHP gave one.
    pub reason: Option<String>,
    /// In the order nginx writes them: Content-Type, Content-Length, Last-Modified and
    /// Location first (its header filter writes those itself), then the rest as PHP sent
    /// them.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeadError {
    #[error("upstream sent an invalid header line: {0:?}")]
    InvalidLine(String),
    #[error("upstream sent an invalid status: {0:?}")]
    InvalidStatus(String),
}

/// Where the head ends in `buf`: `(head_len, body_start)`, or `None` while the blank
/// line has not arrived yet. Lines may end in `\r\n` or `\n`, as nginx allows.
pub fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut line_start = 0;
    while let Some(nl) = buf[line_start..].iter().position(|&b| b == b'\n') {
        let line = &buf[line_start..line_start + nl];
        if line.is_empty() || line == b"\r" {
            return Some((line_start, line_start + nl + 1));
        }
        line_start += nl + 1;
    }
    None
}

/// Never passed on: nginx's `fastcgi_hide_header` defaults and the hop-by-hop headers
/// (besides `X-Accel-*`).
pub const HIDDEN: [&str; 8] = [
    "status",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "te",
    "trailer",
];
/// Headers nginx's header filter writes ahead of the rest, in its order.
const FIRST: [&str; 4] = [
    "content-type",
    "content-length",
    "last-modified",
    "location",
];

/// Parse a head (without its terminating blank line).
pub fn parse_head(head: &[u8]) -> Result<CgiHead, HeadError> {
    let mut status = None;
    let mut reason = None;
    let mut headers = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let invalid = || HeadError::InvalidLine(String::from_utf8_lossy(line).into_owned());
        let colon = line.iter().position(|&b| b == b':').ok_or_else(invalid)?;
        let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| invalid())?;
        let value =
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).map_err(|_| invalid())?;
        if name == "status" {
            let (code, text) = parse_status(value.as_bytes())?;
            status = Some(code);
            reason = text;
        }
        if !HIDDEN.contains(&name.as_str()) && !name.as_str().starts_with("x-accel-") {
            headers.push((name, value));
        }
    }
    let status = status.unwrap_or(if headers.iter().any(|(n, _)| n == "location") {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    // A stable sort: the named headers move up, everything else keeps PHP's order.
    headers.sort_by_key(|(name, _)| {
        FIRST
            .iter()
            .position(|first| name == first)
            .unwrap_or(FIRST.len())
    });
    Ok(CgiHead {
        status,
        reason,
        headers,
    })
}

fn parse_status(value: &[u8]) -> Result<(StatusCode, Option<String>), HeadError> {
    let invalid = || HeadError::InvalidStatus(String::from_utf8_lossy(value).into_owned());
    let digits = value.get(..3).ok_or_else(invalid)?;
    let code = StatusCode::from_bytes(digits).map_err(|_| invalid())?;
    if code.as_u16() < 100 {
        return Err(invalid());
    }
    let reason = std::str::from_utf8(&value[3..])
        .ok()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    Ok((code, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(head: &CgiHead) -> Vec<String> {
        head.headers
            .iter()
            .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
            .collect()
    }

    #[test]
    fn statuses() {
        let table: &[(&str, u16, Option<&str>)] = &[
            ("Content-type: text/html", 200, None),
            (
                "Status: 404 Not Found\r\nContent-type: text/html",
                404,
                Some("Not Found"),
            ),
            ("Status: 299 Custom Thing", 299, Some("Custom Thing")),
            ("Status: 500", 500, None),
            ("Location: /x", 302, None),
            (
                "Location: /x\r\nStatus: 301 Moved Permanently",
                301,
                Some("Moved Permanently"),
            ),
            ("X-Powered-By: PHP\nContent-type: text/plain", 200, None),
        ];
        for (raw, code, reason) in table {
            let head = parse_head(raw.as_bytes()).unwrap();
            assert_eq!(
                (head.status.as_u16(), head.reason.as_deref()),
                (*code, *reason),
                "{raw}"
            );
        }
    }

    #[test]
    fn header_order_and_hiding() {
        let raw = "Set-Cookie: a=1\r\nX-Accel-Redirect: /secret\r\nStatus: 200 OK\r\nX-Dump: 1\r\nSet-Cookie: b=2\r\nConnection: close\r\nLocation: /l\r\nContent-type: application/json";
        let head = parse_head(raw.as_bytes()).unwrap();
        assert_eq!(
            names(&head),
            [
                "content-type: application/json",
                "location: /l",
                "set-cookie: a=1",
                "x-dump: 1",
                "set-cookie: b=2"
            ]
        );
    }

    #[test]
    fn refuses_what_nginx_calls_invalid() {
        for raw in [
            "no colon here",
            "Bad Name: x",
            "Status: abc",
            "Status: 42",
            "Status: 1",
        ] {
            assert!(parse_head(raw.as_bytes()).is_err(), "{raw}");
        }
    }

    #[test]
    fn finds_the_blank_line() {
        type Row = (&'static [u8], Option<(usize, usize)>);
        let table: &[Row] = &[
            (b"A: 1\r\n\r\nbody", Some((6, 8))),
            (b"A: 1\n\nbody", Some((5, 6))),
            (b"A: 1\r\nB: 2\r\n", None),
            (b"\r\nbody", Some((0, 2))),
            (b"A: 1\r\n\r", None),
        ];
        for (buf, want) in table {
            assert_eq!(
                find_head_end(buf),
                *want,
                "{:?}",
                String::from_utf8_lossy(buf)
            );
        }
    }
}
