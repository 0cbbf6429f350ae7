//! Lambda mode end to end: through `bootstrap local` (our ALB emulator and Runtime API,
//! with real deadlines) and through `cargo lambda watch` (a Runtime API emulator we did
//! not write). Each against a real php-fpm.

mod emulator;
mod function_url;
#[path = "../parity/http.rs"]
mod http;
#[path = "../offload/moto.rs"]
mod moto;
#[path = "../serve/server.rs"]
mod server;
mod stream;
mod watch;

use server::Server;
use std::io::Read;
use std::thread;
use std::time::{Duration, Instant};

fn get(s: &Server, path: &str, headers: &str) -> http::Response {
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n");
    http::exchange(s.port, req.as_bytes()).expect("request through the ALB emulator")
}

#[test]
fn php_and_static_files_through_the_lambda_loop() {
    let s = Server::local(&[], &[]);
    assert_eq!(s.get("/hello.php"), (200, b"Hello, world!\n".to_vec()));
    let res = get(&s, "/echo.php", "");
    assert_eq!(res.status, 200);
    // One JSON log line per request, on stdout, with the request's id.
    let mut s = s;
    let line = s.wait_for_log("\"target\":\"lamphp::request\"", Duration::from_secs(5));
    for field in [
        "\"request\":\"local-",
        "\"status\":200",
        "\"php_ms\":",
        "\"bytes_out\":",
        "\"method\":\"GET\"",
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
}

#[test]
fn a_request_past_the_deadline_gets_504_in_time_and_php_fpm_is_restarted() {
    // One sandbox, so that the next request meets the php-fpm that was stuck.
    let mut s = Server::local(
        &["--function-timeout", "2", "--sandboxes", "1"],
        &[("LAMPHP_DEADLINE_MARGIN_MS", "500")],
    );
    let start = Instant::now();
    assert_eq!(s.get("/sleep.php?s=20").0, 504);
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "answered after {took:?}, past the 2 s deadline"
    );
    s.wait_for_log("restarting php-fpm", Duration::from_secs(5));
    // The one worker was stuck in sleep(); only a restart frees it this soon.
    let start = Instant::now();
    assert_eq!(s.get("/hello.php"), (200, b"Hello, world!\n".to_vec()));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "next request took {:?}",
        start.elapsed()
    );
}

#[test]
fn a_crashing_worker_gives_502_once_and_the_next_invocation_works() {
    // One sandbox: the next invocation is the crashed worker's sandbox's.
    let s = Server::local(&["--sandboxes", "1"], &[]);
    let (status, runs) = s.crash();
    assert_eq!(status, 502);
    assert_eq!(runs, 1, "PHP ran the request {runs} times");
    assert_eq!(s.get("/hello.php").0, 200);
}

#[test]
fn responses_over_1_mb_are_gzipped_when_the_client_takes_it() {
    let s = Server::local(&[], &[]);
    let res = get(&s, "/big.php?mb=3", "Accept-Encoding: gzip\r\n");
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-encoding"), Some(&b"gzip"[..]));
    let mut body = Vec::new();
    flate2::read::GzDecoder::new(&res.body[..])
        .read_to_end(&mut body)
        .unwrap();
    assert_eq!(body.len(), 3 << 20);
}

#[test]
fn responses_over_1_mb_without_gzip_or_bucket_get_our_502_and_a_reason() {
    let mut s = Server::local(&[], &[]);
    let res = get(&s, "/big.php?mb=3", "");
    assert_eq!(res.status, 502);
    assert!(String::from_utf8_lossy(&res.body).contains("502 Bad Gateway"));
    s.wait_for_log("LAMPHP_OFFLOAD_BUCKET", Duration::from_secs(5));
    assert_eq!(s.get("/hello.php").0, 200);
}

#[test]
fn every_set_cookie_survives_in_multi_value_mode_and_the_loss_is_named_in_single() {
    let multi = Server::local(&[], &[]);
    let res = get(&multi, "/cookies.php", "");
    let cookies: Vec<_> = res
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(
        cookies,
        [b"a=1".to_vec(), b"b=2; path=/x; HttpOnly".to_vec()]
    );

    let mut single = Server::local(&["--single-value"], &[]);
    let res = get(&single, "/cookies.php", "");
    assert_eq!(
        res.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .count(),
        1
    );
    single.wait_for_log("lambda.multi_value_headers.enabled", Duration::from_secs(5));
}

/// GET each of `paths` at once, each on its own connection: (status, body, time taken)
/// in the order given, and the time until the last answered.
fn at_once(s: &Server, paths: &[&str]) -> (Vec<(u16, Vec<u8>, Duration)>, Duration) {
    let start = Instant::now();
    let answers = thread::scope(|scope| {
        let calls: Vec<_> = paths
            .iter()
            .map(|path| {
                scope.spawn(move || {
                    let started = Instant::now();
                    let (status, body) = s.get(path);
                    (status, body, started.elapsed())
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    (answers, start.elapsed())
}

/// The `bootstrap lambda` processes of a `bootstrap local`: its sandboxes' runtimes.
fn sandbox_pids(s: &Server) -> Vec<u32> {
    support::children(s.child.id())
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.split('\0').nth(1) == Some("lambda"))
        })
        .collect()
}

#[test]
fn overlapping_requests_run_in_sandboxes_of_their_own() {
    let slow = ["/sleep.php?s=1"; 4];
    let four = Server::local(&["--sandboxes", "4"], &[]);
    let (answers, took) = at_once(&four, &slow);
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");
    assert!(
        took < Duration::from_millis(1800),
        "4 requests of 1 s in 4 sandboxes took {took:?}"
    );
    // One sandbox serves them one after the other, as one Lambda sandbox would.
    let one = Server::local(&["--sandboxes", "1"], &[]);
    let (answers, took) = at_once(&one, &slow);
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");
    assert!(
        took >= Duration::from_secs(4),
        "4 requests of 1 s in 1 sandbox took {took:?}"
    );
}

#[test]
fn each_sandbox_has_its_own_tmp() {
    let s = Server::local(&["--sandboxes", "2"], &[]);
    let (answers, _) = at_once(&s, &["/tmpdir.php?s=0.5"; 2]);
    let dirs: Vec<String> = answers
        .iter()
        .map(|(status, body, _)| {
            assert_eq!(*status, 200);
            String::from_utf8_lossy(body).trim().to_owned()
        })
        .collect();
    assert_ne!(dirs[0], dirs[1], "two sandboxes shared a /tmp");
    for dir in &dirs {
        assert!(
            dir.contains("/sandbox-") && dir.ends_with("/tmp"),
            "PHP's temporary directory is {dir}"
        );
    }
}

#[test]
fn a_request_past_the_timeout_gets_its_504_while_the_others_complete() {
    let s = Server::local(
        &["--function-timeout", "2", "--sandboxes", "4"],
        &[("LAMPHP_DEADLINE_MARGIN_MS", "500")],
    );
    one_past_its_time_beside_three(&s);
}

/// A 5 s request beside three of 0.5 s, under a 2 s function timeout: it gets its 504 in
/// time, and the others, running meanwhile, their answers.
fn one_past_its_time_beside_three(s: &Server) {
    let paths = [
        "/sleep.php?s=5",
        "/sleep.php?s=0.5",
        "/sleep.php?s=0.5",
        "/sleep.php?s=0.5",
    ];
    let (answers, _) = at_once(s, &paths);
    let (status, _, took) = &answers[0];
    assert_eq!(*status, 504, "{answers:?}");
    assert!(
        *took < Duration::from_secs(2),
        "the 504 came after {took:?}"
    );
    for (status, body, took) in &answers[1..] {
        assert_eq!((*status, body.as_slice()), (200, &b"slept\n"[..]));
        assert!(*took < Duration::from_millis(1500), "took {took:?}");
    }
}

#[test]
fn a_page_that_requests_its_own_site_gets_its_answer() {
    // The default sandboxes: the loopback finds one free.
    let s = Server::local(&[], &[]);
    let (status, body) = s.get("/loopback.php?timeout=5");
    assert_eq!(
        (status, String::from_utf8_lossy(&body).as_ref()),
        (200, "loopback: Hello, world!\n")
    );
    // With one, the loopback waits behind the page that made it until PHP gives up.
    let one = Server::local(&["--sandboxes", "1"], &[]);
    let (status, body) = one.get("/loopback.php?timeout=1");
    assert_eq!(
        (status, String::from_utf8_lossy(&body).as_ref()),
        (200, "loopback failed\n")
    );
}

#[test]
fn a_killed_sandbox_loses_its_request_and_is_replaced_while_the_others_serve() {
    let mut s = Server::local(&["--sandboxes", "2"], &[]);
    let pids = sandbox_pids(&s);
    assert_eq!(pids.len(), 2, "{pids:?}");
    // A slow request in each sandbox; one of them dies.
    let (answers, _) = thread::scope(|scope| {
        let calls = scope.spawn(|| at_once(&s, &["/sleep.php?s=2"; 2]));
        thread::sleep(Duration::from_millis(500));
        unsafe { libc::kill(pids[0] as i32, libc::SIGKILL) };
        calls.join().unwrap()
    });
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 502], "{answers:?}");
    let lost = answers.iter().find(|a| a.0 == 502).unwrap();
    assert!(
        lost.2 < Duration::from_millis(1500),
        "the 502 took {:?}",
        lost.2
    );
    // The other keeps serving while the dead one is replaced.
    for _ in 0..3 {
        assert_eq!(s.get("/hello.php"), (200, b"Hello, world!\n".to_vec()));
    }
    s.wait_for_log("stopped: its Lambda runtime exited", Duration::from_secs(5));
    s.wait_for_log("is ready again", Duration::from_secs(10));
    let now = sandbox_pids(&s);
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(!now.contains(&pids[0]), "{now:?}");
    // Both sandboxes serve again.
    let (answers, took) = at_once(&s, &["/sleep.php?s=1"; 2]);
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");
    assert!(took < Duration::from_millis(1800), "took {took:?}");
    // Its end and its replacement were said in JSON like every other line.
    let said = s.records();
    assert!(said
        .iter()
        .any(|r| r["target"] == "lamphp::local::sandbox" && r["level"] == "ERROR"));
}

#[test]
fn a_sandbox_that_never_answers_times_out_with_502_and_is_reset() {
    let mut s = Server::local(&["--sandboxes", "1", "--function-timeout", "2"], &[]);
    let pids = sandbox_pids(&s);
    assert_eq!(pids.len(), 1, "{pids:?}");
    // Stopped, its runtime cannot answer, nor give the 504 it would give itself.
    unsafe { libc::kill(pids[0] as i32, libc::SIGSTOP) };
    let start = Instant::now();
    assert_eq!(s.get("/hello.php").0, 502);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(3),
        "answered after {took:?}"
    );
    s.wait_for_log("Task timed out after 2.00 seconds", Duration::from_secs(5));
    s.wait_for_log("ran past the function timeout", Duration::from_secs(5));
    s.wait_for_log("is ready again", Duration::from_secs(10));
    assert_eq!(s.get("/hello.php"), (200, b"Hello, world!\n".to_vec()));
    assert!(
        !sandbox_pids(&s).contains(&pids[0]),
        "the stopped runtime is still there"
    );
}

#[test]
fn a_managed_instance_serves_overlapping_requests_in_one_environment() {
    let s = Server::local(
        &["--max-concurrency", "4", "--function-timeout", "2"],
        &[("LAMPHP_DEADLINE_MARGIN_MS", "500")],
    );
    let pids = sandbox_pids(&s);
    assert_eq!(pids.len(), 1, "{pids:?}");
    let (answers, took) = at_once(&s, &["/sleep.php?s=1"; 4]);
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");
    assert!(
        took < Duration::from_millis(1800),
        "4 requests of 1 s in one environment of 4 took {took:?}"
    );
    // One past its deadline gets its 504 from the runtime; the others, beside it, finish.
    one_past_its_time_beside_three(&s);
    // Unlike a Lambda sandbox, the environment stays after a timeout, and its requests
    // share one /tmp.
    let (answers, _) = at_once(&s, &["/tmpdir.php?s=0.5"; 2]);
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");
    assert_eq!(answers[0].1, answers[1].1);
    assert_eq!(sandbox_pids(&s), pids);
}

/// What `bootstrap local` logged before it exited with a failure: the messages of its JSON
/// log lines (every line must be one), a line each.
fn init_failure(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(["local", "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "bootstrap local kept running"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{log}");
    log.lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|_| panic!("a log line that is no JSON: {line:?}"));
            record["message"].as_str().unwrap_or_default().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_init_failure_is_reported_with_its_reason() {
    let root = server::docroot();
    let stderr = init_failure(
        &["--root", root.to_str().unwrap()],
        &[("LAMPHP_PHP_FPM", "/nonexistent/php-fpm")],
    );
    assert!(
        stderr.contains("failed to start") && stderr.contains("LAMPHP_PHP_FPM"),
        "{stderr}"
    );
}

#[test]
fn a_release_that_is_not_there_is_an_init_error_saying_so() {
    let releases = tempfile::tempdir().unwrap();
    let dir = releases.path().to_str().unwrap();
    let table = [
        (
            "3f2a9c0d1b7e4f60",
            "the release 3f2a9c0d1b7e4f60 (LAMPHP_RELEASE) is not in",
        ),
        (
            "../../etc",
            "LAMPHP_RELEASE cannot be used: the release id \"../../etc\" starts with a dot",
        ),
    ];
    for (release, why) in table {
        let stderr = init_failure(
            &[],
            &[("LAMPHP_RELEASE", release), ("LAMPHP_RELEASES", dir)],
        );
        assert!(
            stderr.contains("failed to start") && stderr.contains(why),
            "{release}: {stderr}"
        );
    }
}

#[test]
fn responses_over_1_mb_go_through_s3_when_a_bucket_is_set() {
    let s3 = moto::Moto::start();
    s3.create_bucket("offload");
    let endpoint = s3.endpoint();
    let env = [
        ("LAMPHP_OFFLOAD_BUCKET", "offload"),
        ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let s = Server::local(&[], &env);
    let res = get(&s, "/big.php?mb=3", "");
    assert_eq!(res.status, 307, "{}", s.log());
    let location = String::from_utf8(res.header("location").unwrap().to_vec()).unwrap();
    assert!(location.starts_with(&endpoint), "{location}");
    let mut fetched = ureq::get(&location)
        .call()
        .expect("the presigned URL answers");
    let body = fetched
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_vec()
        .unwrap();
    assert_eq!(body.len(), 3 << 20);
    assert!(body.iter().all(|&b| b == b'x'));
    // Only GET and HEAD answers can move to S3: a POST's is our 502.
    let post =
        b"POST /big.php?mb=3 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert_eq!(http::exchange(s.port, post).unwrap().status, 502);
}
