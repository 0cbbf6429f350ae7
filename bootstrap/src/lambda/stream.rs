//! Response streaming (`LAMPHP_RESPONSE_MODE=streaming`): the answer to a Function URL
//! or API Gateway REST event goes to the Runtime API as PHP produces it.
//!
//! Whether an invocation may stream is the trigger's configuration (a Function URL's
//! `InvokeMode: RESPONSE_STREAM`, a REST integration's `responseTransferMode: STREAM`),
//! not something the event tells, hence a setting. An ALB never invokes in streaming
//! mode, and a release command wants its JSON answer: both stay buffered
//! ([`super::invocation`]).
//!
//! The head (the metadata prelude, [`super::event::prelude`]) is posted as soon as PHP's
//! headers are complete, then the body frame by frame: hyper polls the body only when
//! the socket to the Runtime API takes more, and php-fpm's side is a bounded channel, so
//! a slow client slows PHP down instead of filling memory. No 1 MB fit, no gzip, no
//! offload: streaming is how a body passes the 6 MB a buffered answer has.
//!
//! `lambda_runtime` 1.5 can stream, but reports an error after the head by writing the
//! "trailer" text into the body (the client reads it as content) and ends the stream as
//! if it were complete. The Runtime API wants HTTP trailers
//! (`Lambda-Runtime-Function-Error-Type`, `-Body`, declared in `Trailer` up front), so
//! this module posts streamed answers itself, as a [`tower::Layer`] around the runtime's
//! service: the invocations it does not take go on to `lambda_runtime` unchanged.

use super::event::{self, EventError, HttpEvent, Kind};
use super::fit;
use super::init_error::split_api;
use super::invocation::{Invoker, RequestLog};
use crate::body::{self, Body};
use crate::error_page;
use anyhow::{anyhow, Context as _, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body::{Frame, SizeHint};
use hyper_util::rt::TokioIo;
use lambda_runtime::{tower, Context, LambdaInvocation};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Poll};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout_at, Instant, Sleep};

/// How answers to HTTP events go back: whole (the default), or streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Buffered,
    Streaming,
}

impl ResponseMode {
    /// The word `LAMPHP_RESPONSE_MODE` takes for it.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Buffered => "buffered",
            ResponseMode::Streaming => "streaming",
        }
    }
}

impl std::str::FromStr for ResponseMode {
    type Err = String;

    fn from_str(s: &str) -> Result<ResponseMode, String> {
        match s {
            "buffered" => Ok(ResponseMode::Buffered),
            "streaming" => Ok(ResponseMode::Streaming),
            other => Err(format!(
                "{other:?} is no response mode: `buffered` (the default), or `streaming` for a \
                 Function URL in RESPONSE_STREAM mode or a REST API integration in STREAM mode"
            )),
        }
    }
}

/// Wraps `lambda_runtime`'s service so that HTTP events a stream can answer are.
pub struct StreamLayer {
    invoker: Arc<Invoker>,
    /// `host:port` and path prefix of the Runtime API (`AWS_LAMBDA_RUNTIME_API`).
    api: Arc<(String, String)>,
}

impl StreamLayer {
    pub fn new(invoker: Arc<Invoker>, api: &str) -> StreamLayer {
        let (authority, prefix) = split_api(api);
        StreamLayer {
            invoker,
            api: Arc::new((authority.to_owned(), prefix.to_owned())),
        }
    }
}

impl<S> tower::Layer<S> for StreamLayer {
    type Service = Streaming<S>;

    fn layer(&self, inner: S) -> Streaming<S> {
        Streaming {
            inner,
            invoker: self.invoker.clone(),
            api: self.api.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Streaming<S> {
    inner: S,
    invoker: Arc<Invoker>,
    api: Arc<(String, String)>,
}

impl<S> tower::Service<LambdaInvocation> for Streaming<S>
where
    S: tower::Service<LambdaInvocation, Response = (), Error = lambda_runtime::Error>,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = lambda_runtime::Error;
    type Future = BoxFuture<'static, Result<(), lambda_runtime::Error>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let streamed = match event::decode(&invocation.body) {
            Ok(HttpEvent { request, kind }) if streams(kind) => {
                Start::Request(Box::new(request), kind)
            }
            Err(EventError::BadRequest {
                kind,
                refusal,
                reason,
            }) if streams(kind) => Start::Refused(kind, refusal, reason),
            // An ALB event, a release command, an event that is no HTTP request: as in
            // buffered mode (the event is decoded again there; only this mode pays).
            _ => return Box::pin(self.inner.call(invocation)),
        };
        let invoker = self.invoker.clone();
        let api = self.api.clone();
        Box::pin(async move {
            respond(&invoker, &api, streamed, &invocation.context).await;
            Ok(())
        })
    }
}

fn streams(kind: Kind) -> bool {
    !matches!(kind, Kind::Alb { .. })
}

enum Start {
    Request(Box<crate::request::Request>, Kind),
    Refused(Kind, error_page::Refusal, String),
}

/// Run the request and stream its answer; everything that goes wrong is logged (the
/// invocation's outcome is the stream's, told to the Runtime API, not to the loop).
async fn respond(invoker: &Invoker, api: &(String, String), start: Start, ctx: &Context) {
    let id: Arc<str> = ctx.request_id.as_str().into();
    let (started, deadline) = invoker.start(ctx.deadline);
    let (kind, method, path, bytes_in, response) = match start {
        Start::Refused(kind, refusal, reason) => {
            tracing::warn!(request = %id, "{}: {reason}", refusal.status().as_u16());
            let page = error_page::response(refusal.status());
            (kind, Method::GET, String::new(), 0, page)
        }
        Start::Request(request, kind) => {
            let method = request.head.method.clone();
            let path = String::from_utf8_lossy(&request.head.path).into_owned();
            let bytes_in = http_body::Body::size_hint(&request.body)
                .exact()
                .unwrap_or(0);
            let response = match &invoker.app {
                Some(app) => app.handle(*request, id.clone(), deadline).await,
                None => {
                    tracing::error!(request = %id, "503: no release deployed yet (run `lamphp deploy`)");
                    error_page::response(StatusCode::SERVICE_UNAVAILABLE)
                }
            };
            (kind, method, path, bytes_in, response)
        }
    };
    let (parts, body) = response.into_parts();
    let body = match fit::bodyless(&method, parts.status) {
        true => body::empty(),
        false => body,
    };
    let prelude = event::prelude(kind, parts.status, &parts.headers)
        .expect("only kinds that stream get here");
    let tally = Arc::new(Tally::default());
    let streamed = Streamed {
        head: VecDeque::from([prelude.into(), Bytes::from_static(&event::DELIMITER)]),
        body,
        deadline: Box::pin(sleep_until(deadline)),
        tally: tally.clone(),
        done: false,
    };
    // The body stops itself at the deadline, but only while the Runtime API reads it: a
    // client that stopped reading is cut off with the rest of the margin's first half.
    let posted = timeout_at(deadline + invoker.margin / 2, post(api, &id, streamed)).await;
    let php_time = started.elapsed();
    let end = tally.end.lock().expect("lock").take();
    match (&posted, end) {
        (Ok(Ok(())), Some(End::Complete)) => {}
        (Ok(Ok(())), Some(End::Failed(why))) => {
            tracing::error!(request = %id, "the streamed answer to {method} {path} was cut short: {why}")
        }
        (Ok(Err(e)), _) => {
            tracing::error!(request = %id, "streaming the answer to {method} {path} failed: {e:#}")
        }
        (Err(_), _) => {
            tracing::error!(request = %id, "the Runtime API stopped reading the answer to {method} {path} (a slow client?) and the deadline came: the stream was dropped")
        }
        (Ok(Ok(())), None) => {
            tracing::error!(request = %id, "the Runtime API answered before the streamed body of {method} {path} ended")
        }
    }
    if Instant::now() >= deadline {
        invoker.ran_out_of_time(&id).await;
    }
    RequestLog {
        id: &id,
        method: &method,
        path: &path,
        status: parts.status,
        started,
        php_time,
        bytes_in,
        bytes_out: tally.bytes.load(Ordering::Relaxed),
    }
    .emit();
}

/// `POST …/response` in streaming mode, on a connection of its own that is closed
/// after it, as the Runtime API asks of a streamed response.
async fn post(api: &(String, String), id: &str, body: Streamed) -> Result<()> {
    let (authority, prefix) = api;
    let tcp = TcpStream::connect(authority.as_str())
        .await
        .with_context(|| format!("connecting to the Runtime API at {authority}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    let conn = tokio::spawn(conn);
    let request = Request::post(format!(
        "{prefix}/2018-06-01/runtime/invocation/{id}/response"
    ))
    .header(http::header::HOST, authority.as_str())
    .header("Lambda-Runtime-Function-Response-Mode", "streaming")
    .header(http::header::TRANSFER_ENCODING, "chunked")
    .header(
        http::header::CONTENT_TYPE,
        "application/vnd.awslambda.http-integration-response",
    )
    // Trailers must be announced before the body (RFC 9110 6.5.1); hyper sends only
    // the ones named here.
    .header(http::header::TRAILER, ERROR_TYPE)
    .header(http::header::TRAILER, ERROR_BODY)
    .body(body)?;
    let answer = sender.send_request(request).await?;
    drop(sender);
    // The connection's end is the body's end: hyper writes it to the last chunk.
    conn.await??;
    if !answer.status().is_success() {
        return Err(anyhow!("the Runtime API answered {}", answer.status()));
    }
    Ok(())
}

const ERROR_TYPE: &str = "Lambda-Runtime-Function-Error-Type";
const ERROR_BODY: &str = "Lambda-Runtime-Function-Error-Body";

/// What the body saw, read once the post is over.
#[derive(Default)]
struct Tally {
    /// Body bytes sent, the prelude not counted.
    bytes: AtomicU64,
    end: Mutex<Option<End>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    Complete,
    /// Cut short, with the trailers saying why.
    Failed(String),
}

/// The request body to the Runtime API: the prelude and its delimiter, then PHP's body
/// until it ends, the deadline comes, or php-fpm fails, the last two ending in the error
/// trailers.
struct Streamed {
    /// The prelude, then the delimiter, each a chunk of its own: `lambda_runtime` sends
    /// them so, and `cargo lambda watch` reads the prelude as the body's first chunk.
    head: VecDeque<Bytes>,
    body: Body,
    deadline: Pin<Box<Sleep>>,
    tally: Arc<Tally>,
    done: bool,
}

impl Streamed {
    fn finish(&mut self, end: End) -> Option<Result<Frame<Bytes>, std::io::Error>> {
        self.done = true;
        let frame = match &end {
            End::Complete => None,
            End::Failed(why) => Some(Ok(Frame::trailers(error_trailers(why)))),
        };
        *self.tally.end.lock().expect("lock") = Some(end);
        frame
    }
}

impl http_body::Body for Streamed {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(head) = self.head.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(self.finish(End::Failed("the request ran out of time".to_owned())));
        }
        loop {
            let frame = match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => return Poll::Ready(self.finish(End::Complete)),
                Some(Err(e)) => {
                    return Poll::Ready(
                        self.finish(End::Failed(format!("reading PHP's output failed: {e}"))),
                    )
                }
                Some(Ok(frame)) => frame,
            };
            // PHP's side has no trailers to pass on; only data counts.
            if let Ok(data) = frame.into_data() {
                self.tally
                    .bytes
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.head.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        // Unknown: chunked, whatever PHP's Content-Length says.
        SizeHint::default()
    }
}

/// The trailers that end a stream in error: a type, and the error document (as the
/// error endpoint takes it) in base64.
fn error_trailers(message: &str) -> HeaderMap {
    let error_type = "Lamphp.StreamError";
    let document = serde_json::json!({"errorMessage": message, "errorType": error_type});
    let mut trailers = HeaderMap::new();
    trailers.insert(ERROR_TYPE, HeaderValue::from_static(error_type));
    trailers.insert(
        ERROR_BODY,
        HeaderValue::from_str(&BASE64.encode(document.to_string()))
            .expect("base64 is a valid header value"),
    );
    trailers
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::time::Duration;

    #[test]
    fn response_modes() {
        let table = [
            ("buffered", Ok(ResponseMode::Buffered)),
            ("streaming", Ok(ResponseMode::Streaming)),
            ("Streaming", Err(())),
            ("stream", Err(())),
            ("", Err(())),
        ];
        for (text, expected) in table {
            let got: Result<ResponseMode, String> = text.parse();
            assert_eq!(got.clone().map_err(|_| ()), expected, "{text:?}");
            match got {
                Ok(mode) => assert_eq!(mode.as_str(), text),
                Err(message) => assert!(message.contains("RESPONSE_STREAM"), "{message}"),
            }
        }
    }

    fn streamed(body: Body, deadline: Instant) -> (Streamed, Arc<Tally>) {
        let tally = Arc::new(Tally::default());
        let streamed = Streamed {
            head: VecDeque::from([
                Bytes::from_static(b"{}"),
                Bytes::from_static(&event::DELIMITER),
            ]),
            body,
            deadline: Box::pin(sleep_until(deadline)),
            tally: tally.clone(),
            done: false,
        };
        (streamed, tally)
    }

    /// (data sent, trailers) of a whole body.
    async fn drain(mut body: Streamed) -> (Vec<u8>, Option<HeaderMap>) {
        let mut data = Vec::new();
        let mut trailers = None;
        while let Some(frame) = body.frame().await {
            match frame.unwrap().into_data() {
                Ok(bytes) => data.extend_from_slice(&bytes),
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        (data, trailers)
    }

    #[tokio::test]
    async fn a_whole_body_follows_the_prelude_without_trailers() {
        let far = Instant::now() + Duration::from_secs(60);
        let (body, tally) = streamed(body::full("hello"), far);
        let (data, trailers) = drain(body).await;
        assert_eq!(data, b"{}\0\0\0\0\0\0\0\0hello");
        assert_eq!(trailers, None);
        assert_eq!(tally.bytes.load(Ordering::Relaxed), 5);
        assert_eq!(*tally.end.lock().unwrap(), Some(End::Complete));
    }

    #[tokio::test]
    async fn the_deadline_and_a_broken_php_end_the_stream_with_error_trailers() {
        let (tx, rx) = futures_channel_like();
        let soon = Instant::now() + Duration::from_millis(50);
        let (body, tally) = streamed(rx, soon);
        let sender = tokio::spawn(async move {
            tx.send(Ok(Frame::data(Bytes::from_static(b"first"))))
                .await
                .unwrap();
            // Then nothing, as from a script stuck in sleep().
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(tx);
        });
        let (data, trailers) = drain(body).await;
        sender.abort();
        assert_eq!(data, b"{}\0\0\0\0\0\0\0\0first");
        let trailers = trailers.expect("error trailers");
        assert_eq!(trailers[ERROR_TYPE], "Lamphp.StreamError");
        let document = BASE64.decode(trailers[ERROR_BODY].as_bytes()).unwrap();
        let document: serde_json::Value = serde_json::from_slice(&document).unwrap();
        assert_eq!(document["errorMessage"], "the request ran out of time");
        assert!(matches!(*tally.end.lock().unwrap(), Some(End::Failed(_))));

        let far = Instant::now() + Duration::from_secs(60);
        let broken = futures_util::stream::iter([
            Ok(Frame::data(Bytes::from_static(b"part"))),
            Err(std::io::Error::other("php-fpm went away")),
        ]);
        let (body, _) = streamed(http_body_util::StreamBody::new(broken).boxed_unsync(), far);
        let (data, trailers) = drain(body).await;
        assert_eq!(data, b"{}\0\0\0\0\0\0\0\0part");
        let document = BASE64
            .decode(trailers.expect("error trailers")[ERROR_BODY].as_bytes())
            .unwrap();
        assert!(String::from_utf8_lossy(&document).contains("php-fpm went away"));
    }

    /// A body fed from a channel, as the FastCGI client's is.
    fn futures_channel_like() -> (
        tokio::sync::mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>,
        Body,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        (tx, http_body_util::StreamBody::new(stream).boxed_unsync())
    }
}
