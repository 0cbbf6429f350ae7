//! Faults, and that nothing is lost to them: each case breaks something real under a running
//! `bootstrap` and checks every answer given meanwhile and that serving goes on afterwards.

#[path = "../parity/http.rs"]
mod http;
#[path = "../serve/server.rs"]
mod server;

use server::{bootstrap_exe, docroot, Server};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Sends GET /hello.php from `clients` threads, one connection each time, until `stop`; the
/// statuses that were not 200 (0: no HTTP answer), and how many were 200.
fn load(s: &Server, clients: usize, stop: &AtomicBool) -> (Vec<u16>, usize) {
    let port = s.port;
    thread::scope(|scope| {
        let runs: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(move || {
                    let (mut failed, mut ok) = (Vec::new(), 0);
                    let req = b"GET /hello.php HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
                    while !stop.load(Ordering::SeqCst) {
                        match http::exchange(port, req) {
                            Ok(res) if res.status == 200 => ok += 1,
                            Ok(res) => failed.push(res.status),
                            Err(_) => failed.push(0),
                        }
                    }
                    (failed, ok)
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).fold(
            (Vec::new(), 0),
            |(mut f, n), (failed, ok)| {
                f.extend(failed);
                (f, n + ok)
            },
        )
    })
}

/// "N of M failed", with how many got each status.
fn summary(failed: &[u16], ok: usize) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for status in failed {
        *counts.entry(status).or_insert(0) += 1;
    }
    format!(
        "{} of {} failed (status: count, 0 for no answer): {counts:?}",
        failed.len(),
        failed.len() + ok
    )
}

/// Kills PHP's master (php-fpm's, or php-cgi's parent) with SIGKILL while `clients` keep
/// requesting, and waits until a new one serves; returns what the load saw.
fn kill_master_under_load(s: &Server, clients: usize) -> (Vec<u16>, usize) {
    /// Ends the load however the scope's body is left: the scope waits for the load before
    /// a failed assertion's panic gets out.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        let load = scope.spawn(|| load(s, clients, &stop));
        let _stop = StopOnDrop(&stop);
        thread::sleep(Duration::from_millis(500));
        let master = s.fpm_master().expect("PHP runs");
        unsafe { libc::kill(master as i32, libc::SIGKILL) };
        let killed = Instant::now();
        while s.fpm_master().is_none_or(|m| m == master) {
            assert!(
                killed.elapsed() < Duration::from_secs(10),
                "PHP not back after 10 s:\n{}",
                s.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
        // Long enough for the requests that waited, and some served by the new master.
        thread::sleep(Duration::from_millis(700));
        drop(_stop);
        load.join().unwrap()
    })
}

#[test]
fn a_php_master_killed_under_load_fails_no_request_in_serve() {
    let s = Server::start(&["--workers", "2"]);
    let (failed, ok) = kill_master_under_load(&s, 6);
    assert!(failed.is_empty(), "{}\n{}", summary(&failed, ok), s.log());
    assert!(ok > 100, "only {ok} requests in the run");
    assert!(
        s.log()
            .contains("died (signal: 9 (SIGKILL)); restarting it"),
        "{}",
        s.log()
    );
}

#[test]
fn a_php_master_killed_under_load_fails_no_request_in_lambda_mode() {
    let s = Server::local(&[], &[]);
    let (failed, ok) = kill_master_under_load(&s, 2);
    assert!(failed.is_empty(), "{}\n{}", summary(&failed, ok), s.log());
    assert!(ok > 50, "only {ok} requests in the run");
}

/// PHP's binary, behind a wrapper that fails while `broken` exists.
struct Breakable {
    dir: PathBuf,
}

impl Breakable {
    fn new() -> Breakable {
        let cgi = std::env::var("LAMPHP_PHP_BACKEND").is_ok_and(|b| b == "cgi");
        let real = [
            "/usr/sbin/php-fpm8.2",
            "/usr/sbin/php-fpm",
            "/usr/bin/php-cgi8.2",
            "/usr/bin/php-cgi",
        ]
        .into_iter()
        .filter(|p| p.contains("cgi") == cgi)
        .find(|p| Path::new(p).exists())
        .expect("php-fpm and php-cgi: apt-get install php8.2-fpm php8.2-cgi (or run `make test`)");
        let dir = std::env::temp_dir().join(format!("lamphp-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wrapper = dir.join("php");
        let broken = dir.join("broken");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nif [ -e {} ]; then echo 'broken on purpose by the test' >&2; exit 1; fi\nexec {real} \"$@\"\n",
                broken.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Breakable { dir }
    }

    fn binary(&self) -> PathBuf {
        self.dir.join("php")
    }

    fn set_broken(&self, broken: bool) {
        let flag = self.dir.join("broken");
        if broken {
            std::fs::write(flag, "").unwrap();
        } else {
            std::fs::remove_file(flag).unwrap();
        }
    }
}

impl Drop for Breakable {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn php_that_cannot_come_back_is_a_503_with_the_reason_logged_until_it_can() {
    let php = Breakable::new();
    let mut command = Command::new(bootstrap_exe());
    command
        .args(["serve", "--workers", "2", "--root"])
        .arg(docroot())
        .env("LAMPHP_PHP_FPM", php.binary())
        .env("LAMPHP_PHP_CGI", php.binary());
    let mut s = Server::launch(command, &[], "serving ");
    assert_eq!(s.get("/hello.php").0, 200);
    php.set_broken(true);
    let master = s.fpm_master().expect("PHP runs");
    unsafe { libc::kill(master as i32, libc::SIGKILL) };
    s.wait_for_log("broken on purpose by the test", Duration::from_secs(5));
    let asked = Instant::now();
    let (status, body) = s.get("/hello.php");
    assert_eq!(status, 503, "{}", s.log());
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "a 503 after {:?}",
        asked.elapsed()
    );
    assert!(
        String::from_utf8_lossy(&body).contains("503 Service Temporarily Unavailable"),
        "nginx's page, not our reasons: {}",
        String::from_utf8_lossy(&body)
    );
    let said = "503 for /hello.php: PHP is not running: ";
    s.wait_for_log(said, Duration::from_secs(1));
    let log = s.log();
    let why = &log[log.find(said).unwrap()..];
    assert!(
        why.contains("exited (exit status: 1) before it was ready. Its output:\nbroken on purpose by the test"),
        "{why}"
    );
    // Static files do not need PHP.
    assert_eq!(s.get("/note.txt").0, 200);
    php.set_broken(false);
    let fixed = Instant::now();
    while s.get("/hello.php").0 != 200 {
        assert!(
            fixed.elapsed() < Duration::from_secs(10),
            "not serving 10 s after PHP could start again:\n{}",
            s.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
}
