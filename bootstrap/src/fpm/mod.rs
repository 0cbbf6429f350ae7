//! The supervisor of PHP's FastCGI server, php-fpm or php-cgi (`Backend`): writes php-fpm's
//! pool config or php-cgi's command line, runs it as a child, waits until its socket
//! accepts connections, logs everything it prints, restarts it when it dies, and stops it
//! without leaving a process behind.
//!
//! One task owns the running master; `restart` and shutdown are messages to it, so a crash
//! and a restart never race over the same process. When a master dies on its own, its
//! workers are left to finish the requests they run while a new master starts: what they
//! run reached PHP, and cutting it would fail a request that could have succeeded. The
//! [`Pool`] tells the client which master is current and whether one is up.

mod config;
mod master;
mod peer;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use config::{check_socket_path, find_binary, Backend, FpmConfig};
use master::{LogTail, Master, Retired};

/// How long php-fpm may take to accept connections after it is spawned.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `shutdown` waits for php-fpm to exit on SIGQUIT before killing the pool. (With
/// the reference pool's `process_control_timeout = 0`, php-fpm itself does not wait for
/// busy workers: it ends them at once.)
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A master that ran this long before dying counts as healthy: its replacement starts
/// after the shortest backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// A supervised php-fpm pool.
#[derive(Debug)]
pub struct Fpm {
    /// Holds the state the supervisor publishes, too.
    pool: Pool,
    commands: mpsc::Sender<Restart>,
    supervisor: JoinHandle<()>,
}

/// Whether PHP can take requests now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Ready,
    /// Being started or restarted: a request waits for it.
    Starting,
    /// It could not be started (the reason, with its own words) and is tried again with a
    /// backoff, or the runtime is stopping: a request gets a 503.
    Failing(Arc<str>),
}

/// What the supervisor publishes about the running master.
#[derive(Debug)]
struct State {
    /// 0 while no master runs.
    pid: AtomicU32,
    /// Changes when a master starts and when it is lost, so restarts asked for at the same
    /// time kill the pool once, and connections to a lost master's workers are not reused.
    generation: AtomicU64,
    status: watch::Sender<Status>,
}

impl State {
    fn new() -> State {
        State {
            pid: AtomicU32::new(0),
            generation: AtomicU64::new(0),
            status: watch::Sender::new(Status::Starting),
        }
    }

    fn set(&self, status: Status) {
        self.status.send_replace(status);
    }

    /// The master died or is being killed: a new one is to come, and connections to the
    /// old one's workers are not to be reused.
    fn lost_master(&self) {
        self.pid.store(0, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.set(Status::Starting);
    }
}

/// What the FastCGI client needs of the pool: where it listens, how many workers it has,
/// which master is current and whether one is up, and how to stop a worker.
#[derive(Clone, Debug)]
pub struct Pool {
    socket: PathBuf,
    workers: usize,
    keep_alive: bool,
    /// Whether the bootstrap stops the worker of a request it gave up on (php-cgi, which
    /// has no `request_terminate_timeout`, when a limit is configured; any backend with
    /// [`FpmConfig::kill_timed_out`]).
    stops_workers: bool,
    state: Arc<State>,
}

impl Pool {
    /// The unix socket the pool listens on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Whether a connection may carry more than one request (`FpmConfig::keep_alive`).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Changes whenever the master does: a connection made under an older generation leads
    /// to a worker of a dead or killed master.
    pub fn generation(&self) -> u64 {
        self.state.generation.load(Ordering::SeqCst)
    }

    pub fn status(&self) -> watch::Receiver<Status> {
        self.state.status.subscribe()
    }

    /// Called on a request the client gave up on, while its connection is still open:
    /// kills the worker at the other end, whose master (or php-cgi parent) then starts a
    /// new one. (php-fpm's `request_terminate_timeout` does this a moment later for
    /// php-fpm in `serve`; in one-request Lambda mode the caller restarts the pool instead.)
    pub fn stop_worker(&self, conn: &UnixStream, request: &str) {
        let pgid = self.state.pid.load(Ordering::SeqCst);
        if !self.stops_workers || pgid == 0 {
            return; // php-fpm's own limit, or a pool being restarted: nothing of it is left
        }
        match peer::worker_holding_peer_of(conn, pgid) {
            Ok(Some(pid)) => {
                // SAFETY: a signal to a process of the pool's group, found just now.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                tracing::warn!(%request, "killed PHP worker {pid}: its script ran past the timeout");
            }
            Ok(None) => {
                tracing::debug!(%request, "the timed-out request's PHP worker had already finished")
            }
            Err(err) => tracing::error!(
                %request,
                "cannot find the PHP worker still running the timed-out request to stop it ({err}); it runs on until its script ends"
            ),
        }
    }
}

#[derive(Debug)]
struct Restart {
    seen_generation: u64,
    reply: oneshot::Sender<Result<(), String>>,
}

impl Fpm {
    /// Starts php-fpm and returns once its socket accepts connections.
    pub async fn start(config: FpmConfig) -> Result<Fpm> {
        Self::start_with(config, READY_TIMEOUT).await
    }

    async fn start_with(config: FpmConfig, ready_timeout: Duration) -> Result<Fpm> {
        let binary = find_binary(config.backend, config.binary.as_deref())?;
        // The runtime files are written by `launch`, as before every restart.
        let socket = config::socket_path(&config);
        let state = Arc::new(State::new());
        let pool = Pool {
            socket: socket.clone(),
            workers: config.children.max(1),
            keep_alive: config.keep_alive(),
            stops_workers: config.kill_timed_out
                || (config.backend == Backend::Cgi && config.terminate_after.is_some()),
            state: Arc::clone(&state),
        };
        let supervisor = Supervisor {
            binary,
            config,
            socket,
            ready_timeout,
            tail: LogTail::default(),
            state,
        };
        let master = supervisor.launch().await?;
        let (commands, inbox) = mpsc::channel(16);
        let supervisor = tokio::spawn(supervisor.run(master, inbox));
        Ok(Fpm {
            pool,
            commands,
            supervisor,
        })
    }

    /// What the FastCGI client is made with.
    pub fn pool(&self) -> Pool {
        self.pool.clone()
    }

    /// The running master's pid, `None` while php-fpm is being restarted.
    pub fn pid(&self) -> Option<u32> {
        Some(self.pool.state.pid.load(Ordering::SeqCst)).filter(|&pid| pid != 0)
    }

    /// Kills the whole pool at once (for a worker stuck past its deadline) and starts a new
    /// one; returns when it accepts connections. Restarts asked for while one is under way
    /// are served by that one.
    pub async fn restart(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let restart = Restart {
            seen_generation: self.pool.generation(),
            reply,
        };
        let stopped = || anyhow!("the PHP supervisor has stopped");
        self.commands.send(restart).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map_err(|e| anyhow!(e))
    }

    /// Stops php-fpm: SIGQUIT, then SIGKILL for what is left after `SHUTDOWN_GRACE`.
    /// Returns once no process of the pool is left.
    pub async fn shutdown(self) {
        let Fpm {
            commands,
            supervisor,
            ..
        } = self;
        drop(commands);
        if let Err(err) = supervisor.await {
            tracing::error!("the PHP supervisor failed: {err}");
        }
    }
}

struct Supervisor {
    binary: PathBuf,
    config: FpmConfig,
    socket: PathBuf,
    ready_timeout: Duration,
    tail: LogTail,
    state: Arc<State>,
}

enum Event {
    Exited(std::io::Result<std::process::ExitStatus>),
    Retry,
    Restart(Restart),
    Shutdown,
}

impl Supervisor {
    /// Starts a master and waits until it is ready. On failure the message carries what
    /// it printed, which is where its reasons are.
    async fn launch(&self) -> Result<Master> {
        // Written anew each time, in case something cleaned the runtime dir since.
        let (invocation, _) = config::prepare(&self.config, &self.binary, running_as_root())?;
        match std::fs::remove_file(&self.socket) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(err).context(format!("removing {}", self.socket.display()))
            }
            _ => {}
        }
        self.tail.clear();
        let backend = self.config.backend;
        let name = backend.name();
        let mut master = Master::spawn(backend, &self.binary, &invocation, &self.tail)?;
        match master.wait_ready(&self.socket, self.ready_timeout).await {
            Ok(()) => {
                self.state.pid.store(master.pid(), Ordering::SeqCst);
                self.state.generation.fetch_add(1, Ordering::SeqCst);
                self.state.set(Status::Ready);
                let ready_ms = master.age().as_secs_f64() * 1e3;
                tracing::info!(pid = master.pid(), socket = %self.socket.display(), ready_ms, "{name} is ready");
                Ok(master)
            }
            Err(problem) => {
                master.kill().await;
                let args: Vec<_> = invocation
                    .args
                    .iter()
                    .map(|a| a.to_string_lossy())
                    .collect();
                let err = anyhow!(
                    "{name} ({} {}) {problem:#}. Its output:\n{}",
                    self.binary.display(),
                    args.join(" "),
                    self.tail.text()
                );
                self.state.set(Status::Failing(format!("{err:#}").into()));
                Err(err)
            }
        }
    }

    async fn run(self, master: Master, mut inbox: mpsc::Receiver<Restart>) {
        let mut master = Some(master);
        let mut retired: Vec<Retired> = Vec::new();
        let mut backoff = MIN_BACKOFF;
        loop {
            let event = match master.as_mut() {
                Some(running) => tokio::select! {
                    status = running.exited() => Event::Exited(status),
                    command = inbox.recv() => command.map_or(Event::Shutdown, Event::Restart),
                },
                None => tokio::select! {
                    () = tokio::time::sleep(backoff) => Event::Retry,
                    command = inbox.recv() => command.map_or(Event::Shutdown, Event::Restart),
                },
            };
            match event {
                Event::Exited(status) => {
                    let dead = master.take().expect("a master was running");
                    self.state.lost_master();
                    if dead.age() >= STABLE_AFTER {
                        backoff = MIN_BACKOFF;
                    }
                    let pid = dead.pid();
                    let grace = self.retire_grace();
                    retired.retain(|r| !r.is_finished());
                    retired.push(dead.retire(grace));
                    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                    tracing::error!(
                        "{} {pid} died ({status}); restarting it in {backoff:?}, while its workers finish what they run (what is left of them is killed in {grace:?}). Its last output:\n{}",
                        self.config.backend.name(),
                        self.tail.text()
                    );
                }
                Event::Retry => {
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    match self.launch().await {
                        Ok(started) => master = Some(started),
                        Err(err) => tracing::error!("{err:#}\nTrying again in {backoff:?}."),
                    }
                }
                Event::Restart(restart) => {
                    let current = self.state.generation.load(Ordering::SeqCst);
                    if master.is_some() && restart.seen_generation != current {
                        let _ = restart.reply.send(Ok(()));
                        continue;
                    }
                    if let Some(old) = master.take() {
                        self.state.lost_master();
                        tracing::warn!(
                            "killing {} {} to restart it",
                            self.config.backend.name(),
                            old.pid()
                        );
                        old.kill().await;
                    }
                    let result = self.launch().await;
                    let reply = result.as_ref().map(|_| ()).map_err(|e| format!("{e:#}"));
                    master = result.ok();
                    let _ = restart.reply.send(reply);
                }
                Event::Shutdown => {
                    self.state
                        .set(Status::Failing("the runtime is stopping".into()));
                    if let Some(running) = master.take() {
                        self.state.pid.store(0, Ordering::SeqCst);
                        running.stop(SHUTDOWN_GRACE).await;
                    }
                    for old in retired.drain(..) {
                        old.end_now().await;
                    }
                    let _ = std::fs::remove_file(&self.socket);
                    return;
                }
            }
        }
    }

    /// How long a dead master's workers may finish their requests: as long as a request may
    /// run (php-fpm's limit); in Lambda mode, where a deadline restarts the pool instead,
    /// the shutdown grace.
    fn retire_grace(&self) -> Duration {
        self.config.terminate_after.unwrap_or(SHUTDOWN_GRACE)
    }
}

/// php-fpm refuses to run a pool as root unless told to (`-R`).
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
