//! What to answer for an opened file, decided without touching it.

use super::range::{self, ByteRange, Outcome};
use super::{conditional, http_time, multipart, Part};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

/// What [`plan`] needs to know about the file.
#[derive(Debug, Clone, Copy)]
pub struct FileMeta {
    pub size: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
}

/// The answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// nginx's error page for this status.
    Page(StatusCode),
    /// The 416 page, which also carries `Content-Range: bytes */size`.
    Unsatisfiable { size: u64 },
    /// A response from the file: these headers in this order, and these pieces of body
    /// (none for a 304; a HEAD request gets the same plan as a GET).
    Send {
        status: StatusCode,
        headers: HeaderMap,
        parts: Vec<Part>,
    },
}

/// Plans the answer to `method` with request `headers` for a file of type
/// `content_type`. `boundary` is asked for a multipart boundary number only when the
/// answer is multipart, so that numbers are spent as nginx spends them.
pub fn plan(
    method: &Method,
    headers: &HeaderMap,
    file: FileMeta,
    content_type: &'static str,
    boundary: impl FnOnce() -> u64,
) -> Plan {
    if method != Method::GET && method != Method::HEAD {
        return Plan::Page(StatusCode::METHOD_NOT_ALLOWED);
    }
    let etag = etag(file);
    // nginx keeps -1 as "no Last-Modified", so a file dated one second before the epoch
    // has none.
    let last_modified = (file.mtime != http_time::INVALID).then(|| http_time::format(file.mtime));
    let validators = |headers: &mut HeaderMap| {
        if let Some(date) = &last_modified {
            headers.insert(header::LAST_MODIFIED, ascii(date));
        }
        headers.insert(header::ETAG, ascii(&etag));
    };

    match conditional::evaluate(headers, &etag, file.mtime) {
        conditional::Verdict::PreconditionFailed => {
            return Plan::Page(StatusCode::PRECONDITION_FAILED)
        }
        conditional::Verdict::NotModified => {
            let mut out = HeaderMap::new();
            validators(&mut out);
            return Plan::Send {
                status: StatusCode::NOT_MODIFIED,
                headers: out,
                parts: Vec::new(),
            };
        }
        conditional::Verdict::Proceed => {}
    }

    let if_range_holds = match headers.get(header::IF_RANGE) {
        Some(value) => range::if_range_holds(value.as_bytes(), &etag, file.mtime),
        None => true,
    };
    let outcome = match headers.get(header::RANGE) {
        Some(spec) if if_range_holds => range::parse(spec.as_bytes(), file.size),
        _ => Outcome::Whole,
    };

    let mut out = HeaderMap::new();
    let (status, parts) = match outcome {
        Outcome::Unsatisfiable => return Plan::Unsatisfiable { size: file.size },
        Outcome::Whole => {
            out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            out.insert(header::CONTENT_LENGTH, file.size.into());
            validators(&mut out);
            out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            let whole = ByteRange {
                start: 0,
                end: file.size,
            };
            (StatusCode::OK, file_part(whole))
        }
        Outcome::Partial(ranges) => match ranges.as_slice() {
            [one] => {
                out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                out.insert(header::CONTENT_LENGTH, (one.end - one.start).into());
                validators(&mut out);
                let content_range = format!("bytes {}-{}/{}", one.start, one.end - 1, file.size);
                out.insert(header::CONTENT_RANGE, ascii(&content_range));
                (StatusCode::PARTIAL_CONTENT, file_part(*one))
            }
            _ => {
                let laid = multipart::layout(&ranges, file.size, content_type, boundary());
                out.insert(header::CONTENT_TYPE, ascii(&laid.content_type));
                out.insert(header::CONTENT_LENGTH, laid.content_length.into());
                validators(&mut out);
                (StatusCode::PARTIAL_CONTENT, laid.parts)
            }
        },
    };
    Plan::Send {
        status,
        headers: out,
        parts,
    }
}

/// nginx's ETag: mtime and size in lower-case hex. A negative mtime prints as `-` and
/// its magnitude, as nginx's `%xT` does.
fn etag(file: FileMeta) -> String {
    let sign = if file.mtime < 0 { "-" } else { "" };
    format!("\"{sign}{:x}-{:x}\"", file.mtime.unsigned_abs(), file.size)
}

/// The body piece for `range`; none for an empty file.
fn file_part(range: ByteRange) -> Vec<Part> {
    let len = range.end - range.start;
    if len == 0 {
        Vec::new()
    } else {
        vec![Part::File {
            start: range.start,
            len,
        }]
    }
}

/// A header value from text we formatted ourselves: digits, hex, dates and type names
/// are always valid, and the fallback only keeps this path free of panics.
fn ascii(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests;
