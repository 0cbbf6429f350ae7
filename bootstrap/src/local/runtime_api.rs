//! A Lambda Runtime API endpoint, for `bootstrap local`: the bootstrap's own runtime loop
//! polls it exactly as it polls Lambda's, so what runs locally is what runs on Lambda.
//!
//! `GET …/invocation/next` waits for the next event; `POST …/invocation/{id}/response`
//! and `…/error` answer it; `POST …/init/error` says init failed. One invocation at a
//! time reaches the loop, as in a Lambda sandbox.

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

/// How an invocation ended.
#[derive(Debug)]
pub enum Outcome {
    /// The function's response payload.
    Response(Bytes),
    /// The function reported an error (its JSON error document).
    Error(Bytes),
}

/// The runtime's state as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Starting,
    /// The loop asked for its first event: init is done.
    Ready,
    /// The runtime reported an init error (its message).
    Failed(String),
}

struct Pending {
    event: Vec<u8>,
    done: oneshot::Sender<Outcome>,
}

struct State {
    queue: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    phase: watch::Sender<Phase>,
    ids: AtomicU64,
    /// What the loop is told its deadline is.
    timeout: Duration,
}

/// The endpoint, and the handle to invoke through it.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    submit: mpsc::Sender<Pending>,
    phase: watch::Receiver<Phase>,
}

impl RuntimeApi {
    /// Listen on a free loopback port. Invocations get `timeout` as their deadline.
    pub async fn start(timeout: Duration) -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (submit, queue) = mpsc::channel(64);
        let (phase_tx, phase) = watch::channel(Phase::Starting);
        let state = Arc::new(State {
            queue: tokio::sync::Mutex::new(queue),
            in_flight: Mutex::new(HashMap::new()),
            phase: phase_tx,
            ids: AtomicU64::new(1),
            timeout,
        });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                let service = service_fn(move |req| route(state.clone(), req));
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Ok(RuntimeApi {
            addr,
            submit,
            phase,
        })
    }

    /// Wait until the runtime finished init (or failed it).
    /// Where init is now.
    pub fn phase(&self) -> Phase {
        self.phase.borrow().clone()
    }

    pub async fn phase_change(&mut self) -> Phase {
        let _ = self.phase.changed().await;
        self.phase.borrow().clone()
    }

    /// Hand `event` to the runtime loop and wait for its answer.
    pub async fn invoke(&self, event: Vec<u8>) -> Option<Outcome> {
        let (done, answer) = oneshot::channel();
        self.submit.send(Pending { event, done }).await.ok()?;
        answer.await.ok()
    }
}

async fn route(
    state: Arc<State>,
    req: hyper::Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.find("/2018-06-01/runtime/").map(|i| &path[i + 20..]) else {
        return Ok(status(StatusCode::NOT_FOUND));
    };
    match (req.method(), rest.split('/').collect::<Vec<_>>().as_slice()) {
        (&Method::GET, ["invocation", "next"]) => Ok(next(&state).await),
        (&Method::POST, ["invocation", id, kind @ ("response" | "error")]) => {
            let body = req.into_body().collect().await?.to_bytes();
            let done = state.in_flight.lock().expect("lock").remove(*id);
            let Some(done) = done else {
                return Ok(status(StatusCode::BAD_REQUEST));
            };
            let outcome = if *kind == "response" {
                Outcome::Response(body)
            } else {
                Outcome::Error(body)
            };
            let _ = done.send(outcome);
            Ok(status(StatusCode::ACCEPTED))
        }
        (&Method::POST, ["init", "error"]) => {
            let body = req.into_body().collect().await?.to_bytes();
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.get("errorMessage")
                        .and_then(|m| m.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            let _ = state.phase.send(Phase::Failed(message));
            Ok(status(StatusCode::ACCEPTED))
        }
        _ => Ok(status(StatusCode::NOT_FOUND)),
    }
}

/// The next event, once there is one. Its deadline is real (epoch milliseconds), so the
/// runtime's deadline handling works as on Lambda.
async fn next(state: &State) -> Response<Full<Bytes>> {
    state.phase.send_if_modified(|phase| {
        let starting = *phase == Phase::Starting;
        if starting {
            *phase = Phase::Ready;
        }
        starting
    });
    let Some(pending) = state.queue.lock().await.recv().await else {
        return status(StatusCode::GONE);
    };
    let id = format!("local-{:08x}", state.ids.fetch_add(1, Ordering::Relaxed));
    let deadline = SystemTime::now() + state.timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    state
        .in_flight
        .lock()
        .expect("lock")
        .insert(id.clone(), pending.done);
    Response::builder()
        .header("Lambda-Runtime-Aws-Request-Id", &id)
        .header("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string())
        .header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:local:000000000000:function:lamphp-local",
        )
        .header(
            "Lambda-Runtime-Trace-Id",
            format!("Root=1-00000000-{id};Sampled=0"),
        )
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(pending.event)))
        .expect("valid response")
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = code;
    res
}
