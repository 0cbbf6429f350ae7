//! One invocation: event in, JSON out, through the same core as `serve`.
//!
//! The event is decoded (a malformed HTTP event is a 400 in its own format; a release
//! command runs in [`crate::release`]; anything else goes back to the Runtime API as an
//! error), the request runs until the invocation's deadline less a margin, the response
//! is collected (Lambda answers whole) and made to fit the ALB's 1 MB ([`super::fit`]), and one JSON log line
//! records it. A request that used up its time may have left a worker stuck, so php-fpm
//! is restarted before the next invocation.

use super::event::{self, EventError, HttpEvent};
use super::{deadline, fit};
use crate::app::App;
use crate::body::Body;
use crate::error_page;
use crate::fpm::Fpm;
use crate::lambda::offload::Offload;
use crate::lambda::shrink;
use crate::release::Releases;
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body_util::BodyExt;
use lambda_runtime::LambdaEvent;
use lamphp_protocol::Command;
use serde_json::value::RawValue;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::{timeout_at, Instant};

/// What an invocation needs, shared by all of them.
pub struct Invoker {
    /// `None` until a release is deployed: the function was set up for releases
    /// (`LAMPHP_RELEASES`) but has none yet, so HTTP events get a 503.
    pub app: Option<App>,
    pub releases: Releases,
    pub fpm: Fpm,
    pub offload: Option<Offload>,
    /// Time kept back before Lambda's deadline to answer and to restart php-fpm.
    pub margin: Duration,
    /// The budget when Lambda's deadline cannot be believed.
    pub fallback_timeout: Duration,
    /// Largest response body collected; past it, 502 (an ALB response is 1 MB, an S3
    /// offload is not bounded, but the sandbox's memory is).
    pub max_response: usize,
    pub warned_deadline: AtomicBool,
    /// Where the session service reads the current request's deadline (epoch ms), the
    /// end of its locks' leases; `None` without sessions, and when several requests run
    /// at once.
    pub session_deadline: Option<Arc<AtomicU64>>,
    /// Several requests at once (Managed Instances): each gets at most the configured
    /// timeout, and a request given up on has its worker killed, not the pool restarted.
    pub concurrent: bool,
}

/// An event that is no HTTP request: reported to the Runtime API's error endpoint.
pub type InvokeError = lambda_runtime::Error;

impl Invoker {
    pub async fn invoke(
        self: Arc<Self>,
        event: LambdaEvent<Box<RawValue>>,
    ) -> Result<Box<RawValue>, InvokeError> {
        let (payload, ctx) = event.into_parts();
        let id: Arc<str> = ctx.request_id.as_str().into();
        let (started, deadline) = self.start(ctx.deadline);
        let HttpEvent { request, kind } = match event::decode(payload.get().as_bytes()) {
            Ok(event) => event,
            Err(EventError::BadRequest {
                kind,
                refusal,
                reason,
            }) => {
                tracing::warn!(request = %id, "{}: {reason}", refusal.status().as_u16());
                let reply = fit::page_reply(refusal.status(), &refusal.html());
                return Ok(event::encode(kind, &reply.as_reply()));
            }
            Err(EventError::UnknownShape) => {
                return self.command(payload.get(), &id, deadline).await
            }
            Err(e) => {
                tracing::error!(request = %id, "not an HTTP event: {e}");
                return Err(e.into());
            }
        };
        let Some(app) = &self.app else {
            tracing::error!(request = %id, "503: no release deployed yet (run `lamphp deploy`)");
            let reply = fit::page_reply(
                StatusCode::SERVICE_UNAVAILABLE,
                &error_page::html(StatusCode::SERVICE_UNAVAILABLE),
            );
            return Ok(event::encode(kind, &reply.as_reply()));
        };
        let method = request.head.method.clone();
        let path = String::from_utf8_lossy(&request.head.path).into_owned();
        let gzip_ok = shrink::accepts_gzip(&request.head.headers);
        let bytes_in = http_body::Body::size_hint(&request.body)
            .exact()
            .unwrap_or(0);
        let response = app.handle(request, id.clone(), deadline).await;
        let (mut parts, body) = response.into_parts();
        let body = match collect(body, deadline, self.max_response).await {
            Ok(body) => body,
            Err(status) => {
                tracing::error!(request = %id, "{} while reading the response of {method} {path}", status.as_u16());
                parts = http::Response::new(()).into_parts().0;
                parts.status = status;
                Bytes::from(error_page::html(status))
            }
        };
        let php_time = started.elapsed();
        if Instant::now() >= deadline {
            self.ran_out_of_time(&id).await;
        }
        let answer = fit::fit(
            kind,
            parts,
            body,
            &method,
            gzip_ok,
            // Half the margin kept back before Lambda's deadline is the upload's; the
            // rest answers.
            self.offload
                .as_ref()
                .map(|o| (o, deadline + self.margin / 2)),
            &id,
        )
        .await;
        RequestLog {
            id: &id,
            method: &method,
            path: &path,
            status: answer.status,
            started,
            php_time,
            bytes_in,
            bytes_out: answer.json.get().len() as u64,
        }
        .emit();
        Ok(answer.json)
    }

    /// An invocation's start and the time its request has: the deadline, which the
    /// session service's lock leases follow too.
    pub(super) fn start(&self, deadline_ms: u64) -> (Instant, Instant) {
        let started = Instant::now();
        let mut budget = self.budget(deadline_ms);
        if self.concurrent {
            budget = budget.min(self.fallback_timeout);
        }
        if let Some(lease) = &self.session_deadline {
            // The worker may run until php-fpm is restarted after the budget: the
            // margin covers that.
            let end = SystemTime::now() + budget + self.margin;
            let ms = end
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            lease.store(ms, Ordering::Relaxed);
        }
        (started, started + budget)
    }

    /// An invocation that is no HTTP event: a release command, or an error.
    async fn command(
        &self,
        payload: &str,
        id: &str,
        deadline: Instant,
    ) -> Result<Box<RawValue>, InvokeError> {
        let command = match Command::decode(payload.as_bytes()) {
            Ok(Some(command)) => command,
            Ok(None) => {
                tracing::error!(request = %id, "not an HTTP event: {}", EventError::UnknownShape);
                return Err(EventError::UnknownShape.into());
            }
            Err(e) => {
                tracing::error!(request = %id, "{e}");
                return Err(e.into());
            }
        };
        match self.releases.run(command, deadline).await {
            Ok(answer) => Ok(serde_json::value::to_raw_value(&answer)
                .expect("a serde_json::Value always serialises")),
            Err(e) => {
                tracing::error!(request = %id, "release command failed: {e:#}");
                Err(format!("{e:#}").into())
            }
        }
    }

    /// The request's time: until Lambda's deadline less the margin, or the configured
    /// timeout when the deadline is not plausible (local emulators), said once.
    fn budget(&self, deadline_ms: u64) -> Duration {
        deadline::budget(deadline_ms, SystemTime::now(), self.margin).unwrap_or_else(|| {
            if !self.warned_deadline.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "the invocation deadline {deadline_ms} is not plausible (an emulator?); requests get LAMPHP_TIMEOUT ({:?}) instead",
                    self.fallback_timeout
                );
            }
            self.fallback_timeout
        })
    }

    /// After a request that used up its time. One request at a time: a worker stuck past
    /// the deadline is cut by a restart. Several: the client killed the worker it gave up
    /// on, and php-fpm's own limit stops one still writing a body nobody reads; a restart
    /// would cut the others.
    pub(super) async fn ran_out_of_time(&self, id: &str) {
        if self.concurrent {
            return;
        }
        tracing::warn!(request = %id, "the request ran out of time; restarting php-fpm so no worker stays stuck");
        if let Err(e) = self.fpm.restart().await {
            tracing::error!("restarting php-fpm failed: {e:#}");
        }
    }
}

/// The one JSON log line of a request (target `lamphp::request`), buffered or streamed.
pub(super) struct RequestLog<'a> {
    pub id: &'a str,
    pub method: &'a http::Method,
    pub path: &'a str,
    pub status: StatusCode,
    pub started: Instant,
    pub php_time: Duration,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl RequestLog<'_> {
    pub fn emit(&self) {
        tracing::info!(
            target: "lamphp::request",
            request = %self.id,
            method = %self.method,
            path = %self.path,
            status = self.status.as_u16(),
            total_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            php_ms = self.php_time.as_secs_f64() * 1000.0,
            bytes_in = self.bytes_in,
            bytes_out = self.bytes_out,
        );
    }
}

/// The whole body, by `deadline`, at most `max` bytes.
async fn collect(mut body: Body, deadline: Instant, max: usize) -> Result<Bytes, StatusCode> {
    let mut whole = BytesMut::new();
    loop {
        let frame = match timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(StatusCode::GATEWAY_TIMEOUT),
            Ok(None) => return Ok(whole.freeze()),
            Ok(Some(Err(_))) => return Err(StatusCode::BAD_GATEWAY),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if whole.len() + data.len() > max {
                return Err(StatusCode::BAD_GATEWAY);
            }
            whole.extend_from_slice(&data);
        }
    }
}
