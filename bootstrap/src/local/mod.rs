//! `bootstrap local`: an ALB (or a Function URL) in front of Lambda sandboxes, without
//! Docker or AWS.
//!
//! It runs a Runtime API endpoint of its own ([`runtime_api`]) and starts sandboxes
//! against it ([`sandbox`]): each this same binary's Runtime API loop as a child process,
//! with its own php-fpm and `/tmp`. Then it accepts HTTP: each request becomes the event
//! an ALB would send ([`alb`]), goes to the first sandbox free to take it, through the
//! real loop, and the function's answer becomes the HTTP response the ALB would give.
//!
//! `--function-url buffered|streaming` puts a Function URL in front instead
//! ([`function_url`]): payload 2.0 events, and in `streaming` (its `RESPONSE_STREAM`
//! invoke mode) the sandboxes run with `LAMPHP_RESPONSE_MODE=streaming` and their
//! streamed answers reach the client as they are written.
//!
//! Several sandboxes (`--sandboxes`, 4 by default) serve overlapping requests, as Lambda
//! would start a sandbox per concurrent request: a page that requests its own site while
//! it runs (WordPress's loopback and site-health checks) needs two. Requests past that
//! wait for a free sandbox, up to a function timeout, then get a 503. `--max-concurrency
//! N` emulates Lambda Managed Instances instead: one environment whose runtime takes up
//! to N invocations at once (`AWS_LAMBDA_MAX_CONCURRENCY`).

pub mod alb;
pub mod function_url;
pub mod runtime_api;
pub mod sandbox;

use crate::body::{self, Body};
use crate::lambda::stream::ResponseMode;
use anyhow::{Context, Result};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use runtime_api::{Outcome, RuntimeApi};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

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
    /// `Some(mode)`: a Function URL in that invoke mode instead of an ALB.
    pub function_url: Option<ResponseMode>,
    /// The function's timeout: each invocation's deadline.
    pub timeout: Duration,
    /// How many sandboxes run at once.
    pub sandboxes: usize,
    /// `Some(n)`: Managed Instances, each sandbox taking up to `n` invocations at once.
    pub max_concurrency: Option<usize>,
    /// Where each sandbox gets its directory (its runtime's, and its `/tmp`).
    pub runtime_dir: PathBuf,
}

/// Run the emulator until `shutdown` resolves.
pub async fn run(settings: LocalSettings, shutdown: impl Future<Output = ()>) -> Result<()> {
    let api = Arc::new(
        RuntimeApi::start(settings.timeout)
            .await
            .context("starting the local Runtime API")?,
    );
    let sandboxes = sandbox::start(&settings, api.clone()).await?;
    let listener = match TcpListener::bind(settings.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            sandboxes.stop().await;
            return Err(e).with_context(|| format!("listening on {} (--listen)", settings.listen));
        }
    };
    let addr = listener.local_addr()?;
    let front = match settings.function_url {
        Some(mode) => Front::FunctionUrl(mode),
        None => Front::Alb {
            multi_value: settings.multi_value,
        },
    };
    let (name, detail) = front.names();
    tracing::info!(
        "{name} emulator on http://{addr} in front of {} ({detail}), serving {}",
        behind(settings.sandboxes, settings.max_concurrency),
        settings.site
    );
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors, or a connection reset before it was taken: the
                // listener itself is fine.
                Err(e) => {
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let api = api.clone();
        let timeout = settings.timeout;
        let service = service_fn(move |req| {
            let api = api.clone();
            async move {
                let res = forward(&api, req, peer, addr.port(), front, timeout).await;
                Ok::<_, Infallible>(res)
            }
        });
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
    sandboxes.stop().await;
    Ok(())
}

/// What stands in front of the sandboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    /// `multi_value`: the target group's `lambda.multi_value_headers.enabled`.
    Alb { multi_value: bool },
    /// A Function URL, in its `BUFFERED` or `RESPONSE_STREAM` invoke mode.
    FunctionUrl(ResponseMode),
}

impl Front {
    /// The largest request body it takes; past it, a 413.
    fn max_body(self) -> usize {
        match self {
            Front::Alb { .. } => ALB_MAX_BODY,
            Front::FunctionUrl(_) => function_url::MAX_BODY,
        }
    }

    /// Its name and setting, for the first line, which starts "{name} emulator on
    /// http://": tests and scripts wait for "ALB emulator on http://".
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Front::Alb { multi_value: true } => ("ALB", "multi-value headers"),
            Front::Alb { multi_value: false } => ("ALB", "single-value headers"),
            Front::FunctionUrl(ResponseMode::Buffered) => ("Function URL", "BUFFERED invoke mode"),
            Front::FunctionUrl(ResponseMode::Streaming) => {
                ("Function URL", "RESPONSE_STREAM invoke mode")
            }
        }
    }
}

/// What the emulator stands in front of, for its first line.
fn behind(sandboxes: usize, max_concurrency: Option<usize>) -> String {
    let plural = |n: usize, one: &str, many: &str| match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    };
    match max_concurrency {
        None => plural(sandboxes, "Lambda sandbox", "Lambda sandboxes"),
        Some(n) => format!(
            "{} of Lambda Managed Instances, each taking up to {n} invocations at once",
            plural(sandboxes, "environment", "environments")
        ),
    }
}

/// One HTTP request through the eyes of the ALB (or Function URL) and the Lambda loop.
async fn forward(
    api: &RuntimeApi,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    port: u16,
    front: Front,
    timeout: Duration,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    if let Some(refusal) = refuses(&parts, front.max_body()) {
        return status(refusal);
    }
    let body = match Limited::new(body, front.max_body()).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return status(StatusCode::PAYLOAD_TOO_LARGE),
    };
    let event = match front {
        Front::Alb { multi_value } => alb::event_from_http(&parts, &body, peer, port, multi_value),
        Front::FunctionUrl(_) => function_url::event_from_http(&parts, &body, peer, port),
    };
    let (id, outcome) = api.invoke(event).await;
    let json = match (outcome, front) {
        (Outcome::Response(json), _) => json,
        (Outcome::Streamed(stream), Front::FunctionUrl(_)) => {
            return function_url::relay(stream, &id, &parts.method).await
        }
        (Outcome::Streamed(_), Front::Alb { .. }) => {
            tracing::error!(request = %id, "502: the function streamed its answer, which an ALB never asks for (is LAMPHP_RESPONSE_MODE=streaming set for an ALB?)");
            return status(StatusCode::BAD_GATEWAY);
        }
        (failed, _) => {
            let (code, why) = failure(&failed, timeout);
            tracing::error!(request = %id, "{}: {why}", code.as_u16());
            return status(code);
        }
    };
    let res = match front {
        Front::Alb { .. } => alb::http_from_lambda(&json),
        Front::FunctionUrl(_) => function_url::http_from_lambda(&json),
    };
    res.map(|body| match body.is_empty() {
        true => body::ended(),
        false => body::full(body),
    })
}

/// What the ALB answers for an invocation that brought no response, and why, for the
/// log: a function error is a 502, as is a timeout (Lambda's invoke then returns the
/// function error "Task timed out") and a sandbox that died; a request no sandbox took
/// is the emulator's 503 (Lambda would have started another sandbox, or throttled).
fn failure(outcome: &Outcome, timeout: Duration) -> (StatusCode, String) {
    match outcome {
        Outcome::Response(_) | Outcome::Streamed(_) => (StatusCode::OK, "a response".to_owned()),
        Outcome::Error(error) => (
            StatusCode::BAD_GATEWAY,
            format!("the function failed: {}", String::from_utf8_lossy(error)),
        ),
        Outcome::TimedOut(after) => (
            StatusCode::BAD_GATEWAY,
            format!("Task timed out after {:.2} seconds", after.as_secs_f64()),
        ),
        Outcome::Crashed(why) => (
            StatusCode::BAD_GATEWAY,
            format!("the invocation was lost: {why}"),
        ),
        Outcome::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "no sandbox was free to take the request in {} s (the function timeout): raise --sandboxes",
                timeout.as_secs()
            ),
        ),
    }
}

/// What the ALB (or Function URL) answers itself, before invoking anything: a request
/// without the one Host HTTP/1.1 requires, or a declared body over its `limit`
/// (answered at once, not after waiting for the body).
fn refuses(parts: &http::request::Parts, limit: usize) -> Option<StatusCode> {
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
        .filter(|&n| n > limit)
        .map(|_| StatusCode::PAYLOAD_TOO_LARGE)
}

/// What the ALB itself answers with (a bare status; its pages are not ours to copy).
fn status(code: StatusCode) -> Response<Body> {
    let mut res = Response::new(body::empty());
    *res.status_mut() = code;
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_answer_as_the_alb_would() {
        let timeout = Duration::from_secs(3);
        let table = [
            (
                Outcome::Error("{\"errorType\":\"x\"}".into()),
                502,
                "the function failed: {\"errorType\":\"x\"}",
            ),
            (
                Outcome::TimedOut(timeout),
                502,
                "Task timed out after 3.00 seconds",
            ),
            (
                Outcome::Crashed("it exited".into()),
                502,
                "the invocation was lost: it exited",
            ),
            (
                Outcome::Unavailable,
                503,
                "no sandbox was free to take the request in 3 s",
            ),
        ];
        for (outcome, code, why) in table {
            let (status, said) = failure(&outcome, timeout);
            assert_eq!(status.as_u16(), code, "{outcome:?}");
            assert!(said.starts_with(why), "{said}");
        }
    }

    #[test]
    fn the_first_line_says_what_is_behind_the_alb() {
        let table = [
            (1, None, "1 Lambda sandbox"),
            (4, None, "4 Lambda sandboxes"),
            (
                1,
                Some(8),
                "1 environment of Lambda Managed Instances, each taking up to 8 invocations at once",
            ),
        ];
        for (sandboxes, max, want) in table {
            assert_eq!(behind(sandboxes, max), want);
        }
    }

    #[test]
    fn each_front_names_itself_and_takes_bodies_up_to_its_limit() {
        let table = [
            (
                Front::Alb { multi_value: true },
                "ALB",
                "multi-value headers",
                1 << 20,
            ),
            (
                Front::Alb { multi_value: false },
                "ALB",
                "single-value headers",
                1 << 20,
            ),
            (
                Front::FunctionUrl(ResponseMode::Buffered),
                "Function URL",
                "BUFFERED invoke mode",
                6 << 20,
            ),
            (
                Front::FunctionUrl(ResponseMode::Streaming),
                "Function URL",
                "RESPONSE_STREAM invoke mode",
                6 << 20,
            ),
        ];
        for (front, name, detail, limit) in table {
            assert_eq!(front.names(), (name, detail), "{front:?}");
            assert_eq!(front.max_body(), limit, "{front:?}");
            let declared = |n: usize| {
                let req = http::Request::post("/").header("host", "h");
                let req = req.header("content-length", n.to_string());
                refuses(&req.body(()).unwrap().into_parts().0, front.max_body())
            };
            assert_eq!(declared(limit), None, "{front:?}");
            assert_eq!(declared(limit + 1), Some(StatusCode::PAYLOAD_TOO_LARGE));
        }
    }
}
