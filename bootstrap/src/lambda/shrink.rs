//! Gzip for responses too large for the load balancer.
//!
//! An ALB drops a Lambda response whose JSON passes 1 MB, so a body that would not fit
//! is gzipped when the client and the response allow it. The rules follow nginx's gzip
//! module, which is what a site moved here was served by, with two differences: any
//! media type qualifies unless it is already compressed, since the alternative is an
//! error rather than a larger body, and `Cache-Control: no-transform` is honoured, since
//! offloading (the next resort) hands over the body byte for byte.

use flate2::{write::GzEncoder, Compression};
use http::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_TYPE, ETAG, VARY,
};
use http::{HeaderMap, HeaderValue, StatusCode};
use std::io::Write;

/// Media types whose bytes are already compressed (as are all of `video/` and
/// `audio/`): gzip would spend the function's time and gain nothing.
const PACKED_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/avif",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/zstd",
    "application/x-7z-compressed",
    "application/vnd.rar",
    "font/woff",
    "font/woff2",
];

/// Whether `Accept-Encoding` allows gzip (honour q-values: `gzip;q=0` means no; `*`
/// counts; absent means no).
///
/// An explicit `gzip` (or its alias `x-gzip`) wins over `*`; a coding with a malformed
/// q-value is ignored, as if the client had not sent it. Without the header we do not
/// compress even though RFC 9110 would allow it: clients that omit it are scripts and
/// probes that may not decode gzip.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    let codings = headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for coding in codings {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let Some(q) = weight(parts) else { continue };
        let slot = if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if name == "*" {
            &mut any
        } else {
            continue;
        };
        *slot = Some(slot.map_or(q, |seen: u16| seen.max(q)));
    }
    gzip.or(any).is_some_and(|q| q > 0)
}

/// The `q` parameter among a coding's parameters, in thousandths; 1000 when absent,
/// `None` when malformed.
fn weight<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    for param in params {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            return qvalue(value.trim());
        }
    }
    Some(1000)
}

/// RFC 9110's `qvalue`: `0` or `1`, then up to three decimals, never above 1.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether a response with these headers may be gzipped by us.
///
/// Not when it has no body (1xx, 204, 205, 304), is a range (206, or any
/// `Content-Range`: the range is of the uncompressed bytes), already has a
/// `Content-Encoding` (even `identity`, which is not a content coding and so means the
/// application did something unusual), asks for `no-transform`, or is of a type that is
/// already compressed. A HEAD is not refused here: its body is empty, so it never needs
/// shrinking and the caller never asks.
pub fn compressible(status: StatusCode, headers: &HeaderMap) -> bool {
    if status.is_informational()
        || matches!(status.as_u16(), 204 | 205 | 206 | 304)
        || headers.contains_key(CONTENT_ENCODING)
        || headers.contains_key(CONTENT_RANGE)
    {
        return false;
    }
    let no_transform = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-transform"));
    let packed = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|t| t.split(';').next().unwrap_or_default().trim())
        .is_some_and(|t| {
            let top = t.get(..6).unwrap_or_default();
            PACKED_TYPES.iter().any(|p| p.eq_ignore_ascii_case(t))
                || top.eq_ignore_ascii_case("video/")
                || top.eq_ignore_ascii_case("audio/")
        });
    !no_transform && !packed
}

/// The body gzipped, and the headers changed to match, as nginx's gzip module does:
/// `Content-Encoding: gzip`, `Accept-Encoding` added to `Vary`, `Content-Length` set to
/// the new length when there was one, a strong ETag weakened (the bytes differ, the
/// resource does not) or dropped if malformed, and `Accept-Ranges` dropped (a range
/// request would be answered from the uncompressed bytes).
///
/// Compressing into memory cannot fail; if it somehow did, the body comes back as it
/// was and the headers are left alone, so the response stays consistent.
pub fn gzip(headers: &mut HeaderMap, body: &[u8]) -> Vec<u8> {
    // Level 6 rather than nginx's default 1: we only compress to fit under the limit,
    // where a few more percent can decide between a page and an error.
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::new(6));
    let Ok(packed) = encoder.write_all(body).and_then(|()| encoder.finish()) else {
        return body.to_vec();
    };
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    add_vary(headers);
    if headers.contains_key(CONTENT_LENGTH) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(packed.len()));
    }
    headers.remove(ACCEPT_RANGES);
    weaken_etag(headers);
    packed
}

/// Adds `Accept-Encoding` to `Vary` as one line: the ALB, unless told to use multi-value
/// headers, keeps only one value per name.
fn add_vary(headers: &mut HeaderMap) {
    let values: Vec<&[u8]> = headers.get_all(VARY).iter().map(|v| v.as_bytes()).collect();
    let covered = values
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .any(|t| {
            let t = t.trim_ascii();
            t == b"*" || t.eq_ignore_ascii_case(b"accept-encoding")
        });
    if covered {
        return;
    }
    let mut merged = values.join(&b", "[..]);
    if !merged.is_empty() {
        merged.extend_from_slice(b", ");
    }
    merged.extend_from_slice(b"Accept-Encoding");
    if let Ok(value) = HeaderValue::from_bytes(&merged) {
        headers.insert(VARY, value);
    }
}

/// nginx's `ngx_http_weak_etag`: `"x"` becomes `W/"x"`, a weak one stays, anything else
/// is dropped because a validator we cannot read cannot be made weak.
fn weaken_etag(headers: &mut HeaderMap) {
    let Some(etag) = headers.get(ETAG) else {
        return;
    };
    let bytes = etag.as_bytes();
    if bytes.starts_with(b"W/") {
        return;
    }
    let weak = bytes
        .starts_with(b"\"")
        .then(|| HeaderValue::from_bytes(&[b"W/", bytes].concat()).ok())
        .flatten();
    match weak {
        Some(weak) => headers.insert(ETAG, weak),
        None => headers.remove(ETAG),
    };
}

#[cfg(test)]
mod tests;
