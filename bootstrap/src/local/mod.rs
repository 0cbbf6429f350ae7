//! `bootstrap local`: an ALB in front of a Lambda sandbox, without Docker or AWS.
//!
//! It starts this same binary's Runtime API loop as a child process, pointed at a Runtime
//! API endpoint of its own ([`runtime_api`]), then accepts HTTP: each request becomes the
//! event an ALB would send ([`alb`]), goes through the real loop, and the function's
//! answer becomes the HTTP response the ALB would give.

pub mod alb;
pub mod runtime_api;

use crate::body::{self, Body};
use anyhow::{bail, Context, Result};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use runtime_api::{Outcome, Phase, RuntimeApi};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

/// The ALB refuses larger request bodies with 413.
const ALB_MAX_BODY: usize = 1 << 20;

/// What the Lambda loop serves.
#[derive(Debug, Clone)]
pub enum LocalSite {
    /// A document root (`LAMPHP_ROOT`).
    Root(PathBuf),
    /// A release under `LAMPHP_RELEASES`, with the front controller relative to it,
    /// resolved by the loop as on Lambda.
    Release { release: String, handler: String },
}

impl std::fmt::Display for LocalSite {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            LocalSite::Root(root) => write!(f, "{}", root.display()),
            LocalSite::Release { release, .. } => write!(f, "release {release}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LocalSettings {
    pub site: LocalSite,
    pub listen: SocketAddr,
    /// The target group's `lambda.multi_value_headers.enabled`.
    pub multi_value: bool,
    /// The function's timeout: each invocation's deadline.
    pub timeout: Duration,
}

/// Run the emulator until `shutdown` resolves or the runtime exits.
pub async fn run(settings: LocalSettings, shutdown: impl Future<Output = ()>) -> Result<()> {
    let mut api = RuntimeApi::start(settings.timeout)
        .await
        .context("starting the local Runtime API")?;
    let mut runtime = spawn_runtime(&settings, api.addr)?;
    tokio::select! {
        phase = api.phase_change() => match phase {
            Phase::Failed(message) => bail!("the Lambda runtime failed to start: {message}"),
            Phase::Ready | Phase::Starting => {}
        },
        // A runtime reports its init error before it exits: both may be ready at once.
        status = runtime.wait() => match api.phase() {
            Phase::Failed(message) => bail!("the Lambda runtime failed to start: {message}"),
            _ => bail!("the Lambda runtime exited during init ({})", status?),
        },
    }
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {} (--listen)", settings.listen))?;
    let port = listener.local_addr()?.port();
    tracing::info!(
        "ALB emulator on http://{} in front of the Lambda runtime ({} headers), serving {}",
        listener.local_addr()?,
        if settings.multi_value {
            "multi-value"
        } else {
            "single-value"
        },
        settings.site
    );
    let api = Arc::new(api);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            status = runtime.wait() => bail!("the Lambda runtime exited ({})", status?),
            () = &mut shutdown => return Ok(()),
        };
        let api = api.clone();
        let multi_value = settings.multi_value;
        let service = service_fn(move |req| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(forward(&api, req, peer, port, multi_value).await) }
        });
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
}

/// This binary's Lambda loop, with the environment Lambda gives a sandbox. Its logs go
/// where ours go. It dies with us (SIGKILL on drop, and the kernel's parent-death
/// signal if we are killed), and its php-fpm with it.
fn spawn_runtime(settings: &LocalSettings, api: SocketAddr) -> Result<Child> {
    let exe = std::env::current_exe().context("finding this binary to run its Lambda loop")?;
    let mut command = Command::new(exe);
    command
        .arg("lambda")
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "lamphp-local")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    match &settings.site {
        LocalSite::Root(root) => command.env("LAMPHP_ROOT", root),
        LocalSite::Release { release, handler } => command
            .env("LAMPHP_RELEASE", release)
            .env("_HANDLER", handler)
            .env_remove("LAMPHP_ROOT"),
    };
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    command.spawn().context("starting the Lambda runtime")
}

/// One HTTP request through the ALB's eyes and the Lambda loop.
async fn forward(
    api: &RuntimeApi,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    port: u16,
    multi_value: bool,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    if let Some(refusal) = alb_refuses(&parts) {
        return status(refusal);
    }
    let body = match Limited::new(body, ALB_MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return status(StatusCode::PAYLOAD_TOO_LARGE),
    };
    let event = alb::event_from_http(&parts, &body, peer, port, multi_value);
    match api.invoke(event).await {
        Some(Outcome::Response(json)) => {
            alb::http_from_lambda(&json).map(|body| match body.is_empty() {
                true => body::ended(),
                false => body::full(body),
            })
        }
        Some(Outcome::Error(error)) => {
            tracing::error!("the function failed: {}", String::from_utf8_lossy(&error));
            status(StatusCode::BAD_GATEWAY)
        }
        None => status(StatusCode::BAD_GATEWAY),
    }
}

/// What the ALB answers itself, before invoking anything: a request without the one
/// Host HTTP/1.1 requires, or a declared body over its limit (answered at once, not
/// after waiting for the body).
fn alb_refuses(parts: &http::request::Parts) -> Option<StatusCode> {
    let hosts = parts.headers.get_all(http::header::HOST).iter().count();
    let needs_host = parts.version >= http::Version::HTTP_11 && parts.uri.authority().is_none();
    if hosts > 1 || (hosts == 0 && needs_host) {
        return Some(StatusCode::BAD_REQUEST);
    }
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    declared
        .filter(|&n| n > ALB_MAX_BODY)
        .map(|_| StatusCode::PAYLOAD_TOO_LARGE)
}

/// What the ALB itself answers with (a bare status; its pages are not ours to copy).
fn status(code: StatusCode) -> Response<Body> {
    let mut res = Response::new(body::empty());
    *res.status_mut() = code;
    res
}
