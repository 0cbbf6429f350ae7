//! `bootstrap serve`: the HTTP/1.1 front door (the ECS container path, and local use).
//!
//! hyper parses HTTP; every request becomes a [`Request`] whose origin depends on whether
//! the peer is a trusted proxy, and [`App::handle`] answers it, but the health check
//! ([`Health`]), which never reaches PHP. Responses stream. On shutdown (ECS sends SIGTERM
//! after taking the task out of its target group) the health check fails, the listener
//! closes so new connections are refused, kept-alive connections close after their current
//! response, requests in flight finish within the drain timeout, and the caller stops
//! php-fpm.

use crate::app::App;
use crate::body::Body;
use crate::error_page::{self, Refusal};
use crate::health::Health;
use crate::origin::TrustedProxies;
use crate::request::{Head, Request};
use futures_util::future::Either;
use http::HeaderValue;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How connections are treated.
#[derive(Debug, Clone)]
pub struct Options {
    /// Peers whose X-Forwarded-* headers are believed.
    pub trusted: TrustedProxies,
    /// How long a request's head may take to arrive, counted from when the connection is
    /// ready for it (so it also ends an idle kept-alive connection): nginx's
    /// `client_header_timeout`, 60 s. A client that trickles its head (slowloris) cannot
    /// hold a connection longer.
    pub header_timeout: Duration,
    /// How long requests in flight may run on after the shutdown signal: below ECS's
    /// 30 s stop timeout, after which it kills the task.
    pub drain_timeout: Duration,
    pub health: Option<Arc<Health>>,
}

/// Serve `app` on `listener` until `shutdown` resolves.
pub async fn run(
    app: Arc<App>,
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let trusted = Arc::new(options.trusted);
    let ids = Arc::new(AtomicU64::new(0));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        let (app, trusted, ids) = (app.clone(), trusted.clone(), ids.clone());
        let health = options.health.clone();
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            // The health check is answered at once, the request not even read.
            if let Some(health) = health.as_ref().filter(|h| h.answers(req.uri().path())) {
                return Either::Left(std::future::ready(Ok(health.response())));
            }
            let id: Arc<str> = format!("{:x}", ids.fetch_add(1, Ordering::Relaxed)).into();
            let app = app.clone();
            let request = request(&trusted, req, peer, local, &id);
            Either::Right(async move {
                let mut res = match request {
                    Ok(request) => app.handle(request, id, app.deadline_from_now()).await,
                    Err(bad) => *bad,
                };
                error_page::set_reason(&mut res);
                if error_page::ends_connection(&res) {
                    res.headers_mut()
                        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(res)
            })
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_timeout)
            .keep_alive(true)
            // nginx has no count limit, only 4 buffers of 8 KiB for all header lines.
            .max_headers(1000)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
    if let Some(health) = &options.health {
        health.drain();
    }
    drop(listener);
    let drain = options.drain_timeout;
    tracing::info!("shutting down: waiting up to {drain:?} for requests in flight");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {drain:?}; closing them");
    }
}

/// nginx reads the request line and each header line into an 8 KiB buffer
/// (`large_client_header_buffers 4 8k`); a longer one is refused.
const LINE_LIMIT: usize = 8192;

fn over_nginx_limits(parts: &http::request::Parts, target: &str) -> Option<hyper::Response<Body>> {
    let request_line = parts.method.as_str().len() + target.len() + " HTTP/1.1\r\n".len() + 1;
    if request_line > LINE_LIMIT {
        return Some(Refusal::UriTooLong.response());
    }
    let long_header = parts
        .headers
        .iter()
        .any(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len() > LINE_LIMIT);
    long_header.then(|| Refusal::HeaderTooLarge.response())
}

/// Our request from hyper's, or the 400 nginx would answer with.
fn request(
    trusted: &TrustedProxies,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
    id: &str,
) -> Result<Request, Box<hyper::Response<Body>>> {
    let (parts, body) = req.into_parts();
    let target = match parts.uri.scheme() {
        Some(_) => parts.uri.to_string(),
        None => parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.to_string(), |pq| pq.as_str().to_owned()),
    };
    if let Some(refusal) = over_nginx_limits(&parts, &target) {
        tracing::info!(request = %id, "{} from {peer}: request line or header over 8 KiB", refusal.status().as_u16());
        return Err(Box::new(refusal));
    }
    let origin = trusted.origin(peer, local, &parts.headers);
    let head = match Head::new(
        parts.method,
        target.as_bytes(),
        parts.version,
        parts.headers,
        origin,
    ) {
        Ok(head) => head,
        Err(e) => {
            tracing::info!(request = %id, "{} from {peer}: {e}", e.status().as_u16());
            return Err(Box::new(error_page::response(e.status())));
        }
    };
    let body = body.map_err(Into::into).boxed_unsync();
    Ok(Request { head, body })
}
