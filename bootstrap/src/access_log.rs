//! `serve`'s access log: one line per request (target `lamphp::request`, JSON like every
//! other line), with the fields Lambda mode logs. It is written when the response body has
//! been sent, or has stopped being sent, so the bytes and times are what happened: a
//! streamed response's size is known only then, and a client that went away mid-body is
//! logged as such (`complete: false`), as nginx logs a 200 with fewer bytes.

use crate::body::Body;
use crate::request::RequestBody;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// What is known of a request when it arrives.
pub struct Entry {
    pub id: Arc<str>,
    pub method: String,
    pub path: String,
    pub host: String,
    /// The site's primary server name (empty for `--root`'s one site).
    pub site: String,
    pub started: Instant,
    /// The request body's bytes read so far (shared with [`count_request`]'s body).
    pub bytes_in: Arc<AtomicU64>,
}

/// `body`, counting into the returned counter the bytes read from it.
pub fn count_request(body: RequestBody) -> (RequestBody, Arc<AtomicU64>) {
    let bytes = Arc::new(AtomicU64::new(0));
    let counter = bytes.clone();
    let body = body
        .map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                counter.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            frame
        })
        .boxed_unsync();
    (body, bytes)
}

/// `body`, logging `entry` with `status` once it has been sent, failed or been dropped.
pub fn logged(entry: Entry, status: u16, body: Body) -> Body {
    let head_ms = ms(entry.started);
    Logged {
        body,
        entry: Some(entry),
        status,
        head_ms,
        bytes_out: 0,
    }
    .boxed_unsync()
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

struct Logged {
    body: Body,
    entry: Option<Entry>,
    status: u16,
    /// When the response head was ready: PHP's time to its headers.
    head_ms: f64,
    bytes_out: u64,
}

impl Logged {
    fn log(&mut self, complete: bool) {
        let Some(entry) = self.entry.take() else {
            return;
        };
        tracing::info!(
            target: "lamphp::request",
            request = %entry.id,
            method = %entry.method,
            path = %entry.path,
            host = %entry.host,
            site = %entry.site,
            status = self.status,
            total_ms = ms(entry.started),
            head_ms = self.head_ms,
            bytes_in = entry.bytes_in.load(Ordering::Relaxed),
            bytes_out = self.bytes_out,
            complete,
        );
    }
}

impl http_body::Body for Logged {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes_out += data.len() as u64;
                }
                if self.body.is_end_stream() {
                    self.log(true);
                }
            }
            Poll::Ready(None) => self.log(true),
            Poll::Ready(Some(Err(_))) => self.log(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Logged {
    /// The client went away, or the response had no body to poll (HEAD, 304): complete
    /// only if nothing was left to send.
    fn drop(&mut self) {
        let complete = self.body.is_end_stream();
        self.log(complete);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;
    use http_body_util::BodyExt;

    fn entry() -> Entry {
        Entry {
            id: "1".into(),
            method: "GET".into(),
            path: "/".into(),
            host: "a.test".into(),
            site: "a.test".into(),
            started: Instant::now(),
            bytes_in: Arc::new(AtomicU64::new(0)),
        }
    }

    #[tokio::test]
    async fn the_body_passes_through_unchanged_and_its_length_is_kept() {
        let body = logged(entry(), 200, body::full("hello"));
        assert_eq!(body.size_hint().exact(), Some(5));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"hello");
    }

    #[tokio::test]
    async fn request_bytes_are_counted_as_read() {
        let request: RequestBody = http_body_util::Full::new(Bytes::from_static(b"abcdef"))
            .map_err(|never| match never {})
            .boxed_unsync();
        let (body, counter) = count_request(request);
        assert_eq!(counter.load(Ordering::Relaxed), 0);
        body.collect().await.unwrap();
        assert_eq!(counter.load(Ordering::Relaxed), 6);
    }
}
