//! `bootstrap serve`: the HTTP/1.1 front door (the ECS container path, and local use).
//!
//! hyper parses HTTP; every request becomes a [`Request`] whose origin depends on whether
//! the peer is a trusted proxy, goes to the [`Site`] its host names ([`Sites`], nginx's
//! `server_name` rules), and that site's [`App::handle`] answers it, but the health check
//! ([`Health`]), which never reaches PHP. Responses stream, and each is logged once sent
//! ([`crate::access_log`]). On shutdown (ECS sends SIGTERM
//! after taking the task out of its target group) the health check fails, the listener
//! closes so new connections are refused, kept-alive connections close after their current
//! response, requests in flight finish within the drain timeout, and the caller stops
//! php-fpm.

use crate::access_log::{self, Entry};
use crate::app::App;
use crate::body::Body;
use crate::error_page::{self, Refusal};
use crate::health::Health;
use crate::origin::TrustedProxies;
use crate::request::{Head, Request};
use crate::sites::ServerNames;
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
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// A site `serve` answers for.
pub struct Site {
    /// Its primary server name: what `$host` is for a request that names no host (empty
    /// for the one site of `--root`, which has none).
    pub name: String,
    pub app: App,
}

/// The sites by server name, the first being the default.
pub type Sites = ServerNames<Site>;

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

/// Serve `sites` on `listener` until `shutdown` resolves.
pub async fn run(
    sites: Arc<Sites>,
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
        let (sites, trusted, ids) = (sites.clone(), trusted.clone(), ids.clone());
        let health = options.health.clone();
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            // The health check is answered at once, the request not even read.
            if let Some(health) = health.as_ref().filter(|h| h.answers(req.uri().path())) {
                return Either::Left(std::future::ready(Ok(health.response())));
            }
            let id: Arc<str> = format!("{:x}", ids.fetch_add(1, Ordering::Relaxed)).into();
            let sites = sites.clone();
            let started = Instant::now();
            let mut entry = Entry {
                id: id.clone(),
                method: req.method().to_string(),
                path: req.uri().path().to_owned(),
                host: String::new(),
                site: String::new(),
                started,
                bytes_in: Default::default(),
            };
            let request = request(&trusted, req, peer, local, &id);
            Either::Right(async move {
                let mut res = match request {
                    Ok(mut request) => {
                        let site = sites.choose(&request.head.host.name);
                        entry.host = request.head.host.name.clone();
                        entry.site = site.name.clone();
                        // nginx's `$host` is the server's name when the request names none.
                        if request.head.host.name.is_empty() {
                            request.head.host.name = site.name.clone();
                        }
                        let (body, bytes_in) = access_log::count_request(request.body);
                        request.body = body;
                        entry.bytes_in = bytes_in;
                        let deadline = site.app.deadline_from_now();
                        site.app.handle(request, id, deadline).await
                    }
                    Err(bad) => *bad,
                };
                error_page::set_reason(&mut res);
                if error_page::ends_connection(&res) {
                    res.headers_mut()
                        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
                }
                let status = res.status().as_u16();
                Ok::<_, Infallible>(res.map(|body| access_log::logged(entry, status, body)))
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
