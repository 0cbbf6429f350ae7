//! Static files, answered as nginx 1.22's static handler and its not_modified and range
//! filters answer them with a stock configuration (`etag on`,
//! `if_modified_since exact`, no `max_ranges`, the Debian `mime.types`).
//!
//! The decisions are pure (`plan::plan`, table-tested against what nginx answered);
//! [`serve`] only opens the file, asks, and streams the pieces the plan names.
//! Multi-range requests get nginx's `multipart/byteranges` body (see `multipart` for
//! the one way its boundary can differ).
//!
//! Left to the request parser, because nginx does them for every request before any
//! location runs: a 400 for a repeated `If-*` header (repeated `Range` headers are
//! fine: the first counts, as here).

mod conditional;
mod http_time;
mod mime;
mod multipart;
mod plan;
mod range;
#[cfg(test)]
mod tests;

use crate::body::{self, Body};
use crate::error_page;
use bytes::Bytes;
use futures_util::{stream, StreamExt, TryStreamExt};
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use plan::{plan, FileMeta, Plan};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

/// Bodies up to this size are read at once (see [`file_body`]).
const INLINE: u64 = 256 * 1024;
/// Larger bodies are read in chunks of this size, each a round trip to the blocking pool.
const CHUNK: usize = 256 * 1024;

/// A piece of a planned body.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    Bytes(Bytes),
    /// `len` bytes of the file from offset `start`.
    File {
        start: u64,
        len: u64,
    },
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Bytes(bytes) => bytes.len() as u64,
            Part::File { len, .. } => *len,
        }
    }
}

/// Serve the regular file at `path` (already resolved and checked by the router to be a
/// file inside the docroot) for a request with `method` and `headers`.
pub async fn serve(path: &Path, method: &Method, headers: &HeaderMap) -> Response<Body> {
    // nginx turns other methods away before looking for the file, but POST only once
    // the file has been found (a POST to a missing file is a 404).
    if method != Method::GET && method != Method::HEAD && method != Method::POST {
        return page(StatusCode::METHOD_NOT_ALLOWED, None, method);
    }
    let (file, meta) = match open(path) {
        Ok(opened) => opened,
        Err(status) => return page(status, None, method),
    };
    let meta = FileMeta {
        size: meta.len(),
        mtime: meta.mtime(),
    };
    let content_type = mime::content_type(path);
    match plan(
        method,
        headers,
        meta,
        content_type,
        multipart::next_boundary,
    ) {
        Plan::Page(status) => page(status, None, method),
        Plan::Unsatisfiable { size } => page(StatusCode::RANGE_NOT_SATISFIABLE, Some(size), method),
        Plan::Send {
            status,
            headers,
            parts,
        } => {
            let body = if method == Method::HEAD {
                body::empty()
            } else {
                match file_body(file, parts) {
                    Ok(body) => body,
                    Err(err) => {
                        tracing::error!(path = %path.display(), error = %err, "read failed");
                        return page(StatusCode::INTERNAL_SERVER_ERROR, None, method);
                    }
                }
            };
            let mut res = Response::new(body);
            *res.status_mut() = status;
            *res.headers_mut() = headers;
            res
        }
    }
}

/// Opens the file once and takes its metadata from the handle, so what we describe is
/// what we send even if the path changes meanwhile. Synchronous, as nginx's own open and
/// fstat are (without `aio`): on a local or cached file system they cost microseconds,
/// far less than two round trips to tokio's blocking pool.
fn open(path: &Path) -> Result<(File, std::fs::Metadata), StatusCode> {
    // O_NONBLOCK as in nginx: opening a FIFO must not wait for a writer.
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(err) => {
            let status = open_error_status(&err);
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::error!(path = %path.display(), error = %err, "open() failed");
            } else {
                tracing::warn!(path = %path.display(), error = %err, "open() failed");
            }
            return Err(status);
        }
    };
    let meta = match file.metadata() {
        Ok(meta) => meta,
        Err(err) => {
            tracing::error!(path = %path.display(), error = %err, "fstat() failed");
            return Err(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    if !meta.is_file() {
        // The router saw a regular file; something else is there now.
        tracing::error!(path = %path.display(), "not a regular file");
        return Err(StatusCode::NOT_FOUND);
    }
    Ok((file, meta))
}

/// nginx's mapping of open() errors to statuses.
fn open_error_status(err: &io::Error) -> StatusCode {
    match err.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => StatusCode::NOT_FOUND,
        Some(libc::EACCES | libc::ELOOP | libc::EMLINK) => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// nginx's error page with an explicit `Content-Length` right after `Content-Type`, as
/// nginx orders them; a HEAD request gets the headers alone.
fn page(status: StatusCode, unsatisfiable_size: Option<u64>, method: &Method) -> Response<Body> {
    let mut res = error_page::response(status);
    if let Some(len) = http_body::Body::size_hint(res.body()).exact() {
        res.headers_mut().insert(header::CONTENT_LENGTH, len.into());
    }
    if let Some(size) = unsatisfiable_size {
        let value = HeaderValue::from_str(&format!("bytes */{size}"));
        if let Ok(value) = value {
            res.headers_mut().insert(header::CONTENT_RANGE, value);
        }
    }
    if method == Method::HEAD {
        *res.body_mut() = body::empty();
    }
    res
}

/// The planned pieces as a body. Small bodies (the common case: pages' assets) are read
/// right here with one `pread` per piece, which on a cached file costs less than handing
/// the read to another thread; larger ones stream, a chunk at a time on the blocking
/// pool, so a 1 GB download never sits in memory.
fn file_body(file: File, parts: Vec<Part>) -> io::Result<Body> {
    let total: u64 = parts.iter().map(Part::len).sum();
    if total == 0 {
        return Ok(body::ended());
    }
    if total <= INLINE {
        let mut whole = Vec::with_capacity(total as usize);
        for part in &parts {
            match part {
                Part::Bytes(bytes) => whole.extend_from_slice(bytes),
                Part::File { start, len } => {
                    whole.extend_from_slice(&read_at(&file, *start, *len)?)
                }
            }
        }
        return Ok(body::full(whole));
    }
    let file = Arc::new(file);
    let chunks = stream::iter(parts).flat_map(move |part| match part {
        Part::Bytes(bytes) => stream::once(async { Ok(bytes) }).boxed(),
        Part::File { start, len } => file_chunks(Arc::clone(&file), start, len).boxed(),
    });
    Ok(StreamBody::new(chunks.map_ok(Frame::data)).boxed_unsync())
}

/// `len` bytes from `start`, read in [`CHUNK`]s on the blocking pool, one at a time.
fn file_chunks(
    file: Arc<File>,
    start: u64,
    len: u64,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    let end = start + len;
    stream::unfold(Some(start), move |offset| {
        let file = Arc::clone(&file);
        async move {
            let offset = offset.filter(|&o| o < end)?;
            let n = (end - offset).min(CHUNK as u64);
            let read = tokio::task::spawn_blocking(move || read_at(&file, offset, n)).await;
            match read.unwrap_or_else(|e| Err(io::Error::other(e))) {
                Ok(chunk) => Some((Ok(chunk), Some(offset + n))),
                Err(err) => Some((Err(err), None)),
            }
        }
    })
}

/// Exactly `len` bytes at `start`. A file that ends early was truncated after we read
/// its size: a short body under a full Content-Length would be a lie, so this is an
/// error and the front door aborts the response, as nginx does.
fn read_at(file: &File, start: u64, len: u64) -> io::Result<Bytes> {
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, start).inspect_err(|err| {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            tracing::error!("file was truncated while being sent");
        }
    })?;
    Ok(buf.into())
}
