//! The supervisor of PHP's FastCGI server, php-fpm or php-cgi (`Backend`): writes php-fpm's
//! pool config or php-cgi's command line, runs it as a child, waits until its socket
//! accepts connections, logs everything it prints, restarts it when it dies, and stops it
//! without leaving a process behind.
//!
//! One task owns the running master; `restart` and shutdown are messages to it, so a crash
//! and a restart never race over the same process.

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
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::fastcgi::client::StopWorker;
pub use config::{check_socket_path, find_binary, Backend, FpmConfig};
use master::{LogTail, Master};

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
    socket: PathBuf,
    /// Whether the bootstrap stops the worker of a request it gave up on (php-cgi, which
    /// has no `request_terminate_timeout`, when a limit is configured).
    stops_workers: bool,
    commands: mpsc::Sender<Restart>,
    state: Arc<State>,
    supervisor: JoinHandle<()>,
}

/// What the supervisor publishes about the running master.
#[derive(Debug, Default)]
struct State {
    /// 0 while no master runs.
    pid: AtomicU32,
    /// Counts masters started, so restarts asked for at the same time kill the pool once.
    generation: AtomicU64,
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
        let stops_workers = config.backend == Backend::Cgi && config.terminate_after.is_some();
        let supervisor = Supervisor {
            binary,
            config,
            socket: socket.clone(),
            ready_timeout,
            tail: LogTail::default(),
            state: Arc::default(),
        };
        let master = supervisor.launch().await?;
        let state = supervisor.state.clone();
        let (commands, inbox) = mpsc::channel(16);
        let supervisor = tokio::spawn(supervisor.run(master, inbox));
        Ok(Fpm {
            socket,
            stops_workers,
            commands,
            state,
            supervisor,
        })
    }

    /// The unix socket to send FastCGI requests to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The running master's pid, `None` while php-fpm is being restarted.
    pub fn pid(&self) -> Option<u32> {
        Some(self.state.pid.load(Ordering::SeqCst)).filter(|&pid| pid != 0)
    }

    /// What the client calls on a request it gave up on, when the bootstrap must stop its
    /// worker: php-cgi's. (php-fpm's `request_terminate_timeout` does it for php-fpm; with
    /// no limit configured, as in Lambda mode, the caller restarts the pool instead.)
    pub fn worker_stopper(&self) -> Option<Arc<dyn StopWorker>> {
        self.stops_workers.then(|| {
            Arc::new(WorkerStopper {
                state: Arc::clone(&self.state),
            }) as Arc<dyn StopWorker>
        })
    }

    /// Kills the whole pool at once (for a worker stuck past its deadline) and starts a new
    /// one; returns when it accepts connections. Restarts asked for while one is under way
    /// are served by that one.
    pub async fn restart(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let restart = Restart {
            seen_generation: self.state.generation.load(Ordering::SeqCst),
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

/// Kills the php-cgi child at the other end of a connection whose request timed out; its
/// parent starts a new one.
struct WorkerStopper {
    state: Arc<State>,
}

impl StopWorker for WorkerStopper {
    fn stop_worker(&self, conn: &UnixStream, request: &str) {
        let pgid = self.state.pid.load(Ordering::SeqCst);
        if pgid == 0 {
            return; // being restarted: no worker of the old pool is left
        }
        match peer::worker_holding_peer_of(conn, pgid) {
            Ok(Some(pid)) => {
                // SAFETY: a signal to a process of the pool's group, found just now.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                tracing::warn!(%request, "killed php-cgi worker {pid}: its script ran past the timeout");
            }
            Ok(None) => {
                tracing::debug!(%request, "the timed-out request's php-cgi worker had already finished")
            }
            Err(err) => tracing::error!(
                %request,
                "cannot find the php-cgi worker still running the timed-out request to stop it ({err}); it runs on until its script ends"
            ),
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
                tracing::info!(pid = master.pid(), socket = %self.socket.display(), "{name} is ready");
                Ok(master)
            }
            Err(problem) => {
                master.kill().await;
                let args: Vec<_> = invocation
                    .args
                    .iter()
                    .map(|a| a.to_string_lossy())
                    .collect();
                Err(anyhow!(
                    "{name} ({} {}) {problem:#}. Its output:\n{}",
                    self.binary.display(),
                    args.join(" "),
                    self.tail.text()
                ))
            }
        }
    }

    async fn run(self, master: Master, mut inbox: mpsc::Receiver<Restart>) {
        let mut master = Some(master);
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
                    self.state.pid.store(0, Ordering::SeqCst);
                    if dead.age() >= STABLE_AFTER {
                        backoff = MIN_BACKOFF;
                    }
                    let pid = dead.pid();
                    dead.kill().await;
                    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                    tracing::error!(
                        "{} {pid} died ({status}); restarting it in {backoff:?}. Its last output:\n{}",
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
                        self.state.pid.store(0, Ordering::SeqCst);
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
                    if let Some(running) = master.take() {
                        self.state.pid.store(0, Ordering::SeqCst);
                        running.stop(SHUTDOWN_GRACE).await;
                    }
                    let _ = std::fs::remove_file(&self.socket);
                    return;
                }
            }
        }
    }
}

/// php-fpm refuses to run a pool as root unless told to (`-R`).
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
