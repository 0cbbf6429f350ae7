//! The emulated sandboxes of `bootstrap local`: each a child `bootstrap lambda` with the
//! environment Lambda gives a sandbox, polling the one [`RuntimeApi`] under its own
//! prefix, with its own php-fpm, its own runtime directory and its own `/tmp` (`TMPDIR`,
//! which PHP's temporary files, uploads and file sessions follow), as each Lambda sandbox
//! has its own.
//!
//! A sandbox whose runtime exits, or that was reset because an invocation ran past the
//! function timeout, is logged and replaced by a new one in a fresh directory, as Lambda
//! starts a new execution environment; the others serve meanwhile, and its invocation in
//! flight gets a 502. A replacement that fails its init is retried, waiting longer each
//! time (1 s, doubling, up to 30 s), since a broken site would otherwise spin.

use super::runtime_api::{Phase, RuntimeApi};
use super::{LocalSettings, LocalSite};
use anyhow::{bail, Context, Result};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// The running sandboxes; they stop when this is stopped or dropped.
pub struct Sandboxes {
    tasks: JoinSet<()>,
    dirs: Vec<PathBuf>,
    /// The runtime directory, if we made it (and so remove it).
    made: Option<PathBuf>,
}

/// What every sandbox is started with.
struct Spec {
    site: LocalSite,
    /// `Some(n)`: a Managed Instances environment running up to `n` invocations at once.
    max_concurrency: Option<usize>,
    /// `Some(mode)` behind a Function URL: its invoke mode is the runtime's response mode.
    function_url: Option<crate::lambda::stream::ResponseMode>,
}

/// Start `settings.sandboxes` sandboxes against `api` and wait until each has finished
/// init; the first that fails it is the error.
pub async fn start(settings: &LocalSettings, api: Arc<RuntimeApi>) -> Result<Sandboxes> {
    let spec = Arc::new(Spec {
        site: settings.site.clone(),
        max_concurrency: settings.max_concurrency,
        function_url: settings.function_url,
    });
    let made = (!settings.runtime_dir.exists()).then(|| settings.runtime_dir.clone());
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&settings.runtime_dir)
        .with_context(|| {
            format!(
                "creating the runtime directory {} (--runtime-dir / LAMPHP_RUNTIME_DIR)",
                settings.runtime_dir.display()
            )
        })?;
    let mut sandboxes = Sandboxes {
        tasks: JoinSet::new(),
        dirs: Vec::new(),
        made,
    };
    let mut inits = Vec::new();
    for slot in 0..settings.sandboxes {
        let dir = settings.runtime_dir.join(format!("sandbox-{slot}"));
        let (ready, init) = oneshot::channel();
        let task = keep(slot, dir.clone(), spec.clone(), api.clone(), ready);
        sandboxes.tasks.spawn(task);
        sandboxes.dirs.push(dir);
        inits.push(init);
    }
    // The first failure, whichever sandbox it is: the others may still be starting.
    let inits = inits
        .into_iter()
        .enumerate()
        .map(|(slot, init)| async move {
            match init.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(why)) => Err((slot, why)),
                Err(_) => Err((slot, "its supervisor stopped".to_owned())),
            }
        });
    if let Err((slot, why)) = futures_util::future::try_join_all(inits).await {
        sandboxes.stop().await;
        bail!("the Lambda runtime of sandbox {slot} failed to start: {why}");
    }
    Ok(sandboxes)
}

impl Sandboxes {
    /// Stop every sandbox (their runtimes are killed, and php-fpm with them) and remove
    /// their directories, and the runtime directory if it was ours.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
        for dir in self.dirs.iter().chain(&self.made) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// How a sandbox ended.
enum Ended {
    /// Before it was ready (why).
    Init(String),
    /// After (why).
    Serving(String),
}

/// Keep sandbox `slot` running: start it, tell `ready` how its first init went, and
/// replace it whenever it ends.
async fn keep(
    slot: usize,
    dir: PathBuf,
    spec: Arc<Spec>,
    api: Arc<RuntimeApi>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    let mut ready = Some(ready);
    let mut failures = 0;
    loop {
        match incarnation(slot, &dir, &spec, &api, &mut ready).await {
            Ended::Init(why) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(why));
                    return;
                }
                failures += 1;
                let delay = restart_delay(failures);
                tracing::error!(
                    sandbox = slot,
                    "a new sandbox {slot} failed to start: {why}; trying again in {} s",
                    delay.as_secs()
                );
                tokio::time::sleep(delay).await;
            }
            Ended::Serving(why) => {
                failures = 0;
                tracing::error!(
                    sandbox = slot,
                    "sandbox {slot} stopped: {why}; starting a new one, as Lambda would"
                );
            }
        }
    }
}

/// One life of sandbox `slot`, in a fresh `dir`.
async fn incarnation(
    slot: usize,
    dir: &Path,
    spec: &Spec,
    api: &RuntimeApi,
    ready: &mut Option<oneshot::Sender<Result<(), String>>>,
) -> Ended {
    // A Lambda sandbox stays after a timeout only under Managed Instances, which leave
    // per-request timeouts to the runtime.
    let mut sandbox = api.attach(
        spec.max_concurrency.unwrap_or(1),
        spec.max_concurrency.is_none(),
    );
    let mut child = match fresh_dirs(dir).and_then(|()| spawn(spec, &sandbox.endpoint, dir)) {
        Ok(child) => child,
        Err(e) => {
            let why = format!("{e:#}");
            api.detach(sandbox.id, &why);
            return Ended::Init(why);
        }
    };
    let phase = sandbox.phase.clone();
    let init = tokio::select! {
        phase = sandbox.initialised() => match phase {
            Phase::Ready => Ok(()),
            Phase::Failed(why) => Err(why),
            Phase::Starting => Err("the Runtime API emulator stopped".to_owned()),
        },
        // An init error is reported before the runtime exits: it says more than the exit.
        status = child.wait() => Err(match &*phase.borrow() {
            Phase::Failed(why) => why.clone(),
            _ => format!("it exited during init ({})", exit(status)),
        }),
    };
    if let Err(why) = init {
        api.detach(sandbox.id, &why);
        return Ended::Init(why);
    }
    match ready.take() {
        Some(ready) => {
            let _ = ready.send(Ok(()));
        }
        None => tracing::info!(sandbox = slot, "sandbox {slot} is ready again"),
    }
    let why = tokio::select! {
        status = child.wait() => format!("its Lambda runtime exited ({})", exit(status)),
        () = sandbox.timed_out.notified() => {
            let _ = child.kill().await;
            "an invocation ran past the function timeout, and Lambda resets a sandbox then"
                .to_owned()
        }
    };
    api.detach(sandbox.id, &why);
    Ended::Serving(why)
}

fn exit(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("its status unknown: {e}"),
    }
}

/// The wait before starting sandbox again after `failures` inits in a row failed:
/// 1 s, doubling, at most 30 s.
fn restart_delay(failures: u32) -> Duration {
    let seconds = 1u64 << failures.saturating_sub(1).min(5);
    Duration::from_secs(seconds.min(30))
}

/// `dir` emptied, with `run` (`LAMPHP_RUNTIME_DIR`) and `tmp` (`TMPDIR`) in it: a new
/// sandbox starts with nothing its predecessor left.
fn fresh_dirs(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("emptying {}", dir.display()));
        }
        _ => {}
    }
    for sub in ["run", "tmp"] {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    Ok(())
}

/// This binary's Lambda loop, with the environment Lambda gives a sandbox. Its logs go
/// where ours go. It dies with us (SIGKILL on drop, and the kernel's parent-death
/// signal if we are killed), and its php-fpm with it.
fn spawn(spec: &Spec, endpoint: &str, dir: &Path) -> Result<Child> {
    let exe = std::env::current_exe().context("finding this binary to run its Lambda loop")?;
    let mut command = Command::new(exe);
    command
        .arg("lambda")
        .env("AWS_LAMBDA_RUNTIME_API", endpoint)
        .env("AWS_LAMBDA_FUNCTION_NAME", "lamphp-local")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("LAMPHP_RUNTIME_DIR", dir.join("run"))
        .env("TMPDIR", dir.join("tmp"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    match spec.max_concurrency {
        Some(n) => command.env("AWS_LAMBDA_MAX_CONCURRENCY", n.to_string()),
        None => command.env_remove("AWS_LAMBDA_MAX_CONCURRENCY"),
    };
    // Behind a Function URL the function must answer in the URL's invoke mode, as on
    // Lambda, whatever our own environment says; an ALB's events are answered buffered
    // in either mode.
    if let Some(mode) = spec.function_url {
        command.env("LAMPHP_RESPONSE_MODE", mode.as_str());
    }
    match &spec.site {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_to_half_a_minute() {
        let table = [
            (1, 1),
            (2, 2),
            (3, 4),
            (4, 8),
            (5, 16),
            (6, 30),
            (7, 30),
            (99, 30),
        ];
        for (failures, seconds) in table {
            assert_eq!(
                restart_delay(failures),
                Duration::from_secs(seconds),
                "{failures}"
            );
        }
    }

    #[test]
    fn a_new_sandbox_gets_empty_directories() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path().join("sandbox-0");
        fresh_dirs(&sandbox).unwrap();
        std::fs::write(sandbox.join("tmp/left-behind"), "x").unwrap();
        fresh_dirs(&sandbox).unwrap();
        for sub in ["run", "tmp"] {
            let entries = std::fs::read_dir(sandbox.join(sub)).unwrap().count();
            assert_eq!(entries, 0, "{sub}");
        }
    }
}
