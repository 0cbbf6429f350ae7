//! The reference oracle, nginx + php-fpm from tests/reference/start.sh, and the process
//! helpers every server guard uses. Its `Drop` stops it, so a failing or panicking test
//! leaves nothing running. No dependency on the parity crate: tests/wordpress runs its
//! checks against the reference too.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::{free_port, wait_for_port};
use tempfile::TempDir;

/// How long a server may take to accept its first connection.
pub const STARTUP: Duration = Duration::from_secs(20);
/// How long a stopped server may take to exit before it is killed.
pub const SHUTDOWN: Duration = Duration::from_secs(5);
/// Free ports are found by binding port 0 and releasing it; another process may grab the
/// port in between, so a start that fails is retried with new ports this many times.
const ATTEMPTS: usize = 3;

/// The project's copy of the reference oracle (start.sh and its templates).
pub fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/reference")
}

/// Fails (never skips) when the reference's programs are not installed. start.sh finds
/// them through PATH, so that is where they are looked for.
pub fn require_reference_programs() {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = |name: &str| {
        path.split(':')
            .any(|dir| Path::new(dir).join(name).is_file())
    };
    assert!(
        found("nginx") && (found("php-fpm8.2") || found("php-fpm")),
        "the parity suite needs the reference oracle's programs: apt-get install nginx php8.2-fpm"
    );
}

/// The environment both sides' PHP servers are started with, and so all of it that a
/// script sees besides its request: `PATH` alone (dump.php leaves out exactly the names
/// this and the shell running start.sh give php-fpm). Anything else in a dump came with
/// the request or was added by the server under test. `LAMPHP_PHP_BACKEND` is passed on
/// when set: it chooses lamphp's backend (departure (k)).
pub fn php_environment(command: &mut Command) -> &mut Command {
    command.env_clear();
    for name in ["PATH", "LAMPHP_PHP_BACKEND"] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
}

pub fn run_with_retries<T>(what: &str, mut start: impl FnMut() -> Result<T, String>) -> T {
    let mut errors = Vec::new();
    for _ in 0..ATTEMPTS {
        match start() {
            Ok(server) => return server,
            Err(e) => errors.push(e),
        }
    }
    panic!(
        "{what} did not start ({ATTEMPTS} attempts):\n{}",
        errors.join("\n---\n")
    );
}

/// Whether `pid` has exited (gone, or a zombie nobody reaped yet).
fn exited(pid: libc::pid_t) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// Sends SIGTERM to `pid`, waits for it to go, then SIGKILLs it.
fn stop_pid(pid: libc::pid_t) {
    // SAFETY: kill(2) has no memory-safety preconditions; pid names a process we started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + SHUTDOWN;
    while Instant::now() < deadline && !exited(pid) {
        sleep(Duration::from_millis(20));
    }
    if !exited(pid) {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// nginx + php-fpm started by the reference's start.sh, with its direct and ALB servers.
pub struct Reference {
    /// Its config, sockets, pid files and logs.
    pub run: TempDir,
    pub direct_port: u16,
    pub alb_port: u16,
}

impl Reference {
    pub fn start(root: &Path) -> Reference {
        run_with_retries("the reference (nginx + php-fpm)", || {
            Reference::try_start(root)
        })
    }

    fn try_start(root: &Path) -> Result<Reference, String> {
        let run = tempfile::Builder::new()
            .prefix("parity-ref")
            .tempdir()
            .map_err(|e| e.to_string())?;
        // The guard exists before start.sh runs, so whatever it started is stopped.
        let reference = Reference {
            run,
            direct_port: free_port(),
            alb_port: free_port(),
        };
        let out = php_environment(&mut Command::new("bash"))
            .arg(reference_dir().join("start.sh"))
            .arg(root)
            .arg(reference.run.path())
            .arg(reference.direct_port.to_string())
            .arg(reference.alb_port.to_string())
            .arg("2")
            .output()
            .map_err(|e| format!("running start.sh: {e}"))?;
        if !out.status.success() {
            let log =
                |f: &str| fs::read_to_string(reference.run.path().join(f)).unwrap_or_default();
            return Err(format!(
                "start.sh failed: {}{}\nnginx.out: {}\nfpm.out: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                log("nginx.out"),
                log("fpm.out"),
            ));
        }
        for port in [reference.direct_port, reference.alb_port] {
            wait_for_port(port, STARTUP, || Ok(()))?;
        }
        Ok(reference)
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        // nginx first, so no request reaches a php-fpm that is going away.
        for file in ["nginx.pid", "fpm.pid"] {
            let pid = fs::read_to_string(self.run.path().join(file)).ok();
            if let Some(pid) = pid.and_then(|p| p.trim().parse::<libc::pid_t>().ok()) {
                stop_pid(pid);
            }
        }
    }
}
