//! lamphp's servers under comparison: `bootstrap serve` (direct and trusted-proxy modes)
//! and `bootstrap local`, the ALB emulator in front of the Lambda loop (both target-group
//! header modes). Each is owned by a guard whose `Drop` stops it and its process group.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::reference::{run_with_retries, SHUTDOWN, STARTUP};
use support::{free_port, wait_for_port};

/// What `bootstrap local` logs (a JSON line on stdout) once it accepts connections, before
/// the port.
const LOCAL_READY: &str = "ALB emulator on http://127.0.0.1:";

/// One `bootstrap` process.
pub struct Lamphp {
    child: Child,
    /// Its stdout (its JSON log lines) and stderr.
    logs: TempDir,
    pub port: u16,
}

impl Lamphp {
    /// `bootstrap serve` on a free port with two php-fpm workers, plus `extra`.
    pub fn serve(root: &Path, extra: &[&str]) -> Lamphp {
        run_with_retries("lamphp (bootstrap serve)", || {
            let port = free_port();
            let listen = format!("127.0.0.1:{port}");
            let args = [&["serve", "--listen", &listen, "--workers", "2"], extra].concat();
            let mut server = Lamphp::spawn(root, &args)?;
            server.port = port;
            let started = wait_for_port(port, STARTUP, || server.alive());
            started.map_err(|e| {
                format!(
                    "{e}; its stderr:\n{}\nits stdout:\n{}",
                    server.log("stderr"),
                    server.log("stdout")
                )
            })?;
            Ok(server)
        })
    }

    /// `bootstrap local` (multi-value headers unless `extra` says `--single-value`); it
    /// picks its own port and names it when ready.
    pub fn local(root: &Path, extra: &[&str]) -> Lamphp {
        run_with_retries("lamphp (bootstrap local)", || {
            let args = [&["local", "--listen", "127.0.0.1:0"], extra].concat();
            let mut server = Lamphp::spawn(root, &args)?;
            server.port = server.announced_port().map_err(|e| {
                format!(
                    "{e}; its stderr:\n{}\nits stdout:\n{}",
                    server.log("stderr"),
                    server.log("stdout")
                )
            })?;
            Ok(server)
        })
    }

    fn spawn(root: &Path, args: &[&str]) -> Result<Lamphp, String> {
        let logs = tempfile::Builder::new()
            .prefix("parity-lamphp")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let file = |name: &str| fs::File::create(logs.path().join(name));
        let (stdout, stderr) = (file("stdout"), file("stderr"));
        let child = std::os::unix::process::CommandExt::process_group(
            crate::reference::php_environment(&mut Command::new(env!("CARGO_BIN_EXE_bootstrap")))
                .args(&args[..1])
                .arg("--root")
                .arg(root)
                .args(&args[1..])
                .stdin(Stdio::null())
                .stdout(stdout.map_err(|e| e.to_string())?)
                .stderr(stderr.map_err(|e| e.to_string())?),
            // Its own process group: the Lambda loop and php-fpm children it leaves
            // behind are killed with it.
            0,
        )
        .spawn()
        .map_err(|e| format!("spawning bootstrap: {e}"))?;
        Ok(Lamphp {
            child,
            logs,
            port: 0,
        })
    }

    fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(format!("bootstrap exited early ({status})")),
            _ => Ok(()),
        }
    }

    /// The port in `bootstrap local`'s ready line.
    fn announced_port(&mut self) -> Result<u16, String> {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            self.alive()?;
            let stdout = self.log("stdout");
            let port = stdout.split(LOCAL_READY).nth(1).and_then(|rest| {
                let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
                digits.parse().ok()
            });
            if let Some(port) = port {
                return Ok(port);
            }
            sleep(Duration::from_millis(50));
        }
        Err(format!("no {LOCAL_READY:?} on stdout within {STARTUP:?}"))
    }

    fn log(&self, name: &str) -> String {
        fs::read_to_string(self.logs.path().join(name)).unwrap_or_default()
    }
}

impl Drop for Lamphp {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SIGTERM lets bootstrap stop its php-fpm; then the whole group goes.
        // SAFETY: kill(2) has no memory-safety preconditions; pid is our child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + SHUTDOWN;
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // SAFETY: kill(2) on the process group we created for this child.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}
