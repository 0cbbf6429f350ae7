//! A Lambda Runtime API endpoint, for `bootstrap local`: the bootstrap's own runtime loop
//! polls it exactly as it polls Lambda's, so what runs locally is what runs on Lambda.
//!
//! `GET …/invocation/next` waits for the next event; `POST …/invocation/{id}/response`
//! and `…/error` answer it; `POST …/init/error` says init failed.
//!
//! A response posted in streaming mode (`Lambda-Runtime-Function-Response-Mode:
//! streaming`, a chunked body that may end in error trailers) is handed on while it is
//! still arriving ([`Outcome::Streamed`]): whoever waits for the answer reads the body
//! from the runtime's connection as fast as its own client takes it, and the runtime's
//! POST is answered only once that reader is done with it.
//!
//! Several sandboxes poll one endpoint at once, each under its own path prefix
//! ([`Sandbox::endpoint`]: `http://127.0.0.1:PORT/sandbox-ID`, a form `lambda_runtime`
//! and [`crate::lambda::init_error`] take), so that the endpoint knows who asks. Events
//! wait in one queue, oldest first, and each goes to exactly one poll, of a sandbox with
//! room for it: one invocation at a time for a Lambda sandbox, up to its
//! `AWS_LAMBDA_MAX_CONCURRENCY` for a Managed Instances environment ([`RuntimeApi::attach`]'s
//! `capacity`). An answer is routed by request id back to the request waiting for it.
//!
//! Each invocation's deadline starts when a sandbox takes it, as on Lambda. Every
//! [`RuntimeApi::invoke`] ends: with the function's answer, at the deadline
//! ([`Outcome::TimedOut`]), when its sandbox is gone ([`Outcome::Crashed`]), or, never
//! taken, after a function timeout in the queue ([`Outcome::Unavailable`]).

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Notify};

/// The Runtime API's version in its paths.
const VERSION: &str = "/2018-06-01/runtime/";

/// The function the emulated invocations are of.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:lamphp-local";

/// How an invocation ended.
#[derive(Debug)]
pub enum Outcome {
    /// The function's response payload.
    Response(Bytes),
    /// The function's response, streamed: its body still arriving.
    Streamed(Stream),
    /// The function reported an error (its JSON error document).
    Error(Bytes),
    /// No answer by the deadline, which was this long after the sandbox took it
    /// (Lambda's "Task timed out").
    TimedOut(Duration),
    /// The sandbox running it went away (why).
    Crashed(String),
    /// No sandbox took it within a function timeout: all were busy, or none could start.
    Unavailable,
}

/// A response the runtime is streaming, as it arrives.
#[derive(Debug)]
pub struct Stream {
    /// The POST's Content-Type: `application/vnd.awslambda.http-integration-response`
    /// when the body starts with the HTTP head (the metadata prelude).
    pub content_type: Option<HeaderValue>,
    /// The POST's body, read straight from the runtime's connection: what is not read
    /// is not sent, so a slow reader slows the function down.
    pub body: Incoming,
    /// The invocation's deadline, which ends the stream if the runtime does not.
    pub deadline: tokio::time::Instant,
    /// Dropped when the reader is done with `body`; the runtime's POST is answered then.
    pub relayed: oneshot::Sender<()>,
    /// What to do if the stream outlives `deadline`.
    pub overdue: Overdue,
}

/// The sandbox streaming an answer, to reset if the stream outlives its deadline (the
/// endpoint's own deadline only watches invocations not yet answered).
pub struct Overdue {
    state: Arc<State>,
    sandbox: u64,
}

impl Overdue {
    /// The stream is past its deadline: reset its sandbox as Lambda would (a Managed
    /// Instance serves on).
    pub fn reset(&self) {
        self.state.timed_out(self.sandbox);
    }
}

impl std::fmt::Debug for Overdue {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "Overdue(sandbox {})", self.sandbox)
    }
}

/// A sandbox's state as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Starting,
    /// The loop asked for its first event: init is done.
    Ready,
    /// The runtime reported an init error (its message).
    Failed(String),
}

struct Pending {
    id: String,
    event: Vec<u8>,
    done: oneshot::Sender<Outcome>,
}

/// A sandbox attached to the endpoint, as the endpoint keeps it.
struct Attached {
    /// Invocations it may run at once, and runs.
    capacity: usize,
    busy: usize,
    /// An invocation past its deadline retires the sandbox (Lambda resets it) rather
    /// than only answering for it (Managed Instances leave timeouts to the runtime).
    retire_on_timeout: bool,
    phase: watch::Sender<Phase>,
    /// Told when the sandbox was retired for a timeout, so its process goes too.
    timed_out: Arc<Notify>,
}

struct Inner {
    queue: VecDeque<Pending>,
    /// Request id → (sandbox id, who waits for the answer, its deadline).
    in_flight: HashMap<String, (u64, oneshot::Sender<Outcome>, tokio::time::Instant)>,
    /// The sandboxes that may poll; a retired one is no longer here.
    sandboxes: HashMap<u64, Attached>,
}

struct State {
    inner: Mutex<Inner>,
    /// Woken whenever a poll may now get an event: one was queued, a sandbox got room,
    /// or one was retired. Every poll rechecks, so none misses the event it could take.
    wake: Notify,
    requests: AtomicU64,
    sandboxes: AtomicU64,
    /// The function's timeout: each invocation's deadline, and the longest an event
    /// waits for a sandbox.
    timeout: Duration,
    addr: SocketAddr,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding it; a poisoned lock still holds consistent data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take `id` out of flight, freeing its sandbox's slot; who waits for it, and its
    /// deadline.
    fn finish(
        &self,
        id: &str,
        from: Option<u64>,
    ) -> Option<(oneshot::Sender<Outcome>, tokio::time::Instant)> {
        let mut inner = self.lock();
        let owner = inner.in_flight.get(id)?.0;
        if from.is_some_and(|from| from != owner) {
            return None;
        }
        let (_, done, deadline) = inner.in_flight.remove(id)?;
        if let Some(sandbox) = inner.sandboxes.get_mut(&owner) {
            sandbox.busy -= 1;
        }
        drop(inner);
        self.wake.notify_waiters();
        Some((done, deadline))
    }

    /// Stop handing `sandbox` events; whatever it was running ends with `why`.
    fn retire(&self, sandbox: u64, why: &str) {
        let mut inner = self.lock();
        inner.sandboxes.remove(&sandbox);
        let lost: Vec<String> = inner
            .in_flight
            .iter()
            .filter(|(_, (owner, _, _))| *owner == sandbox)
            .map(|(id, _)| id.clone())
            .collect();
        for id in lost {
            if let Some((_, done, _)) = inner.in_flight.remove(&id) {
                let _ = done.send(Outcome::Crashed(why.to_owned()));
            }
        }
        drop(inner);
        self.wake.notify_waiters();
    }

    /// At `id`'s deadline: if it is still running, answer for it.
    fn expire(&self, id: &str) {
        let mut inner = self.lock();
        let Some((owner, done, _)) = inner.in_flight.remove(id) else {
            return;
        };
        let _ = done.send(Outcome::TimedOut(self.timeout));
        if let Some(sandbox) = inner.sandboxes.get_mut(&owner) {
            sandbox.busy -= 1;
        }
        drop(inner);
        self.timed_out(owner);
    }

    /// One of `sandbox`'s invocations ran past its deadline: a Lambda sandbox is reset
    /// (retired, and its process told to go); a Managed Instance serves on.
    fn timed_out(&self, sandbox: u64) {
        let reset = self
            .lock()
            .sandboxes
            .get(&sandbox)
            .and_then(|s| s.retire_on_timeout.then(|| s.timed_out.clone()));
        match reset {
            Some(timed_out) => {
                self.retire(sandbox, "its sandbox was reset after the timeout");
                timed_out.notify_one();
            }
            None => self.wake.notify_waiters(),
        }
    }
}

/// The endpoint, and the handle to invoke through it.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    state: Arc<State>,
}

/// A sandbox's handle on the endpoint: where its runtime polls, and how it is doing.
pub struct Sandbox {
    pub id: u64,
    /// `AWS_LAMBDA_RUNTIME_API` for its runtime.
    pub endpoint: String,
    pub phase: watch::Receiver<Phase>,
    /// Notified when one of its invocations ran out of time and the endpoint retired it:
    /// its process should be stopped, as Lambda resets a sandbox after a timeout.
    pub timed_out: Arc<Notify>,
}

impl Sandbox {
    /// Wait until its runtime finished init (or failed it); `Starting` if the endpoint
    /// went away first.
    pub async fn initialised(&mut self) -> Phase {
        let phase = self.phase.wait_for(|phase| *phase != Phase::Starting).await;
        phase.map_or(Phase::Starting, |phase| phase.clone())
    }
}

impl RuntimeApi {
    /// Listen on a free loopback port. Invocations get `timeout` as their deadline.
    pub async fn start(timeout: Duration) -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                in_flight: HashMap::new(),
                sandboxes: HashMap::new(),
            }),
            wake: Notify::new(),
            requests: AtomicU64::new(1),
            sandboxes: AtomicU64::new(1),
            timeout,
            addr,
        });
        let serving = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = serving.clone();
                let service = service_fn(move |req| route(state.clone(), req));
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Ok(RuntimeApi { addr, state })
    }

    /// A new sandbox that may run `capacity` invocations at once; one past its deadline
    /// retires it when `retire_on_timeout`.
    pub fn attach(&self, capacity: usize, retire_on_timeout: bool) -> Sandbox {
        let id = self.state.sandboxes.fetch_add(1, Ordering::Relaxed);
        let (phase_tx, phase) = watch::channel(Phase::Starting);
        let timed_out = Arc::new(Notify::new());
        self.state.lock().sandboxes.insert(
            id,
            Attached {
                capacity: capacity.max(1),
                busy: 0,
                retire_on_timeout,
                phase: phase_tx,
                timed_out: timed_out.clone(),
            },
        );
        Sandbox {
            id,
            endpoint: format!("http://{}/sandbox-{id}", self.state.addr),
            phase,
            timed_out,
        }
    }

    /// The sandbox is gone (`why`): it gets no more events, and those it was running end
    /// as [`Outcome::Crashed`].
    pub fn detach(&self, sandbox: u64, why: &str) {
        self.state.retire(sandbox, why);
    }

    /// Hand `event` to the first sandbox free to take it; its request id, and how it
    /// ended.
    pub async fn invoke(&self, event: Vec<u8>) -> (String, Outcome) {
        let n = self.state.requests.fetch_add(1, Ordering::Relaxed);
        let id = format!("local-{n:08x}");
        let (done, mut answer) = oneshot::channel();
        self.state.lock().queue.push_back(Pending {
            id: id.clone(),
            event,
            done,
        });
        self.state.wake.notify_waiters();
        let lost = || Outcome::Crashed("the emulator dropped it".to_owned());
        tokio::select! {
            outcome = &mut answer => return (id, outcome.unwrap_or_else(|_| lost())),
            () = tokio::time::sleep(self.state.timeout) => {}
        }
        let withdrawn = {
            let mut inner = self.state.lock();
            let at = inner.queue.iter().position(|p| p.id == id);
            at.and_then(|at| inner.queue.remove(at)).is_some()
        };
        if withdrawn {
            return (id, Outcome::Unavailable);
        }
        // Taken meanwhile: its deadline (or its sandbox's end) answers it.
        let outcome = answer.await.unwrap_or_else(|_| lost());
        (id, outcome)
    }
}

/// What a request to the endpoint asks.
#[derive(Debug, PartialEq, Eq)]
enum Call<'a> {
    Next,
    Answer { id: &'a str, error: bool },
    InitError,
}

/// The sandbox a path is under and what it asks: `/sandbox-ID/2018-06-01/runtime/…`.
fn parse<'a>(method: &Method, path: &'a str) -> Option<(u64, Call<'a>)> {
    let at = path.find(VERSION)?;
    let sandbox = path[..at].strip_prefix("/sandbox-")?.parse().ok()?;
    let rest: Vec<&str> = path[at + VERSION.len()..].split('/').collect();
    let call = match (method, rest.as_slice()) {
        (&Method::GET, ["invocation", "next"]) => Call::Next,
        (&Method::POST, ["invocation", id, kind @ ("response" | "error")]) => Call::Answer {
            id,
            error: *kind == "error",
        },
        (&Method::POST, ["init", "error"]) => Call::InitError,
        _ => return None,
    };
    Some((sandbox, call))
}

async fn route(
    state: Arc<State>,
    req: hyper::Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_owned();
    let Some((sandbox, call)) = parse(req.method(), &path) else {
        return Ok(refusal(
            StatusCode::NOT_FOUND,
            "no such Runtime API call here",
        ));
    };
    match call {
        Call::Next => Ok(next(&state, sandbox).await),
        Call::Answer { id, error } => {
            let streamed = !error
                && req
                    .headers()
                    .get("lambda-runtime-function-response-mode")
                    .is_some_and(|mode| mode.as_bytes().eq_ignore_ascii_case(b"streaming"));
            let content_type = req.headers().get(http::header::CONTENT_TYPE).cloned();
            // A streamed body is not read here: it goes on as it comes.
            let (body, streamed) = match streamed {
                true => (None, Some(req.into_body())),
                false => (Some(req.into_body().collect().await?.to_bytes()), None),
            };
            let Some((done, deadline)) = state.finish(id, Some(sandbox)) else {
                return Ok(refusal(
                    StatusCode::BAD_REQUEST,
                    "no invocation of this sandbox has that id (answered already, or past its deadline)",
                ));
            };
            if let Some(body) = streamed {
                let (relayed, released) = oneshot::channel();
                let stream = Stream {
                    content_type,
                    body,
                    deadline,
                    relayed,
                    overdue: Overdue {
                        state: state.clone(),
                        sandbox,
                    },
                };
                // If nobody waits any more, the stream is dropped, and `released` ends
                // at once: the runtime's POST is answered with its body unread.
                let _ = done.send(Outcome::Streamed(stream));
                let _ = released.await;
                return Ok(status(StatusCode::ACCEPTED));
            }
            let body = body.unwrap_or_default();
            let _ = done.send(match error {
                false => Outcome::Response(body),
                true => Outcome::Error(body),
            });
            Ok(status(StatusCode::ACCEPTED))
        }
        Call::InitError => {
            let body = req.into_body().collect().await?.to_bytes();
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("errorMessage")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            if let Some(attached) = state.lock().sandboxes.get(&sandbox) {
                attached.phase.send_replace(Phase::Failed(message));
            }
            Ok(status(StatusCode::ACCEPTED))
        }
    }
}

/// The next event for `sandbox`, once there is one it has room for.
async fn next(state: &Arc<State>, sandbox: u64) -> Response<Full<Bytes>> {
    loop {
        // Registered before looking, so a wake between the look and the wait is not lost.
        let woken = state.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if let Some(taken) = take(state, sandbox) {
            return taken;
        }
        woken.await;
    }
}

/// An event for `sandbox` if there is one and it has room (a response to send), or its
/// refusal if it was retired; `None` to wait.
fn take(state: &Arc<State>, sandbox: u64) -> Option<Response<Full<Bytes>>> {
    let mut inner = state.lock();
    let Inner {
        queue,
        in_flight,
        sandboxes,
    } = &mut *inner;
    let Some(attached) = sandboxes.get_mut(&sandbox) else {
        return Some(refusal(StatusCode::GONE, "this sandbox was retired"));
    };
    // Its first poll ends its init, as on Lambda.
    attached.phase.send_if_modified(|phase| {
        let starting = *phase == Phase::Starting;
        if starting {
            *phase = Phase::Ready;
        }
        starting
    });
    if attached.busy >= attached.capacity {
        return None;
    }
    // A request whose client went away before any sandbox took it is not run.
    let pending = std::iter::from_fn(|| queue.pop_front()).find(|p| !p.done.is_closed())?;
    attached.busy += 1;
    let timeout = state.timeout;
    let ends = tokio::time::Instant::now() + timeout;
    in_flight.insert(pending.id.clone(), (sandbox, pending.done, ends));
    drop(inner);
    let deadline = SystemTime::now() + timeout;
    let expiring = state.clone();
    let id = pending.id.clone();
    tokio::spawn(async move {
        tokio::time::sleep_until(ends).await;
        expiring.expire(&id);
    });
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    // ALB invocations carry no client context or Cognito identity: Lambda then sends
    // neither header.
    let response = Response::builder()
        .header("Lambda-Runtime-Aws-Request-Id", &pending.id)
        .header("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string())
        .header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
        .header("Lambda-Runtime-Trace-Id", trace_id(&pending.id, deadline))
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(pending.event)))
        .expect("valid response");
    Some(response)
}

/// An X-Ray trace header as Lambda sends one: `Root=1-{epoch seconds, 8 hex}-{24 hex}`,
/// the 24 hex digits those of the request id's number (after its last `-`), not sampled.
fn trace_id(request: &str, at: SystemTime) -> String {
    let seconds = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let number = request.rsplit('-').next().unwrap_or_default();
    let digits: String = number.chars().filter(char::is_ascii_hexdigit).collect();
    let tail = &digits[digits.len().saturating_sub(24)..];
    format!(
        "Root=1-{:08x}-{tail:0>24};Parent={:016x};Sampled=0",
        seconds as u32,
        seconds ^ 0x6c61_6d70_6870
    )
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = code;
    res
}

/// A refusal with the JSON error document the Runtime API answers with.
fn refusal(code: StatusCode, why: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "errorMessage": why, "errorType": "InvalidRequest" });
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = code;
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_sandbox_and_the_call() {
        let get = Method::GET;
        let post = Method::POST;
        type Row<'a> = (&'a Method, &'a str, Option<(u64, Call<'a>)>);
        let table: [Row; 9] = [
            (
                &get,
                "/sandbox-3/2018-06-01/runtime/invocation/next",
                Some((3, Call::Next)),
            ),
            (
                &post,
                "/sandbox-12/2018-06-01/runtime/invocation/local-0000000a/response",
                Some((
                    12,
                    Call::Answer {
                        id: "local-0000000a",
                        error: false,
                    },
                )),
            ),
            (
                &post,
                "/sandbox-1/2018-06-01/runtime/invocation/x/error",
                Some((
                    1,
                    Call::Answer {
                        id: "x",
                        error: true,
                    },
                )),
            ),
            (
                &post,
                "/sandbox-1/2018-06-01/runtime/init/error",
                Some((1, Call::InitError)),
            ),
            // No sandbox: nobody this endpoint started.
            (&get, "/2018-06-01/runtime/invocation/next", None),
            (&get, "/sandbox-x/2018-06-01/runtime/invocation/next", None),
            (&get, "/other/2018-06-01/runtime/invocation/next", None),
            (&post, "/sandbox-1/2018-06-01/runtime/invocation/next", None),
            (
                &get,
                "/sandbox-1/2018-06-01/runtime/invocation/x/y/response",
                None,
            ),
        ];
        for (method, path, want) in table {
            assert_eq!(parse(method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn trace_ids_have_x_rays_shape() {
        let at = UNIX_EPOCH + Duration::from_secs(0x6543_2100);
        let table = [
            (
                "local-0000002a",
                "Root=1-65432100-00000000000000000000002a;Parent=",
            ),
            (
                "local-ffffffffffffffffffffffffffff",
                "Root=1-65432100-ffffffffffffffffffffffff;Parent=",
            ),
        ];
        for (request, want) in table {
            let id = trace_id(request, at);
            assert!(id.starts_with(want), "{id}");
            assert!(id.ends_with(";Sampled=0"), "{id}");
            let parent = id.split("Parent=").nth(1).unwrap();
            assert_eq!(parent.split(';').next().unwrap().len(), 16, "{id}");
        }
    }

    /// A call of `sandbox`'s runtime, through its endpoint's host and prefix as it would
    /// make it: (status, headers lower-cased, body).
    async fn call(
        endpoint: String,
        method: &'static str,
        call: String,
        body: Vec<u8>,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rest = endpoint.strip_prefix("http://").unwrap();
        let (host, prefix) = rest.split_at(rest.find('/').unwrap());
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        let head = format!(
            "{method} {prefix}/2018-06-01/runtime/{call} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.lines();
        let code = lines.next().unwrap()[9..12].parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned()))
            .collect();
        (code, headers, raw[split + 4..].to_vec())
    }

    type Answer = (u16, Vec<(String, String)>, Vec<u8>);

    fn poll(sandbox: &Sandbox) -> tokio::task::JoinHandle<Answer> {
        let endpoint = sandbox.endpoint.clone();
        tokio::spawn(call(endpoint, "GET", "invocation/next".into(), Vec::new()))
    }

    async fn answer(sandbox: &Sandbox, id: &str, body: &[u8]) -> u16 {
        let path = format!("invocation/{id}/response");
        call(sandbox.endpoint.clone(), "POST", path, body.to_vec())
            .await
            .0
    }

    fn invoke(api: &Arc<RuntimeApi>, event: &str) -> tokio::task::JoinHandle<(String, Outcome)> {
        let (api, event) = (api.clone(), event.as_bytes().to_vec());
        tokio::spawn(async move { api.invoke(event).await })
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
    }

    async fn api(timeout_ms: u64) -> Arc<RuntimeApi> {
        let timeout = Duration::from_millis(timeout_ms);
        Arc::new(RuntimeApi::start(timeout).await.unwrap())
    }

    #[tokio::test]
    async fn each_event_goes_to_one_sandbox_and_its_answer_back_to_its_caller() {
        let api = api(30_000).await;
        let (mut a, b) = (api.attach(1, true), api.attach(1, true));
        let polls = [poll(&a), poll(&b)];
        assert_eq!(a.initialised().await, Phase::Ready);
        let calls = [invoke(&api, "{\"n\":0}"), invoke(&api, "{\"n\":1}")];
        let mut taken = Vec::new();
        for (poll, (sandbox, other)) in polls.into_iter().zip([(&a, &b), (&b, &a)]) {
            let (code, headers, body) = poll.await.unwrap();
            assert_eq!(code, 200);
            let id = header(&headers, "lambda-runtime-aws-request-id").to_owned();
            let deadline: u128 = header(&headers, "lambda-runtime-deadline-ms")
                .parse()
                .unwrap();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis();
            assert!(
                deadline > now + 29_000 && deadline <= now + 30_000,
                "{deadline} {now}"
            );
            let arn = header(&headers, "lambda-runtime-invoked-function-arn");
            assert_eq!(arn, FUNCTION_ARN);
            assert!(header(&headers, "lambda-runtime-trace-id").starts_with("Root=1-"));
            // Only the sandbox running it answers for it.
            assert_eq!(answer(other, &id, b"{}").await, 400);
            assert_eq!(
                answer(sandbox, &id, &[b"echo:", &body[..]].concat()).await,
                202
            );
            assert_eq!(answer(sandbox, &id, b"{}").await, 400, "answered twice");
            taken.push(body);
        }
        taken.sort();
        assert_eq!(taken, [b"{\"n\":0}".to_vec(), b"{\"n\":1}".to_vec()]);
        for call in calls {
            let (id, outcome) = call.await.unwrap();
            assert!(id.starts_with("local-"), "{id}");
            let Outcome::Response(body) = outcome else {
                panic!("{outcome:?}")
            };
            assert!(body.starts_with(b"echo:{\"n\":"), "{body:?}");
        }
    }

    #[tokio::test]
    async fn a_busy_sandbox_gets_no_more_than_its_capacity() {
        let api = api(30_000).await;
        let one = api.attach(1, true);
        let calls = [invoke(&api, "{}"), invoke(&api, "{}"), invoke(&api, "{}")];
        poll(&one).await.unwrap();
        let second = poll(&one);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "a busy sandbox got a second event");
        // A Managed Instances environment of 2 takes the two left at once.
        let two = api.attach(2, false);
        let (a, b) = (poll(&two), poll(&two));
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert_eq!((a.0, b.0), (200, 200));
        let id = |headers: &[(String, String)]| {
            header(headers, "lambda-runtime-aws-request-id").to_owned()
        };
        assert_ne!(id(&a.1), id(&b.1));
        for (_, headers, _) in [&a, &b] {
            assert_eq!(answer(&two, &id(headers), b"2").await, 202);
        }
        assert!(!second.is_finished());
        for call in calls {
            call.abort();
        }
    }

    #[tokio::test]
    async fn a_sandbox_with_room_again_takes_the_next_event() {
        let api = api(30_000).await;
        let one = api.attach(1, true);
        let calls = [invoke(&api, "{\"n\":0}"), invoke(&api, "{\"n\":1}")];
        let (_, headers, _) = poll(&one).await.unwrap();
        let second = poll(&one);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!second.is_finished());
        let id = header(&headers, "lambda-runtime-aws-request-id").to_owned();
        assert_eq!(answer(&one, &id, b"done").await, 202);
        let (code, headers, _) = second.await.unwrap();
        assert_eq!(code, 200);
        let id = header(&headers, "lambda-runtime-aws-request-id").to_owned();
        assert_eq!(answer(&one, &id, b"done").await, 202);
        for call in calls {
            assert!(matches!(call.await.unwrap().1, Outcome::Response(_)));
        }
    }

    #[tokio::test]
    async fn past_its_deadline_an_invocation_times_out_and_resets_a_lambda_sandbox() {
        let api = api(300).await;
        let sandbox = api.attach(1, true);
        let call = invoke(&api, "{}");
        let (_, headers, _) = poll(&sandbox).await.unwrap();
        let (id, outcome) = call.await.unwrap();
        assert!(
            matches!(outcome, Outcome::TimedOut(t) if t == Duration::from_millis(300)),
            "{outcome:?}"
        );
        tokio::time::timeout(Duration::from_secs(1), sandbox.timed_out.notified())
            .await
            .expect("the sandbox told to go");
        assert_eq!(header(&headers, "lambda-runtime-aws-request-id"), id);
        assert_eq!(answer(&sandbox, &id, b"late").await, 400);
        assert_eq!(poll(&sandbox).await.unwrap().0, 410);
    }

    #[tokio::test]
    async fn a_managed_instance_keeps_serving_after_a_timeout() {
        let api = api(300).await;
        let sandbox = api.attach(2, false);
        let call = invoke(&api, "{}");
        poll(&sandbox).await.unwrap();
        assert!(matches!(call.await.unwrap().1, Outcome::TimedOut(_)));
        let call = invoke(&api, "{}");
        let (code, headers, _) = poll(&sandbox).await.unwrap();
        assert_eq!(code, 200);
        let id = header(&headers, "lambda-runtime-aws-request-id").to_owned();
        assert_eq!(answer(&sandbox, &id, b"ok").await, 202);
        assert!(matches!(call.await.unwrap().1, Outcome::Response(b) if b == "ok"));
    }

    #[tokio::test]
    async fn a_sandbox_gone_ends_its_invocation_and_no_sandbox_ends_a_wait() {
        let api = api(400).await;
        let sandbox = api.attach(1, true);
        let call = invoke(&api, "{}");
        poll(&sandbox).await.unwrap();
        api.detach(sandbox.id, "exited (signal 9)");
        let (_, outcome) = call.await.unwrap();
        assert!(
            matches!(&outcome, Outcome::Crashed(why) if why == "exited (signal 9)"),
            "{outcome:?}"
        );
        assert_eq!(poll(&sandbox).await.unwrap().0, 410);
        let start = std::time::Instant::now();
        let (_, outcome) = invoke(&api, "{}").await.unwrap();
        assert!(matches!(outcome, Outcome::Unavailable), "{outcome:?}");
        assert!(start.elapsed() >= Duration::from_millis(400));
        // Withdrawn: a sandbox attached now finds nothing to run.
        let late = api.attach(1, true);
        let polled = poll(&late);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!polled.is_finished());
        polled.abort();
    }

    #[tokio::test]
    async fn an_init_error_is_the_sandboxs_phase() {
        let api = api(30_000).await;
        let mut sandbox = api.attach(1, true);
        let body = br#"{"errorMessage":"no php-fpm","errorType":"Runtime.InitError"}"#;
        let (code, _, _) = call(
            sandbox.endpoint.clone(),
            "POST",
            "init/error".into(),
            body.to_vec(),
        )
        .await;
        assert_eq!(code, 202);
        assert_eq!(
            sandbox.initialised().await,
            Phase::Failed("no php-fpm".into())
        );
    }

    #[tokio::test]
    async fn a_streamed_answer_is_handed_on_as_it_comes_and_answered_once_read() {
        use http_body_util::BodyExt;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let api = api(30_000).await;
        let sandbox = api.attach(1, true);
        let call = invoke(&api, "{}");
        let (_, headers, _) = poll(&sandbox).await.unwrap();
        let id = header(&headers, "lambda-runtime-aws-request-id").to_owned();
        let rest = sandbox.endpoint.strip_prefix("http://").unwrap();
        let (host, prefix) = rest.split_at(rest.find('/').unwrap());
        let mut post = tokio::net::TcpStream::connect(host).await.unwrap();
        let head = format!(
            "POST {prefix}/2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: {host}\r\n\
             Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n\
             Content-Type: application/vnd.awslambda.http-integration-response\r\n\r\n5\r\nfirst\r\n"
        );
        post.write_all(head.as_bytes()).await.unwrap();
        // Handed on before the body is complete.
        let (_, outcome) = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .expect("the stream was handed on before it ended")
            .unwrap();
        let Outcome::Streamed(mut stream) = outcome else {
            panic!("{outcome:?}")
        };
        let content_type = stream.content_type.clone().unwrap();
        assert_eq!(
            content_type,
            "application/vnd.awslambda.http-integration-response"
        );
        let deadline = stream.deadline - tokio::time::Instant::now();
        assert!(deadline > Duration::from_secs(29), "{deadline:?}");
        let frame = stream.body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "first");
        post.write_all(b"4\r\nlast\r\n0\r\n\r\n").await.unwrap();
        let frame = stream.body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "last");
        // The runtime's POST is answered only once the reader is done with the body.
        let mut answer = [0; 12];
        let early = tokio::time::timeout(Duration::from_millis(200), post.read(&mut answer)).await;
        assert!(
            early.is_err(),
            "answered while the stream was still being read"
        );
        // Past its deadline, a stream resets its Lambda sandbox.
        stream.overdue.reset();
        tokio::time::timeout(Duration::from_secs(1), sandbox.timed_out.notified())
            .await
            .expect("the sandbox told to go");
        assert_eq!(poll(&sandbox).await.unwrap().0, 410);
        drop(stream);
        post.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 202");
    }
}
