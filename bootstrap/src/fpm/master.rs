//! One php-fpm master (or php-cgi parent) process and its workers: spawning, readiness,
//! log draining, killing.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::Level;

use super::config::{Backend, Invocation};

/// How many of php-fpm's last output lines are kept for error messages.
const LOG_TAIL: usize = 50;
/// php-fpm cuts its own lines at `log_limit` (1024); this only bounds what a stray write
/// without a newline can make us buffer.
const MAX_LINE: u64 = 16 * 1024;
/// How long to wait for the output of a dead php-fpm to reach EOF. Only a process that
/// escaped its group could hold the pipes open longer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a starting master's socket is tried: its start (10–40 ms) is most of a cold
/// start, so at tokio's timer resolution, which adds half a millisecond on average where
/// 5 ms added 2.5.
const READY_POLL: Duration = Duration::from_millis(1);
/// How often a killed pool's orphans are looked for.
const REAP_POLL: Duration = Duration::from_millis(5);
/// How often a dead master's workers are looked at to see whether they are done.
const RETIRE_POLL: Duration = Duration::from_millis(100);

/// The last lines php-fpm printed, for error messages.
#[derive(Clone, Default)]
pub(super) struct LogTail(Arc<Mutex<VecDeque<String>>>);

impl LogTail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().expect("log tail lock");
        if lines.len() == LOG_TAIL {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub(super) fn clear(&self) {
        self.0.lock().expect("log tail lock").clear();
    }

    pub(super) fn text(&self) -> String {
        let lines = self.0.lock().expect("log tail lock");
        if lines.is_empty() {
            return "(nothing)".to_owned();
        }
        lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// php-fpm's own level words; a worker's output line carries the worker's words.
/// PHP's own messages ("PHP message: …") also reach us on the request's FastCGI stderr
/// stream, tagged with the request; here they are the untagged copy, kept at debug.
pub(super) fn level_of(line: &str) -> Level {
    if line.contains("PHP message: ") {
        Level::DEBUG
    } else if line.contains("ERROR") || line.contains("ALERT") {
        Level::ERROR
    } else if line.contains("WARNING") {
        Level::WARN
    } else {
        Level::INFO
    }
}

async fn drain(stream: impl AsyncRead + Unpin, tail: LogTail, backend: Backend) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        tail.push(line.to_owned());
        // `bootstrap sendmail`'s lines (PHP's mail()) come through PHP's output: passed on
        // as written, so that their level and fields are those of a line of ours. One
        // write under stdout's lock, as tracing writes its own lines.
        if crate::mail::relayed(line) {
            use std::io::Write as _;
            let _ = std::io::stdout()
                .lock()
                .write_all(format!("{line}\n").as_bytes());
            continue;
        }
        // tracing's targets are constants: one arm per backend.
        match (backend, level_of(line)) {
            (Backend::Fpm, Level::ERROR) => tracing::error!(target: "php-fpm", "{line}"),
            (Backend::Fpm, Level::WARN) => tracing::warn!(target: "php-fpm", "{line}"),
            (Backend::Fpm, Level::INFO) => tracing::info!(target: "php-fpm", "{line}"),
            (Backend::Fpm, _) => tracing::debug!(target: "php-fpm", "{line}"),
            (Backend::Cgi, Level::ERROR) => tracing::error!(target: "php-cgi", "{line}"),
            (Backend::Cgi, Level::WARN) => tracing::warn!(target: "php-cgi", "{line}"),
            (Backend::Cgi, Level::INFO) => tracing::info!(target: "php-cgi", "{line}"),
            (Backend::Cgi, _) => tracing::debug!(target: "php-cgi", "{line}"),
        }
    }
}

pub(super) struct Master {
    backend: Backend,
    child: Child,
    /// The master leads its own process group, which its workers inherit, so one signal
    /// reaches them all; a SIGKILLed master leaves its workers running otherwise.
    pgid: libc::pid_t,
    drains: Vec<JoinHandle<()>>,
    started: Instant,
    /// Set once the whole group has been killed and reaped; until then Drop kills it.
    done: bool,
}

impl Master {
    pub(super) fn spawn(
        backend: Backend,
        binary: &Path,
        invocation: &Invocation,
        tail: &LogTail,
    ) -> Result<Master> {
        let started = Instant::now();
        let parent = std::process::id();
        let mut command = Command::new(binary);
        command
            .args(&invocation.args)
            .envs(invocation.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // If the bootstrap dies, php-fpm (php-cgi) gets SIGTERM and takes its workers down
        // with it.
        // The signal fires when the spawning *thread* exits, which is fine for tokio's
        // long-lived worker threads; never spawn from spawn_blocking.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect. (No allocation here:
                // this runs between fork and exec.)
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pgid = child
            .id()
            .with_context(|| format!("{} exited as it started", backend.name()))?
            as libc::pid_t;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let drains = vec![
            tokio::spawn(drain(stdout, tail.clone(), backend)),
            tokio::spawn(drain(stderr, tail.clone(), backend)),
        ];
        Ok(Master {
            backend,
            child,
            pgid,
            drains,
            started,
            done: false,
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.pgid as u32
    }

    pub(super) fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits until `socket` accepts a connection. On failure says why, without php-fpm's
    /// output: the caller adds that once the process is dead and its output flushed.
    pub(super) async fn wait_ready(&mut self, socket: &Path, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .with_context(|| format!("waiting for {}", self.backend.name()))?
            {
                bail!("exited ({status}) before it was ready");
            }
            if UnixStream::connect(socket).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "did not accept connections on {} within {timeout:?}",
                    socket.display()
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Resolves when the master exits on its own.
    pub(super) async fn exited(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// SIGKILLs the whole pool at once (a stuck worker need not honour SIGQUIT), reaps what
    /// is ours to reap and waits for the last output to be logged.
    pub(super) async fn kill(mut self) {
        signal(-self.pgid, libc::SIGKILL);
        if let Err(err) = self.child.wait().await {
            tracing::error!(
                "waiting for {} {} to exit: {err}",
                self.backend.name(),
                self.pgid
            );
        }
        reap_orphans(self.pgid).await;
        self.done = true;
        let deadline = tokio::time::Instant::now() + FLUSH_TIMEOUT;
        for drain in self.drains.drain(..) {
            let _ = tokio::time::timeout_at(deadline, drain).await;
        }
    }

    /// Leaves the workers of this dead master to finish what they run, then kills what is
    /// left of its group: as soon as none of them serves a connection any more, after
    /// `grace` at the latest, or when told to end now. Nothing new reaches them: the next
    /// master binds the socket's path anew, and the client drops its connections to them.
    /// (Killed early rather than at the grace because nothing else would: their master is
    /// gone, and no parent-death signal reaches them if the bootstrap dies.)
    pub(super) fn retire(self, grace: Duration) -> Retired {
        let (now, mut told) = oneshot::channel();
        let task = tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + grace;
            let pgid = self.pgid as u32;
            loop {
                tokio::select! {
                    _ = &mut told => break,
                    () = tokio::time::sleep_until(deadline) => break,
                    () = tokio::time::sleep(RETIRE_POLL) => {}
                }
                if !super::peer::group_holds_a_connection(pgid).unwrap_or(true) {
                    break;
                }
            }
            self.kill().await;
        });
        Retired { now, task }
    }

    /// Stops the pool gracefully (php-fpm: SIGQUIT; php-cgi: SIGTERM, on which its parent
    /// ends its children); whatever is left after `grace` is killed.
    pub(super) async fn stop(mut self, grace: Duration) {
        let (name, pid) = (self.backend.name(), self.pgid);
        let sig = match self.backend {
            Backend::Fpm => libc::SIGQUIT,
            Backend::Cgi => libc::SIGTERM,
        };
        signal(pid, sig);
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => tracing::info!("{name} {pid} stopped ({status})"),
            Ok(Err(err)) => tracing::error!("waiting for {name} {pid} to exit: {err}"),
            Err(_) => tracing::warn!(
                "{name} {pid} did not stop within {grace:?} of signal {sig}; killing it"
            ),
        }
        self.kill().await;
    }
}

/// The workers of a dead master, finishing their requests.
pub(super) struct Retired {
    now: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Retired {
    pub(super) fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Kills them now and returns once they are gone.
    pub(super) async fn end_now(self) {
        let _ = self.now.send(());
        let _ = self.task.await;
    }
}

impl Drop for Master {
    /// A dropped Master (a failed start, the runtime shutting down) must not leave a pool.
    fn drop(&mut self) {
        if !self.done {
            signal(-self.pgid, libc::SIGKILL);
        }
    }
}

fn signal(pid: libc::pid_t, sig: libc::c_int) {
    // ESRCH (already gone) is the only expected failure, and it is the goal anyway.
    unsafe { libc::kill(pid, sig) };
}

/// Workers of a killed master are re-parented to init. When the bootstrap is init (PID 1
/// in a container) or a subreaper, they become our zombies: reap them. Elsewhere waitpid
/// finds no such children and returns at once.
async fn reap_orphans(pgid: libc::pid_t) {
    let deadline = Instant::now() + FLUSH_TIMEOUT;
    loop {
        let pid = unsafe { libc::waitpid(-pgid, std::ptr::null_mut(), libc::WNOHANG) };
        match pid {
            -1 => return,
            0 if Instant::now() >= deadline => return,
            0 => tokio::time::sleep(REAP_POLL).await,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_php_fpms_words() {
        let cases = [
            (
                "[22-Nov-2026 00:10:11] ERROR: FPM initialization failed",
                Level::ERROR,
            ),
            (
                "[22-Nov-2026 00:10:11] ALERT: [pool www] user has not been defined",
                Level::ERROR,
            ),
            (
                "[22-Nov-2026 00:10:11] WARNING: [pool www] child 7 exited on signal 9",
                Level::WARN,
            ),
            (
                "[22-Nov-2026 00:09:27] NOTICE: fpm is running, pid 16170",
                Level::INFO,
            ),
            (
                "NOTICE: PHP message: PHP Warning:  a warning in /x.php on line 4",
                Level::DEBUG,
            ),
            ("plain output of a script", Level::INFO),
        ];
        for (line, level) in cases {
            assert_eq!(level_of(line), level, "{line}");
        }
    }
}
