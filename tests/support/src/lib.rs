//! What lamphp's test suites share, written once: a free port, a child's output captured
//! line by line, a child killed and reaped when dropped, waiting for a port, and the
//! process table (children, and whether a process is gone, zombies included).
//!
//! A dev-dependency of both workspace crates; suites that share larger pieces (the
//! `bootstrap serve` harness, moto) include those files with `#[path]` and build on this.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::ops::{Deref, DerefMut};
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that was free a moment ago (for programs that cannot be told to
/// listen on port 0 and say which port they got; `bootstrap` can, and should be).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// `len` bytes that are not a repeated pattern and do not compress (xorshift), so a
/// misplaced chunk would show and a bundle is as large as its files.
pub fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A number no other call in this process returns, for unique names.
pub fn unique() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// What children print, line by line as it comes.
#[derive(Clone, Debug, Default)]
pub struct Log(Arc<Mutex<String>>);

impl Log {
    /// Appends `stream`'s lines as they come, from a thread of its own.
    pub fn capture(&self, stream: impl Read + Send + 'static) {
        let log = self.clone();
        thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut text = log.0.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
    }

    /// Captures both of `child`'s output pipes (which must be piped).
    pub fn capture_child(&self, child: &mut Child) {
        self.capture(child.stdout.take().expect("stdout is piped"));
        self.capture(child.stderr.take().expect("stderr is piped"));
    }

    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

/// A child killed (SIGKILL) and reaped when dropped, so a failed test leaves nothing.
#[derive(Debug)]
pub struct Killed(pub Child);

impl Deref for Killed {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Killed {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to `limit` until 127.0.0.1:`port` accepts a connection; `alive` is asked
/// between tries and ends the wait with its reason when the server is gone.
pub fn wait_for_port(
    port: u16,
    limit: Duration,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        alive()?;
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("nothing listened on port {port} within {limit:?}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// `pid`'s children, from every thread's list (any thread may have spawned one).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether `pid` runs: a zombie still has a /proc entry, and counts as gone.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.split_whitespace().nth(2) != Some("Z"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn a_childs_lines_are_captured_and_it_is_reaped_when_dropped() {
        let mut child = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exec sleep 30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Log::default();
        log.capture_child(&mut child);
        let child = Killed(child);
        let pid = child.id();
        assert!(children(std::process::id()).contains(&pid));
        let start = Instant::now();
        while !(log.text().contains("out\n") && log.text().contains("err\n")) {
            assert!(start.elapsed() < Duration::from_secs(5), "{:?}", log.text());
            thread::sleep(Duration::from_millis(10));
        }
        assert!(alive(pid));
        drop(child);
        assert!(!alive(pid), "killed and reaped: not even a zombie");
    }

    #[test]
    fn waiting_for_a_port_ends_with_the_servers_reason_or_the_limit() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            wait_for_port(port, Duration::from_secs(1), || Ok(())),
            Ok(())
        );
        // Nothing ever listens on port 0 (a port freed here could be taken at once by
        // another test's server).
        let gone = wait_for_port(0, Duration::from_secs(1), || Err("it exited".into()));
        assert_eq!(gone, Err("it exited".into()));
        let late = wait_for_port(0, Duration::from_millis(100), || Ok(()));
        assert!(late.is_err_and(|e| e.contains("within")));
    }
}
