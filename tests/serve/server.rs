// Shared by the serve and lambda test crates, each of which uses only part of it.
#![allow(dead_code)]

//! A `bootstrap serve` process for one test: started on a free port, its log captured,
//! killed when dropped (and its php-fpm with it, through PR_SET_PDEATHSIG).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use support::{children, unique, Log};

pub struct Server {
    pub child: Child,
    pub port: u16,
    log: Log,
    runtime_dir: PathBuf,
}

pub fn docroot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/serve/docroot")
}

/// The `bootstrap` binary: cargo's, in the bootstrap's own test crates; in another
/// package's (the release command's), built once with cargo into the same target dir.
pub fn bootstrap_exe() -> PathBuf {
    if let Some(exe) = option_env!("CARGO_BIN_EXE_bootstrap") {
        return exe.into();
    }
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "lamphp-bootstrap",
                    "--bin",
                    "bootstrap",
                ])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("running cargo to build bootstrap");
            assert!(status.success(), "cargo build -p lamphp-bootstrap failed");
            // This test binary is target/<profile>/deps/<name>.
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().parent().unwrap().join("bootstrap")
        })
        .clone()
}

impl Server {
    /// Start `bootstrap serve` over the test docroot with extra `args`.
    pub fn start(args: &[&str]) -> Server {
        Server::start_at(&docroot(), args)
    }

    /// Start `bootstrap serve` over `root` with extra `args`.
    pub fn start_at(root: &Path, args: &[&str]) -> Server {
        let root = ["--root", root.to_str().unwrap()];
        Server::serve(&[&root, args].concat())
    }

    /// Start `bootstrap serve` with `args` alone (which name the site or sites), two
    /// workers unless they say otherwise.
    pub fn serve(args: &[&str]) -> Server {
        Server::serve_env(args, &[])
    }

    /// [`Server::serve`] with `LAMPHP_*` settings in `env`.
    pub fn serve_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let workers: &[&str] = if args.contains(&"--workers") {
            &[]
        } else {
            &["--workers", "2"]
        };
        let mut command = Command::new(bootstrap_exe());
        command.arg("serve").args(workers).envs(env.iter().copied());
        Server::launch(command, args, "serving ")
    }

    /// Start `bootstrap local` (the ALB emulator in front of the Lambda loop, or with
    /// `--function-url` the Function URL's) over the test docroot with extra `args`;
    /// `LAMPHP_*` settings go in `env`.
    pub fn local(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::local_at(&docroot(), args, env)
    }

    /// [`Server::local`] over `root`.
    pub fn local_at(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(bootstrap_exe());
        command.arg("local").arg("--root").arg(root);
        command.envs(env.iter().copied());
        // "ALB emulator on http://…", or "Function URL emulator on …".
        Server::launch(command, args, " emulator on http://")
    }

    /// Start `bootstrap local` serving the release `LAMPHP_RELEASE` in `env` names, as
    /// the function would.
    pub fn local_release(env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(bootstrap_exe());
        command.arg("local").envs(env.iter().copied());
        Server::launch(command, &[], "ALB emulator on ")
    }

    /// Start `command` (a `bootstrap` with its mode and settings) listening on a free
    /// port, with extra `args`; ready when a log line contains `ready`.
    pub fn launch(mut command: Command, args: &[&str], ready: &str) -> Server {
        assert!(
            ["/usr/sbin/php-fpm8.2", "/usr/sbin/php-fpm"]
                .iter()
                .any(|p| Path::new(p).exists())
                || std::env::var_os("LAMPHP_PHP_FPM").is_some(),
            "php-fpm is missing: apt-get install php8.2-fpm (or run `make test`)"
        );
        let runtime_dir =
            std::env::temp_dir().join(format!("lamphp-test-{}-{}", std::process::id(), unique()));
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("LAMPHP_RUNTIME_DIR", &runtime_dir)
            .env("LAMPHP_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning bootstrap");
        let log = Log::default();
        log.capture_child(&mut child);
        let mut server = Server {
            child,
            port: 0,
            log,
            runtime_dir,
        };
        let line = server.wait_for_log(ready, Duration::from_secs(20));
        let addr = line.rsplit("http://").next().unwrap();
        let port = addr
            .split(|c: char| !c.is_ascii_digit() && c != ':' && c != '.')
            .next()
            .unwrap();
        server.port = port.rsplit(':').next().unwrap().parse().unwrap();
        server
    }

    /// Wait until a log line contains `needle`; return that line.
    pub fn wait_for_log(&mut self, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.log().lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "bootstrap exited ({status}) before logging {needle:?}:\n{}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < limit,
                "no {needle:?} in the log after {limit:?}:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        self.log.text()
    }

    /// The log's lines, each of which must be a JSON object.
    pub fn records(&self) -> Vec<serde_json::Value> {
        let log = self.log();
        log.lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .filter(|v| v.is_object())
                    .unwrap_or_else(|| panic!("a log line that is no JSON object: {line:?}"))
            })
            .collect()
    }

    /// The access log's records (target `lamphp::request`).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        let mut records = self.records();
        records.retain(|r| r["target"] == "lamphp::request");
        records
    }

    /// GET `path`, returning (status, body).
    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let res = crate::http::exchange(self.port, req.as_bytes()).expect("GET");
        (res.status, res.body)
    }

    /// Have `crash.php` kill its worker mid-request: (the status answered, how many times
    /// PHP ran the request, counted by the marks it leaves).
    pub fn crash(&self) -> (u16, usize) {
        // A request first, so the crash meets a kept-alive connection: the case where a
        // dead worker and a recycled one look alike.
        assert_eq!(self.get("/hello.php").0, 200);
        let mark =
            std::env::temp_dir().join(format!("lamphp-crash-{}-{}", std::process::id(), unique()));
        let (status, _) = self.get(&format!("/crash.php?mark={}", mark.display()));
        let runs = std::fs::read_to_string(&mark).unwrap_or_default();
        let _ = std::fs::remove_file(&mark);
        (status, runs.lines().count())
    }

    /// PHP's master (php-fpm's, or php-cgi's parent): the bootstrap's first child that is
    /// PHP, or in `local` mode its Lambda runtime's. None while restarting.
    pub fn fpm_master(&self) -> Option<u32> {
        let mut parents = vec![self.child.id()];
        while let Some(parent) = parents.pop() {
            for pid in children(parent) {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.starts_with("php") {
                    return Some(pid);
                }
                parents.push(pid);
            }
        }
        None
    }

    pub fn rss_peak_kb(&self) -> u64 {
        rss_peak_kb_of(self.child.id())
    }
}

/// The most memory process `pid` has had resident (VmHWM), in KiB.
pub fn rss_peak_kb_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

impl Drop for Server {
    /// SIGTERM first, as a container runtime stops it, so that the bootstrap stops all of
    /// PHP itself: the workers of a master a test killed are no child of anyone the kernel
    /// would signal, and only the bootstrap's own shutdown ends them. SIGKILL after 5 s.
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(5)
        {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.runtime_dir);
    }
}
