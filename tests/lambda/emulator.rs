// Shared by the lambda and release test crates, each of which uses only part of it.
#![allow(dead_code)]

//! `cargo lambda watch --only-lambda-apis` (PyPI's `cargo-lambda`), a Runtime API
//! emulator we did not write, with `bootstrap` processes polling it; events go in
//! through its Invoke endpoint. Everything started is killed when dropped.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use support::{free_port, Log};

/// The emulator and the runtimes polling it.
pub struct Watch {
    pub port: u16,
    pub log: Log,
    emulator: Child,
    runtimes: Vec<Child>,
}

impl Watch {
    /// Start `cargo lambda watch` on a free loopback port, from `dir` (a crate).
    pub fn start(dir: &Path) -> Watch {
        Watch::start_with(dir, &[])
    }

    /// [`Watch::start`] with more of `cargo lambda watch`'s options.
    pub fn start_with(dir: &Path, options: &[&str]) -> Watch {
        assert!(
            Command::new("cargo")
                .args(["lambda", "--help"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            "cargo lambda is missing: pip install cargo-lambda (or run `make test`)"
        );
        let port = free_port();
        let log = Log::default();
        let mut watch = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .args(options)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting cargo lambda watch");
        log.capture(watch.stderr.take().unwrap());
        let watch = Watch {
            port,
            log,
            emulator: watch,
            runtimes: Vec::new(),
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "cargo lambda watch did not listen:\n{}",
                watch.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
        watch
    }

    /// The Runtime API's address, as Lambda gives it in `AWS_LAMBDA_RUNTIME_API`.
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}/.rt", self.port)
    }

    /// Start `exe` (a `bootstrap`) as the function's runtime, with the environment Lambda
    /// gives a sandbox and `env`.
    pub fn runtime<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        &mut self,
        exe: &Path,
        env: impl IntoIterator<Item = (K, V)>,
    ) {
        let mut runtime = self.command(exe);
        runtime.envs(env);
        self.spawn(runtime);
    }

    /// `program` with the environment Lambda gives a sandbox, to [`Watch::spawn`] (a
    /// `bootstrap`, or a sandbox around one).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env("AWS_LAMBDA_RUNTIME_API", self.api())
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
        command
    }

    /// The pids of the runtimes started, in order.
    pub fn runtime_pids(&self) -> Vec<u32> {
        self.runtimes.iter().map(Child::id).collect()
    }

    /// Start `command` as a runtime polling this emulator (its environment is the
    /// caller's to set, e.g. inside a sandbox); its output goes to the log.
    pub fn spawn(&mut self, mut command: Command) {
        let mut runtime = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
        self.log.capture_child(&mut runtime);
        self.runtimes.push(runtime);
    }

    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Invoke the function with `event`: (status, body).
    pub fn invoke(&self, event: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        post(self.port, "/2015-03-31/functions/_/invocations", event)
    }

    /// The first invocation may arrive before the runtime polls; cargo lambda then waits,
    /// but give it a bounded number of tries in case it answers with an error meanwhile.
    pub fn invoke_when_ready(&self, event: &[u8]) -> (u16, Vec<u8>) {
        let start = Instant::now();
        loop {
            match self.invoke(event) {
                Ok((200, body)) => return (200, body),
                other if start.elapsed() > Duration::from_secs(30) => {
                    panic!("no answer: {other:?}\n{}", self.log())
                }
                _ => thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        for child in self.runtimes.iter_mut().chain([&mut self.emulator]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// POST `body` to `path` on 127.0.0.1:`port`; (status, body).
fn post(port: u16, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let response = crate::http::parse(&raw).map_err(std::io::Error::other)?;
    Ok((response.status, response.body))
}
