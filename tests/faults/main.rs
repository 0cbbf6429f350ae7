//! Faults, and that nothing is lost to them: each case breaks something real under a running
//! `bootstrap` and checks every answer given meanwhile and that serving goes on afterwards.

#[path = "../lambda/emulator.rs"]
mod emulator;
#[path = "../parity/http.rs"]
mod http;
mod releases;
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

/// Runs `fault` while `clients` keep requesting, then lets the load run on for 700 ms (long
/// enough for requests that waited, and some served afterwards); what the load saw.
fn under_load(s: &Server, clients: usize, fault: impl FnOnce()) -> (Vec<u16>, usize) {
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
        let stopping = StopOnDrop(&stop);
        thread::sleep(Duration::from_millis(500));
        fault();
        thread::sleep(Duration::from_millis(700));
        drop(stopping);
        load.join().unwrap()
    })
}

/// Kills PHP's master (php-fpm's, or php-cgi's parent) with SIGKILL while `clients` keep
/// requesting, and waits until a new one serves; returns what the load saw.
fn kill_master_under_load(s: &Server, clients: usize) -> (Vec<u16>, usize) {
    under_load(s, clients, || {
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

/// Kills one PHP worker with SIGKILL while `clients` keep requesting; what the load saw.
fn kill_a_worker_under_load(s: &Server, clients: usize) -> (Vec<u16>, usize) {
    let (failed, ok) = under_load(s, clients, || {
        let master = s.fpm_master().expect("PHP runs");
        let worker = *support::children(master).first().expect("a worker");
        unsafe { libc::kill(worker as i32, libc::SIGKILL) };
    });
    eprintln!("a worker killed under load: {}", summary(&failed, ok));
    // At most the one request it was running, with a 502 and a log line.
    assert!(
        failed.iter().all(|&status| status == 502),
        "{}",
        summary(&failed, ok)
    );
    assert!(failed.len() <= 1, "{}\n{}", summary(&failed, ok), s.log());
    if !failed.is_empty() {
        assert!(s.log().contains("502 for /hello.php"), "{}", s.log());
    }
    (failed, ok)
}

/// A worker killed under load fails the one request it was running, and nothing else: its
/// master starts another.
#[test]
fn a_php_worker_killed_under_load_fails_only_its_own_request_in_serve() {
    let s = Server::start(&["--workers", "2"]);
    let (_, ok) = kill_a_worker_under_load(&s, 4);
    assert!(ok > 100, "only {ok} requests in the run");
}

#[test]
fn a_php_worker_killed_under_load_fails_only_its_own_request_in_lambda_mode() {
    let s = Server::local(&[], &[]);
    let (_, ok) = kill_a_worker_under_load(&s, 2);
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
    let records = s.records();
    let why = records
        .iter()
        .filter_map(|r| r["message"].as_str())
        .find(|m| m.contains(said))
        .unwrap();
    assert!(
        why.contains("exited (exit status: 1) before it was ready. Its output:\nbroken on purpose by the test"),
        "{why}"
    );
    // The health check says so, without the reason (it is reachable from outside).
    assert_eq!(
        s.get("/_lamphp/health"),
        (503, b"PHP is not running\n".to_vec())
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
    assert_eq!(s.get("/_lamphp/health"), (200, b"ok\n".to_vec()));
}

/// Sends `request` followed by a well-formed GET on one connection, reads until the server
/// closes it (or 1.5 s pass): the statuses answered, and whether it closed.
fn exchange_raw(port: u16, request: &[u8]) -> (Vec<u16>, bool) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let next = b"GET /hello.php HTTP/1.1\r\nHost: t\r\n\r\n";
    // The server may close before reading it all: what it answered is what counts.
    let _ = stream.write_all(&[request, next].concat());
    let (mut seen, mut buf) = (Vec::new(), [0; 65536]);
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    let text = String::from_utf8_lossy(&seen);
    let statuses = text
        .split("\r\n")
        .filter_map(|line| line.strip_prefix("HTTP/1.1 "))
        .filter_map(|rest| rest.get(..3)?.parse().ok())
        .collect();
    (statuses, closed)
}

/// Requests that are malformed or ambiguous get a 4xx/5xx and a closed connection, so that
/// nothing after them is read as a request; the one form RFC 9112 lets a server accept
/// (bare LF) is served. Each row says where hyper, which parses for us, differs from the
/// reference nginx.
#[test]
fn a_request_parsing_corpus_is_answered_safely() {
    let s = Server::start(&[]);
    let long = |n: usize| {
        format!(
            "GET /hello.php?{} HTTP/1.1\r\nHost: t\r\n\r\n",
            "a".repeat(n)
        )
    };
    let header = |n: usize| {
        format!(
            "GET /hello.php HTTP/1.1\r\nHost: t\r\nX-A: {}\r\n\r\n",
            "a".repeat(n)
        )
    };
    let cases: Vec<(&str, Vec<u8>, &[u16], bool)> = vec![
        // RFC 9112 6.1: Transfer-Encoding wins, and the connection must close. nginx 1.22
        // refuses with 400; hyper drops the Content-Length, and closes.
        ("CL and TE", b"POST /echo.php HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(), &[200], true),
        ("two Content-Lengths", b"POST /echo.php HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(), &[400], true),
        ("obs-fold", b"GET /hello.php HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n".to_vec(), &[400], true),
        ("NUL in a header", b"GET /hello.php HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n".to_vec(), &[400], true),
        ("CR in a header", b"GET /hello.php HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n".to_vec(), &[400], true),
        ("10 KB request line", long(10 * 1024).into_bytes(), &[414], true),
        // Past 64 KiB hyper refuses it itself (its own 414, "URI Too Long").
        ("100 KB request line", long(100 * 1024).into_bytes(), &[414], true),
        ("10 KB header line", header(10 * 1024).into_bytes(), &[400], true),
        ("no Host in HTTP/1.1", b"GET /hello.php HTTP/1.1\r\n\r\n".to_vec(), &[400], true),
        ("two Hosts", b"GET /hello.php HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), &[400], true),
        ("a space in the target", b"GET /hello .php HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), &[400], true),
        // nginx: 505; hyper refuses the version as a parse error: 400.
        ("HTTP/2.0 on an HTTP/1 line", b"GET /hello.php HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(), &[400], true),
        // nginx: 501 for every coding but chunked; hyper refuses a lone unknown one (400)
        // and would take a list ending in chunked, which we refuse as nginx does.
        ("Transfer-Encoding: gzip", b"POST /echo.php HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nxx".to_vec(), &[400], true),
        ("Transfer-Encoding: identity, chunked", b"POST /echo.php HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n".to_vec(), &[501], true),
        ("a bad chunk size", b"POST /echo.php HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(), &[400], true),
        ("a traversal", b"GET /../../etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), &[400], true),
        // RFC 9112 2.2 lets a server take a bare LF as a line's end; nginx does too.
        ("bare LF", b"GET /hello.php HTTP/1.1\nHost: t\n\n".to_vec(), &[200, 200], false),
    ];
    let mut wrong = Vec::new();
    for (name, request, want, want_closed) in cases {
        let (statuses, closed) = exchange_raw(s.port, &request);
        if statuses != want || closed != want_closed {
            wrong.push(format!(
                "{name}: {statuses:?} closed={closed}, want {want:?} closed={want_closed}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), s.log());
    assert_eq!(s.get("/hello.php").0, 200, "{}", s.log());
}

/// The bootstrap's resident memory, KiB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 2,000 idle connections and 50 clients trickling their request heads (slowloris) do not
/// slow the others, cost little memory each, and are closed at the header timeout.
#[test]
fn idle_connections_and_slow_senders_leave_other_requests_fast() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    // Started under a soft limit of 1,024 open files, as on many machines (and ECS), the
    // bootstrap takes the hard limit: connections are file descriptors.
    let set_soft_limit = |soft: Option<libc::rlim_t>| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
            limit.rlim_cur = soft.unwrap_or(limit.rlim_max).min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
        limit.rlim_max
    };
    let hard = set_soft_limit(Some(1024));
    let s = Server::start(&["--header-timeout", "10"]);
    // This side needs a descriptor per connection too.
    set_soft_limit(None);
    assert!(
        hard >= 2200,
        "the test needs 2,200 open files: raise the hard limit (ulimit -Hn)"
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", s.child.id())).unwrap();
    let files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let files: Vec<&str> = files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(
        files,
        [hard.to_string(), hard.to_string()],
        "the bootstrap's open files, soft and hard"
    );
    for _ in 0..20 {
        assert_eq!(s.get("/hello.php").0, 200);
    }
    let before = rss_kb(s.child.id());
    let opened = Instant::now();
    // In batches the accept queue (1,024) takes: a dropped SYN is retried only after 1 s.
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.extend(
            (0..200)
                .map(|_| TcpStream::connect(("127.0.0.1", s.port)).expect("an idle connection")),
        );
        thread::sleep(Duration::from_millis(20));
    }
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        let slow: Vec<_> = (0..50)
            .map(|_| {
                let stop = &stop;
                scope.spawn(move || {
                    let mut stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
                    let _ = stream.write_all(b"GET /hello.php HTTP/1.1\r\nHost: t\r\nX-Slow: ");
                    let started = Instant::now();
                    // One byte every 100 ms until the server gives up on the head.
                    while !stop.load(Ordering::SeqCst) && stream.write_all(b"a").is_ok() {
                        thread::sleep(Duration::from_millis(100));
                        if started.elapsed() > Duration::from_secs(15) {
                            return None;
                        }
                    }
                    Some(started.elapsed())
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(300));
        let mut times: Vec<Duration> = (0..300)
            .map(|_| {
                let asked = Instant::now();
                assert_eq!(s.get("/hello.php").0, 200, "{}", s.log());
                asked.elapsed()
            })
            .collect();
        times.sort();
        let p99 = times[times.len() * 99 / 100];
        let per_connection = (rss_kb(s.child.id()).saturating_sub(before)) * 1024 / 2050;
        eprintln!(
            "p99 {p99:?} (median {:?}) with 2,050 connections held, {per_connection} bytes of RSS each; {:?} from the first connection",
            times[times.len() / 2],
            opened.elapsed()
        );
        // Measured with them all held: none has been closed yet.
        for conn in idle.iter().take(20).chain(idle.iter().rev().take(20)) {
            conn.set_nonblocking(true).unwrap();
            let still_open = matches!((&*conn).read(&mut [0; 16]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
            conn.set_nonblocking(false).unwrap();
            assert!(
                still_open,
                "an idle connection was closed during the measurement, {:?} after the first",
                opened.elapsed()
            );
        }
        assert!(p99 < Duration::from_millis(50), "p99 {p99:?}");
        assert!(
            per_connection < 64 * 1024,
            "{per_connection} bytes per connection"
        );
        for sender in slow {
            let held = sender
                .join()
                .unwrap()
                .expect("a slow sender held on for 15 s");
            assert!(
                held < Duration::from_secs(14),
                "a slow sender held on for {held:?}"
            );
        }
        stop.store(true, Ordering::SeqCst);
    });
    // The idle ones are closed too, at the same timeout.
    for mut conn in idle.into_iter().take(20) {
        conn.set_read_timeout(Some(Duration::from_secs(12)))
            .unwrap();
        assert_eq!(
            conn.read(&mut [0; 16]).unwrap_or(1),
            0,
            "an idle connection left open"
        );
    }
    assert_eq!(s.get("/hello.php").0, 200, "{}", s.log());
}
