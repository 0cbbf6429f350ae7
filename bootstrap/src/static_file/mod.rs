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
use std::io::{self, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

/// Each read of a tokio file is a round trip to the blocking pool, so reads are larger
/// than `ReaderStream`'s 4 KiB default.
const CHUNK: usize = 64 * 1024;

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

/// Serve the regular file at `path` (already resolved and checked by the router to be a
/// file inside the docroot) for a request with `method` and `headers`.
pub async fn serve(path: &Path, method: &Method, headers: &HeaderMap) -> Response<Body> {
    // nginx turns other methods away before looking for the file, but POST only once
    // the file has been found (a POST to a missing file is a 404).
    if method != Method::GET && method != Method::HEAD && method != Method::POST {
        return page(StatusCode::METHOD_NOT_ALLOWED, None, method);
    }
    let (file, meta) = match open(path).await {
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
            // An empty file still gets a streamed (if empty) body: a body that announces
            // its length as 0 makes hyper rewrite Content-Length after the other headers.
            let body = if method == Method::HEAD {
                body::empty()
            } else {
                file_body(file, parts)
            };
            let mut res = Response::new(body);
            *res.status_mut() = status;
            *res.headers_mut() = headers;
            res
        }
    }
}

/// Opens the file once and takes its metadata from the handle, so what we describe is
/// what we send even if the path changes meanwhile.
async fn open(path: &Path) -> Result<(File, std::fs::Metadata), StatusCode> {
    // O_NONBLOCK as in nginx: opening a FIFO must not wait for a writer.
    let opened = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .await;
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
    let meta = match file.metadata().await {
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

/// Streams the planned pieces. Each file piece reads through its own duplicate of the
/// descriptor, seeked just before it is read; pieces are read strictly one after another,
/// so the shared file offset is never contended.
fn file_body(file: File, parts: Vec<Part>) -> Body {
    let file = Arc::new(file);
    let chunks = stream::iter(parts)
        .then(move |part| {
            let file = Arc::clone(&file);
            async move {
                match part {
                    Part::Bytes(bytes) => {
                        Ok::<_, io::Error>(stream::once(async { Ok(bytes) }).boxed())
                    }
                    Part::File { start, len } => {
                        let mut handle = file.try_clone().await?;
                        handle.seek(SeekFrom::Start(start)).await?;
                        Ok(exactly(handle, len).boxed())
                    }
                }
            }
        })
        .try_flatten();
    StreamBody::new(chunks.map_ok(Frame::data)).boxed_unsync()
}

/// `len` bytes from `file`'s current offset, or an error if the file ends first (it was
/// truncated after we read its size): a short body under a full Content-Length would
/// be a lie, so the front door must abort instead, as nginx does.
fn exactly(file: File, len: u64) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    let reader = ReaderStream::with_capacity(file.take(len), CHUNK);
    stream::unfold(Some((reader, len)), |state| async move {
        let (mut reader, left) = state?;
        match reader.next().await {
            Some(Ok(chunk)) => {
                let left = left.saturating_sub(chunk.len() as u64);
                Some((Ok(chunk), Some((reader, left))))
            }
            Some(Err(err)) => Some((Err(err), None)),
            None if left > 0 => {
                tracing::error!(missing = left, "file was truncated while being sent");
                let err = io::Error::new(io::ErrorKind::UnexpectedEof, "file was truncated");
                Some((Err(err), None))
            }
            None => None,
        }
    })
}
