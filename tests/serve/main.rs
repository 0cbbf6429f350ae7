//! `bootstrap serve` beyond parity: faults, limits, streaming and lifecycle, each against
//! a real php-fpm. (Request semantics are the parity suite's job.)

#[path = "../parity/http.rs"]
mod http;
mod server;
mod sites;

use server::Server;
use std::thread;
use std::time::{Duration, Instant};
use support::alive;

#[test]
fn recycled_workers_fail_no_request() {
    // pm.max_requests = 3 makes php-fpm close a connection every third request, while
    // eight clients keep both workers busy.
    let s = Server::start(&["--max-requests", "3"]);
    let port = s.port;
    let failures: Vec<String> = (0..8)
        .map(|_| {
            thread::spawn(move || {
                (0..40)
                    .filter_map(|_| {
                        let req =
                            b"GET /hello.php HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
                        match http::exchange(port, req) {
                            Ok(r) if r.status == 200 && r.body == b"Hello, world!\n" => None,
                            Ok(r) => Some(format!(
                                "{} {:?}",
                                r.status,
                                String::from_utf8_lossy(&r.body)
                            )),
                            Err(e) => Some(e),
                        }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 320 failed: {:?}\n{}",
        failures.len(),
        &failures[..failures.len().min(5)],
        s.log()
    );
}

#[test]
fn bodies_over_the_limit_get_413_and_serving_goes_on() {
    let s = Server::start(&["--max-body", "1000"]);
    let declared = format!(
        "POST /echo.php HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n{}",
        "x".repeat(2000)
    );
    assert_eq!(
        http::exchange(s.port, declared.as_bytes()).unwrap().status,
        413
    );
    let chunk = "x".repeat(600);
    let chunked = format!("POST /echo.php HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n");
    assert_eq!(
        http::exchange(s.port, chunked.as_bytes()).unwrap().status,
        413
    );
    let fits = format!(
        "POST /echo.php HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{}",
        "x".repeat(1000)
    );
    let res = http::exchange(s.port, fits.as_bytes()).unwrap();
    assert_eq!(res.status, 200);
    assert!(
        res.body.starts_with(b"1000 "),
        "{:?}",
        String::from_utf8_lossy(&res.body)
    );
}

#[test]
fn a_slow_script_gets_504_in_time_and_the_next_request_works() {
    let s = Server::start(&["--timeout", "1"]);
    let start = Instant::now();
    assert_eq!(s.get("/sleep.php?s=5").0, 504);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "504 took {:?}",
        start.elapsed()
    );
    assert_eq!(s.get("/hello.php"), (200, b"Hello, world!\n".to_vec()));
}

#[test]
fn a_script_we_stopped_waiting_for_is_stopped_and_no_other() {
    // php-fpm stops it (request_terminate_timeout); for php-cgi the bootstrap kills the
    // worker itself, which must be that one: a second script runs on another worker across
    // the kill and must finish.
    let s = Server::start(&["--timeout", "2", "--workers", "2"]);
    let neighbour = thread::scope(|scope| {
        let stuck = scope.spawn(|| s.get("/sleep.php?s=30").0);
        thread::sleep(Duration::from_millis(1000));
        let neighbour = scope.spawn(|| s.get("/sleep.php?s=1.5"));
        assert_eq!(stuck.join().unwrap(), 504);
        neighbour.join().unwrap()
    });
    assert_eq!(neighbour.0, 200, "{}", s.log());
    // Both workers free again: two scripts at once run side by side.
    thread::sleep(Duration::from_millis(1500));
    let start = Instant::now();
    thread::scope(|scope| {
        let runs = [0, 1].map(|_| scope.spawn(|| s.get("/sleep.php?s=1").0));
        for run in runs {
            assert_eq!(run.join().unwrap(), 200, "{}", s.log());
        }
    });
    assert!(
        start.elapsed() < Duration::from_millis(1900),
        "one worker still held: two 1 s scripts took {:?}",
        start.elapsed()
    );
}

#[test]
fn a_crashing_worker_gives_502_runs_once_and_serving_goes_on() {
    let s = Server::start(&[]);
    let (status, runs) = s.crash();
    assert_eq!(status, 502);
    assert_eq!(runs, 1, "PHP ran the request {runs} times");
    for _ in 0..4 {
        assert_eq!(s.get("/hello.php").0, 200);
    }
}

#[test]
fn a_killed_php_fpm_master_is_restarted() {
    let s = Server::start(&[]);
    assert_eq!(s.get("/hello.php").0, 200);
    let master = s.fpm_master().expect("php-fpm runs");
    unsafe { libc::kill(master as i32, libc::SIGKILL) };
    let start = Instant::now();
    loop {
        if s.get("/hello.php").0 == 200 && s.fpm_master().is_some_and(|m| m != master) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "php-fpm not back after 10 s:\n{}",
            s.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM, as ECS sends it after taking the task out of its target group: the health
/// check fails, new connections are refused, an idle kept-alive connection is closed, a
/// request in flight finishes with its 200, and the bootstrap exits 0 once it has.
#[test]
fn sigterm_drains_a_request_in_flight_and_refuses_new_connections() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let mut s = Server::start(&["--drain-timeout", "10"]);
    let port = s.port;
    let mut kept = TcpStream::connect(("127.0.0.1", port)).unwrap();
    kept.write_all(b"GET /_lamphp/health HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut answer = [0; 512];
    let n = kept.read(&mut answer).unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    let slow = thread::spawn(move || {
        let req = b"GET /sleep.php?s=3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        http::exchange(port, req).map(|res| (res.status, res.body))
    });
    thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    thread::sleep(Duration::from_millis(300));
    let refused = TcpStream::connect(("127.0.0.1", port));
    assert!(
        refused.is_err(),
        "a new connection was taken while draining"
    );
    kept.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert_eq!(
        kept.read(&mut answer).unwrap_or(1),
        0,
        "the idle kept-alive connection stayed open"
    );
    let (status, body) = slow
        .join()
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!((status, body), (200, b"slept\n".to_vec()), "{}", s.log());
    let exit = s.child.wait().unwrap();
    assert!(exit.success(), "bootstrap exited with {exit}:\n{}", s.log());
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(6), "draining took {took:?}");
}

/// The health check is the front door's: PHP never sees it (even where a script of the
/// same name exists), a query does not change it, and an empty path turns it off.
#[test]
fn the_health_check_is_answered_without_php() {
    let s = Server::start(&[]);
    let res = http::exchange(
        s.port,
        b"GET /_lamphp/health?x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!((res.status, res.body.as_slice()), (200, &b"ok\n"[..]));
    assert_eq!(res.header("cache-control"), Some(&b"no-store"[..]));
    let shadowing = Server::start(&["--health-path", "/hello.php"]);
    assert_eq!(shadowing.get("/hello.php"), (200, b"ok\n".to_vec()));
    let off = Server::start(&["--health-path", ""]);
    assert_eq!(off.get("/_lamphp/health").0, 404);
    assert_eq!(off.get("/hello.php"), (200, b"Hello, world!\n".to_vec()));
    // `bootstrap health`, a container's health check command, says the same.
    let probe = |port: u16| {
        std::process::Command::new(server::bootstrap_exe())
            .args(["health", "--listen", &format!("0.0.0.0:{port}")])
            .env_remove("LAMPHP_HEALTH_PATH")
            .output()
            .unwrap()
    };
    let healthy = probe(s.port);
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    let unhealthy = probe(off.port);
    assert!(!unhealthy.status.success());
    let said = String::from_utf8_lossy(&unhealthy.stderr);
    assert!(
        said.contains("/_lamphp/health answered \"HTTP/1.1 404 Not Found\""),
        "{said}"
    );
}

#[test]
fn sigterm_stops_cleanly_with_no_php_fpm_left() {
    let mut s = Server::start(&[]);
    assert_eq!(s.get("/hello.php").0, 200);
    let master = s.fpm_master().expect("php-fpm runs");
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    let status = s.child.wait().unwrap();
    assert!(
        status.success(),
        "bootstrap exited with {status}:\n{}",
        s.log()
    );
    let start = Instant::now();
    while alive(master) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "php-fpm master {master} outlived the bootstrap"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn php_stderr_is_logged_with_its_request() {
    let mut s = Server::start(&[]);
    assert_eq!(s.get("/stderr.php?m=abc123").1, b"logged\n");
    // The FastCGI stderr copy carries the request id; php-fpm's own copy does not.
    s.wait_for_log("marker-abc123", Duration::from_secs(5));
    let tagged = s.records().into_iter().find(|r| {
        r["message"]
            .as_str()
            .is_some_and(|m| m.contains("marker-abc123"))
            && r["request"].as_str().is_some_and(|id| !id.is_empty())
    });
    assert!(tagged.is_some(), "no tagged PHP message in:\n{}", s.log());
}

#[test]
fn every_log_line_is_json_and_each_request_has_one_when_sent() {
    let mut s = Server::start(&[]);
    let exchange = |raw: &[u8]| http::exchange(s.port, raw).unwrap();
    let hello =
        exchange(b"GET /hello.php?x=1 HTTP/1.1\r\nHost: A.test:81\r\nConnection: close\r\n\r\n");
    let note = exchange(b"GET /note.txt HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    let echo = exchange(b"POST /echo.php HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcde");
    let missing = exchange(b"GET /nothing HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    s.get("/_lamphp/health");
    let start = Instant::now();
    while s.requests().len() < 4 && start.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(20));
    }
    let requests = s.requests();
    // The health check is not logged: a target group polls it every few seconds.
    assert_eq!(requests.len(), 4, "{}", s.log());
    let expected = [
        (
            "GET",
            "/hello.php",
            "a.test",
            hello.status,
            0,
            hello.body.len(),
        ),
        (
            "GET",
            "/note.txt",
            "a.test",
            note.status,
            0,
            note.body.len(),
        ),
        (
            "POST",
            "/echo.php",
            "a.test",
            echo.status,
            5,
            echo.body.len(),
        ),
        (
            "GET",
            "/nothing",
            "a.test",
            missing.status,
            0,
            missing.body.len(),
        ),
    ];
    for (record, (method, path, host, status, bytes_in, bytes_out)) in requests.iter().zip(expected)
    {
        let line = record.to_string();
        assert_eq!(record["method"], method, "{line}");
        assert_eq!(record["path"], path, "{line}");
        assert_eq!(record["host"], host, "{line}");
        assert_eq!(record["status"], status, "{line}");
        assert_eq!(record["bytes_in"], bytes_in, "{line}");
        assert_eq!(record["bytes_out"], bytes_out as u64, "{line}");
        assert_eq!(record["complete"], true, "{line}");
        assert!(
            record["total_ms"].as_f64().unwrap() >= record["head_ms"].as_f64().unwrap(),
            "{line}"
        );
        assert!(
            record["request"].as_str().is_some_and(|id| !id.is_empty()),
            "{line}"
        );
    }
    assert_eq!(missing.status, 404);
    // A client that goes away mid-body is logged as such.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /big.php?mb=50 HTTP/1.1\r\nHost: a.test\r\n\r\n",
    )
    .unwrap();
    let mut first = [0u8; 4096];
    std::io::Read::read_exact(&mut stream, &mut first).unwrap();
    drop(stream);
    s.wait_for_log("\"complete\":false", Duration::from_secs(10));
    let cut = s.requests().pop().unwrap();
    assert_eq!(cut["path"], "/big.php", "{cut}");
    assert!(cut["bytes_out"].as_u64().unwrap() < 50 << 20, "{cut}");
}

#[test]
fn large_responses_stream_without_buffering() {
    let s = Server::start(&[]);
    let (status, body) = s.get("/big.php?mb=200");
    assert_eq!(status, 200);
    assert_eq!(body.len(), 200 << 20);
    let peak = s.rss_peak_kb();
    assert!(
        peak < 64 * 1024,
        "bootstrap peaked at {peak} kB serving 200 MB"
    );
}

#[test]
fn malformed_requests_get_400_and_serving_goes_on() {
    let s = Server::start(&[]);
    for raw in [
        &b"GET /a%zz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"[..],
        b"GET /../etc/passwd HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
        b"BLAH\r\n\r\n",
    ] {
        let res = http::exchange(s.port, raw).unwrap();
        assert_eq!(res.status, 400, "{:?}", String::from_utf8_lossy(raw));
    }
    assert_eq!(s.get("/hello.php").0, 200);
}

#[test]
fn shutdown_lets_requests_in_flight_finish() {
    let s = Server::start(&[]);
    let port = s.port;
    let slow = thread::spawn(move || {
        let req = b"GET /sleep.php?s=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        http::exchange(port, req).map(|r| (r.status, r.body))
    });
    thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    let (status, body) = slow.join().unwrap().expect("the request in flight was cut");
    assert_eq!((status, body), (200, b"slept\n".to_vec()), "{}", s.log());
}
