//! A MariaDB server of the test's own: a fresh data dir from `mariadb-install-db`, then
//! `mariadbd` on a Unix socket and a free 127.0.0.1 port, stopped (and its files gone)
//! when dropped. No system service is touched.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub struct MariaDb {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// Where Debian puts the server and its tools; the test fails naming the package.
fn tool(name: &str) -> PathBuf {
    ["/usr/bin", "/usr/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("{name} is missing: apt-get install mariadb-server (or run `make test`)")
        })
}

fn root_args() -> &'static [&'static str] {
    // mariadbd refuses to run as root unless told which user to be.
    if unsafe { libc::geteuid() } == 0 {
        &["--user=root"]
    } else {
        &[]
    }
}

impl MariaDb {
    pub fn start() -> MariaDb {
        let (install, server) = (tool("mariadb-install-db"), tool("mariadbd"));
        tool("mariadb");
        let dir = tempfile::Builder::new()
            .prefix("lamphp-mariadb")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        // `normal`: root@localhost and root@127.0.0.1 without a password, so PHP can log
        // in over TCP as any user could.
        let out = Command::new(install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(root_args())
            .output()
            .expect("running mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = support::free_port();
        let log = dir.path().join("mariadbd.log");
        let child = Command::new(server)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
            .args(["--skip-log-bin", "--innodb-buffer-pool-size=32M"])
            .args(root_args())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning mariadbd");
        let mut db = MariaDb { child, port, dir };
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("ready for connections") {
                break;
            }
            if let Ok(Some(status)) = db.child.try_wait() {
                panic!("mariadbd exited ({status}):\n{text}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "mariadbd not ready after 30 s:\n{text}"
            );
            thread::sleep(Duration::from_millis(50));
        }
        db
    }

    /// Run `sql` as root over the socket.
    pub fn sql(&self, sql: &str) -> String {
        let out = Command::new(tool("mariadb"))
            .arg("--no-defaults")
            .arg(format!(
                "--socket={}",
                self.dir.path().join("sock").display()
            ))
            .args(["-uroot", "--batch", "--skip-column-names", "-e", sql])
            .output()
            .expect("running mariadb");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        // SIGTERM lets it shut down cleanly (and quickly, the data being tiny).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
