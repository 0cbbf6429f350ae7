//! Requests to php-fpm over keep-alive Unix socket connections.
//!
//! php-fpm binds a worker to a connection for as long as the connection stays open, so
//! an idle pooled connection holds a worker hostage. We therefore never open more
//! connections than php-fpm has workers (a semaphore), or a request could wait forever
//! for a worker that an idle connection of ours keeps.
//!
//! A worker recycled by `pm.max_requests` ends its connection after its last response:
//! it shuts down its side, then reads and discards whatever we send until we close
//! (php-src `fcgi_close`). Pooled connections are checked before reuse, but a request
//! can still go out in the moment before that shutdown arrives. A request is never sent
//! to PHP twice, so a connection that ends before answering is retried only when it is
//! certain PHP never ran the request: the peer ended without a byte, is still reading
//! (a crashed worker's socket is gone: writing to it fails), and the request has no
//! body we would have to send again.
//!
//! A request that could not connect never reached PHP, so while the supervisor restarts
//! PHP it waits for the new master, within its deadline, and gets a 503 only when PHP
//! cannot be started. Connections are tagged with the master they were made under: one to
//! a lost master's workers finishes its request but is not reused.
//!
//! Each request runs in its own task, which writes the request body while reading the
//! response: a script may print more than a socket buffer before it reads its input.

use crate::body::Body;
use crate::cgi::response::{find_head_end, parse_head, HeadError};
use crate::cgi::{CgiHead, Params};
use crate::fastcgi::record::{self, Frame, PairTooLarge, ProtocolError};
use crate::fpm::{Pool, Status};
use crate::request::{BoxError, RequestBody};
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http_body::Body as _;
use http_body_util::{BodyExt, StreamBody};
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout_at, Instant};

/// nginx refuses a larger head with "upstream sent too big header"; its default buffer
/// is 4 KiB, which real sites outgrow with cookies, so we allow more.
const MAX_HEAD: usize = 64 * 1024;

/// How often a request waiting for PHP to come back tries to connect, besides when the
/// supervisor says it is ready: a connect can fail before the supervisor has seen the
/// master die, or while a full listen backlog refuses it.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// A pool of connections to one php-fpm socket.
pub struct Client {
    pool: Pool,
    /// Idle connections, with the generation of the master they were made under.
    idle: Mutex<Vec<(u64, UnixStream)>>,
    workers: Arc<Semaphore>,
}

/// A response whose head has arrived; the body streams on.
pub struct Exchange {
    pub head: CgiHead,
    pub body: Body,
}

#[derive(Debug, Error)]
pub enum FastCgiError {
    #[error(transparent)]
    PairTooLarge(#[from] PairTooLarge),
    #[error("cannot connect to php-fpm at {path}: {source}")]
    Connect { path: PathBuf, source: io::Error },
    #[error("PHP is not running: {0}")]
    Unavailable(Arc<str>),
    #[error("php-fpm closed the connection before sending a response head")]
    Closed,
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error(transparent)]
    Head(#[from] HeadError),
    #[error("php-fpm sent a response head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("php-fpm did not answer within {0:?}")]
    Timeout(Duration),
    #[error("reading the request body: {0}")]
    RequestBody(BoxError),
    #[error("talking to php-fpm: {0}")]
    Io(#[from] io::Error),
}

impl FastCgiError {
    /// The status nginx answers with for this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            FastCgiError::PairTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            FastCgiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            FastCgiError::RequestBody(_) => StatusCode::BAD_REQUEST,
            FastCgiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

impl Client {
    /// A client for the supervised PHP pool `pool`.
    pub fn new(pool: Pool) -> Arc<Client> {
        Arc::new(Client {
            idle: Mutex::new(Vec::with_capacity(pool.workers())),
            workers: Arc::new(Semaphore::new(pool.workers())),
            pool,
        })
    }

    /// Send a request; resolves once the response head has arrived. `deadline` bounds
    /// the whole exchange, body included; `request_id` tags PHP's stderr lines.
    pub async fn send(
        self: &Arc<Self>,
        params: &Params,
        body: RequestBody,
        deadline: Instant,
        request_id: Arc<str>,
    ) -> Result<Exchange, FastCgiError> {
        let mut prelude = BytesMut::new();
        record::encode_prelude(params, &mut prelude)?;
        let worker = Arc::clone(&self.workers)
            .acquire_owned()
            .await
            .expect("the worker semaphore is never closed");
        let (head_tx, head_rx) = oneshot::channel();
        let (body_tx, body_rx) = mpsc::channel(8);
        let job = Job {
            client: Arc::clone(self),
            prelude: prelude.freeze(),
            body,
            deadline,
            request_id,
            _worker: worker,
        };
        tokio::spawn(job.run(head_tx, body_tx));
        let head = head_rx.await.map_err(|_| FastCgiError::Closed)??;
        Ok(Exchange {
            head,
            body: stream_body(body_rx),
        })
    }

    /// A pooled connection to the current master's workers, else a new one; the
    /// generation it was made under; whether it was pooled.
    async fn connection(&self, deadline: Instant) -> Result<(UnixStream, u64, bool), FastCgiError> {
        let current = self.pool.generation();
        loop {
            let pooled = {
                let mut idle = self.idle.lock().expect("pool lock");
                // Connections to a lost master's workers go at once: those workers are
                // killed as soon as they serve none.
                idle.retain(|(generation, _)| *generation == current);
                idle.pop()
            };
            match pooled {
                Some((generation, conn)) if is_open(&conn) => return Ok((conn, generation, true)),
                Some(_) => continue,
                None => break,
            }
        }
        let (conn, generation) = self.connect(deadline).await?;
        Ok((conn, generation, false))
    }

    /// Connects to PHP's socket. A refused connection never reached PHP: while PHP is being
    /// (re)started, it waits for it, within the request's deadline; while PHP cannot be
    /// started, it is a 503 with the reason.
    async fn connect(&self, deadline: Instant) -> Result<(UnixStream, u64), FastCgiError> {
        let mut status = self.pool.status();
        loop {
            let generation = self.pool.generation();
            let source = match UnixStream::connect(self.pool.socket()).await {
                Ok(conn) => return Ok((conn, generation)),
                Err(e) => e,
            };
            let refused = matches!(
                source.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::WouldBlock
            );
            let connect_error = || FastCgiError::Connect {
                path: self.pool.socket().to_owned(),
                source,
            };
            if !refused {
                return Err(connect_error());
            }
            if let Status::Failing(why) = &*status.borrow_and_update() {
                return Err(FastCgiError::Unavailable(Arc::clone(why)));
            }
            tokio::select! {
                changed = status.changed() => if changed.is_err() {
                    return Err(FastCgiError::Unavailable("its supervisor has stopped".into()));
                },
                () = tokio::time::sleep(RECONNECT_PAUSE) => {}
                () = tokio::time::sleep_until(deadline) => return Err(FastCgiError::Unavailable(
                    format!("{} and it did not come back within the request's timeout", connect_error()).into(),
                )),
            }
        }
    }

    fn release(&self, generation: u64, conn: UnixStream) {
        if self.pool.keep_alive() {
            self.idle
                .lock()
                .expect("pool lock")
                .push((generation, conn));
        }
    }
}

/// Whether php-fpm still holds its end: nothing to read and no EOF. A direct `recv`
/// with MSG_PEEK, because tokio's cached readiness may not have seen the FIN yet.
fn is_open(conn: &UnixStream) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a valid buffer on a socket we own.
    let n = unsafe {
        libc::recv(
            conn.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}

/// Whether the peer of a connection that sent us EOF still reads what we write: a
/// recycled worker draining its socket (it never ran what we sent), rather than a worker
/// that died (its socket is closed, and a write fails with EPIPE).
fn draining(conn: &UnixStream) -> bool {
    let byte = 0u8;
    // SAFETY: a one-byte send from a valid buffer on a socket we own; MSG_NOSIGNAL so a
    // closed peer is an error, not a signal.
    let sent = unsafe {
        libc::send(
            conn.as_raw_fd(),
            (&byte as *const u8).cast(),
            1,
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    sent == 1
}

fn stream_body(rx: mpsc::Receiver<io::Result<Bytes>>) -> Body {
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item.map(http_body::Frame::data), rx))
    });
    StreamBody::new(frames).boxed_unsync()
}

type HeadTx = oneshot::Sender<Result<CgiHead, FastCgiError>>;
type BodyTx = mpsc::Sender<io::Result<Bytes>>;

/// One request's life on a connection.
struct Job {
    client: Arc<Client>,
    prelude: Bytes,
    body: RequestBody,
    deadline: Instant,
    request_id: Arc<str>,
    _worker: OwnedSemaphorePermit,
}

/// How an attempt on one connection ended.
enum Outcome {
    /// END_REQUEST arrived and the connection is clean: reuse it.
    Done,
    /// Finished, but the connection must not be reused (client gone, body cut short).
    Abandoned,
}

impl Job {
    async fn run(mut self, head_tx: HeadTx, body_tx: BodyTx) {
        let mut head_tx = Some(head_tx);
        let replayable = self.body.is_end_stream();
        let mut retried = false;
        let err = loop {
            let (mut conn, generation, reused) = match self.client.connection(self.deadline).await {
                Ok(c) => c,
                Err(e) => break e,
            };
            let mut got_bytes = false;
            let deadline = self.deadline;
            let attempt = self.attempt(&mut conn, &mut head_tx, &body_tx, &mut got_bytes);
            let result = match timeout_at(deadline, attempt).await {
                Ok(result) => result,
                Err(_) => {
                    self.client.pool.stop_worker(&conn, &self.request_id);
                    Err(FastCgiError::Timeout(self.timeout_hint()))
                }
            };
            match result {
                Ok(Outcome::Done) => return self.client.release(generation, conn),
                Ok(Outcome::Abandoned) => return,
                Err(FastCgiError::Closed)
                    if reused
                        && !got_bytes
                        && replayable
                        && !retried
                        && head_tx.is_some()
                        && draining(&conn) =>
                {
                    tracing::debug!(request = %self.request_id, "a recycled php-fpm worker discarded the request unread; sending it on a new connection");
                    retried = true;
                }
                Err(e) => break e,
            }
        };
        match head_tx.take() {
            Some(tx) => {
                let _ = tx.send(Err(err));
            }
            None => {
                tracing::error!(request = %self.request_id, "response cut short: {err}");
                let _ = body_tx.send(Err(io::Error::other(err))).await;
            }
        }
    }

    fn timeout_hint(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    async fn attempt(
        &mut self,
        conn: &mut UnixStream,
        head_tx: &mut Option<HeadTx>,
        body_tx: &BodyTx,
        got_bytes: &mut bool,
    ) -> Result<Outcome, FastCgiError> {
        let (mut rd, mut wr) = conn.split();
        let prelude = &self.prelude;
        let body = &mut self.body;
        let writer = async move {
            wr.write_all(prelude).await?;
            let mut buf = BytesMut::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(FastCgiError::RequestBody)?;
                if let Ok(data) = frame.into_data() {
                    record::encode_stdin(&data, &mut buf);
                    wr.write_all(&buf).await?;
                    buf.clear();
                }
            }
            record::encode_stdin_end(&mut buf);
            wr.write_all(&buf).await?;
            Ok::<_, FastCgiError>(())
        };
        let reader = read_response(&mut rd, head_tx, body_tx, &self.request_id, got_bytes);
        tokio::pin!(writer, reader);
        let (mut written, mut cut) = (false, false);
        loop {
            tokio::select! {
                w = &mut writer, if !written => {
                    written = true;
                    match w {
                        // PHP may answer without reading all of its input and close at once
                        // (php-cgi does after its last request before recycling): the
                        // answer can still be whole, so it is read to its end.
                        Err(FastCgiError::Io(e)) if matches!(
                            e.kind(),
                            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                        ) => cut = true,
                        w => w?,
                    }
                }
                r = &mut reader => {
                    return match r? {
                        Outcome::Done if written && !cut => Ok(Outcome::Done),
                        _ => Ok(Outcome::Abandoned),
                    };
                }
            }
        }
    }
}

async fn read_response(
    rd: &mut (impl AsyncReadExt + Unpin),
    head_tx: &mut Option<HeadTx>,
    body_tx: &BodyTx,
    request_id: &str,
    got_bytes: &mut bool,
) -> Result<Outcome, FastCgiError> {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut head = BytesMut::new();
    loop {
        while let Some(frame) = record::decode(&mut buf)? {
            match frame {
                Frame::Stdout(data) if head_tx.is_some() => {
                    head.extend_from_slice(&data);
                    let Some((head_len, body_start)) = find_head_end(&head) else {
                        if head.len() > MAX_HEAD {
                            return Err(FastCgiError::HeadTooLarge);
                        }
                        continue;
                    };
                    let parsed = parse_head(&head[..head_len])?;
                    let rest = head.split_off(body_start).freeze();
                    let _ = head_tx.take().expect("checked above").send(Ok(parsed));
                    if !rest.is_empty() && body_tx.send(Ok(rest)).await.is_err() {
                        return Ok(Outcome::Abandoned);
                    }
                }
                Frame::Stdout(data) => {
                    if body_tx.send(Ok(data)).await.is_err() {
                        return Ok(Outcome::Abandoned);
                    }
                }
                Frame::Stderr(data) => log_stderr(request_id, &data),
                Frame::End { .. } if head_tx.is_some() => return Err(FastCgiError::Closed),
                Frame::End { .. } => return Ok(Outcome::Done),
            }
        }
        if rd.read_buf(&mut buf).await? == 0 {
            return Err(FastCgiError::Closed);
        }
        *got_bytes = true;
    }
}

/// What PHP writes to the FastCGI stderr stream (warnings and notices when
/// `log_errors` goes to the SAPI), tagged with the request it belongs to.
fn log_stderr(request_id: &str, data: &[u8]) {
    for line in String::from_utf8_lossy(data)
        .lines()
        .filter(|l| !l.is_empty())
    {
        tracing::warn!(target: "php", request = %request_id, "{line}");
    }
}
