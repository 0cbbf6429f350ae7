//! Lambda mode's own cost, on this machine (`make bench`, or
//! `cargo bench -p lamphp-bootstrap --bench lambda`), for each PHP backend in turn
//! (php-fpm, then php-cgi), so the two are compared in one run:
//!
//! - warm overhead per invocation: the bootstrap's time from event received to response
//!   ready (its `total_ms` log field), minus PHP's own time for the same script over raw
//!   FastCGI (one blocking keep-alive connection, no pool, no tasks);
//! - warm round trips through the Runtime API, median and p99;
//! - cold start: process start to ready for the first event, and to the first response,
//!   beside PHP's own start-up;
//! - the bootstrap's RSS, and its PHP processes'.
//!
//! The bootstrap runs as on Lambda: its own Runtime API loop against a Runtime API
//! endpoint (`lamphp::local::runtime_api`), one PHP worker.

// Each bench uses its part of what they share.
#[allow(dead_code)]
mod common;

use bytes::BytesMut;
use common::{ms, spread, Spread};
use lamphp::cgi::Params;
use lamphp::fastcgi::record::{self, Frame};
use lamphp::fpm::{Backend, Fpm, FpmConfig};
use lamphp::local::runtime_api::{Outcome, Phase, RuntimeApi};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WARM: usize = 2000;
const COLD: usize = 7;

fn main() {
    let dir = std::env::temp_dir().join(format!("lamphp-bench-lambda-{}", std::process::id()));
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("hello.php"), "<?php echo \"Hello, world!\\n\";\n").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("Lambda mode, {WARM} warm invocations of a hello-world page, {COLD} cold starts");
    for backend in [Backend::Fpm, Backend::Cgi] {
        let name = backend.name();
        let (php_start, raw) = rt.block_on(php_alone(&dir, &root, backend));
        let (cold_ready, cold_first) = rt.block_on(cold_starts(&dir, &root, backend));
        let warm = rt.block_on(warm(&dir, &root, raw.median, backend));
        println!("{name}:");
        println!(
            "  {name} alone, raw FastCGI:       median {:>8.1} µs, p99 {:>8.1} µs",
            us(raw.median),
            us(raw.p99)
        );
        println!("  bootstrap overhead per invocation: median {:>8.1} µs  (event received -> response ready, minus {name}'s time)", us(warm.overhead));
        println!("  round trip through the Runtime API: median {:>7.1} µs, p99 {:>8.1} µs  (includes both HTTP exchanges with the Runtime API)", us(warm.rtt.median), us(warm.rtt.p99));
        println!(
            "  {name}'s own start-up:            median {:>8.1} ms",
            ms(php_start)
        );
        println!(
            "  cold start to ready for an event:  median {:>8.1} ms  ({:+.1} ms over {name}'s)",
            ms(cold_ready),
            ms(cold_ready) - ms(php_start)
        );
        println!(
            "  cold start to first response:      median {:>8.1} ms",
            ms(cold_first)
        );
        println!(
            "  bootstrap RSS: {} kB after the warm run, {} kB at its peak; {name}'s processes: {} kB",
            warm.rss.0, warm.rss.1, warm.php_rss
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn fpm_config(dir: &Path, name: &str, backend: Backend) -> FpmConfig {
    FpmConfig::new(backend, dir.join(name))
}

/// PHP's start-up, and its time per request over raw FastCGI.
async fn php_alone(dir: &Path, root: &Path, backend: Backend) -> (Duration, Spread) {
    let mut starts = Vec::new();
    for _ in 0..COLD {
        let start = Instant::now();
        let fpm = Fpm::start(fpm_config(dir, "php", backend))
            .await
            .expect("PHP starts");
        starts.push(start.elapsed());
        fpm.shutdown().await;
    }
    let fpm = Fpm::start(fpm_config(dir, "php", backend)).await.unwrap();
    let socket = fpm.pool().socket().to_owned();
    let script = root.join("hello.php");
    let times = tokio::task::spawn_blocking(move || raw_fastcgi(&socket, &script))
        .await
        .unwrap();
    fpm.shutdown().await;
    (spread(starts).median, spread(times))
}

fn raw_fastcgi(socket: &Path, script: &Path) -> Vec<Duration> {
    let mut conn = UnixStream::connect(socket).unwrap();
    let filename = script.to_str().unwrap().as_bytes().to_vec();
    let params: Params = vec![
        (b"SCRIPT_FILENAME"[..].into(), filename),
        (b"REQUEST_METHOD"[..].into(), b"GET".to_vec()),
        (b"SCRIPT_NAME"[..].into(), b"/hello.php".to_vec()),
    ];
    let mut request = BytesMut::new();
    record::encode_prelude(&params, &mut request).unwrap();
    record::encode_stdin_end(&mut request);
    let mut times = Vec::with_capacity(WARM);
    for _ in 0..WARM + 100 {
        let start = Instant::now();
        conn.write_all(&request).unwrap();
        let mut buf = BytesMut::with_capacity(4096);
        'response: loop {
            let mut chunk = [0u8; 4096];
            let n = conn.read(&mut chunk).unwrap();
            assert!(n > 0, "php-fpm closed the connection");
            buf.extend_from_slice(&chunk[..n]);
            while let Some(frame) = record::decode(&mut buf).unwrap() {
                if let Frame::End { .. } = frame {
                    break 'response;
                }
            }
        }
        times.push(start.elapsed());
    }
    times.split_off(100)
}

/// A Lambda sandbox: this binary's Runtime API loop over `root`.
fn sandbox(endpoint: &str, dir: &Path, root: &Path, n: usize, backend: Backend) -> Child {
    common::sandbox(endpoint, &dir.join(format!("sandbox-{n}")))
        .env(
            "LAMPHP_PHP_BACKEND",
            match backend {
                Backend::Fpm => "fpm",
                Backend::Cgi => "cgi",
            },
        )
        .env("LAMPHP_ROOT", root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the bootstrap")
}

/// The function answered (whatever it answered).
fn answered(outcome: Outcome) {
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
}

fn hello_event() -> Vec<u8> {
    common::get_event("/hello.php", "bench.test")
}

async fn cold_starts(dir: &Path, root: &Path, backend: Backend) -> (Duration, Duration) {
    let mut ready = Vec::new();
    let mut first = Vec::new();
    for n in 0..COLD {
        let api = RuntimeApi::start(Duration::from_secs(30)).await.unwrap();
        let mut attached = api.attach(1, true);
        let start = Instant::now();
        let mut child = sandbox(&attached.endpoint, dir, root, n, backend);
        assert_eq!(
            attached.initialised().await,
            Phase::Ready,
            "the bootstrap failed to start"
        );
        ready.push(start.elapsed());
        answered(api.invoke(hello_event()).await.1);
        first.push(start.elapsed());
        let _ = child.kill();
        let _ = child.wait();
    }
    (spread(ready).median, spread(first).median)
}

/// What the warm run measured.
struct Warm {
    /// Median time in the bootstrap beyond PHP's own.
    overhead: Duration,
    /// Round trips through the Runtime API.
    rtt: Spread,
    /// The bootstrap's RSS after the run and at its peak, kB.
    rss: (u64, u64),
    /// The RSS of the PHP processes under it, summed, kB.
    php_rss: u64,
}

/// Warm invocations of one sandbox.
async fn warm(dir: &Path, root: &Path, php: Duration, backend: Backend) -> Warm {
    let api = RuntimeApi::start(Duration::from_secs(30)).await.unwrap();
    let mut attached = api.attach(1, true);
    let mut child = sandbox(&attached.endpoint, dir, root, COLD, backend);
    let totals = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().unwrap();
    let sink = totals.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(total) = log.get("total_ms").and_then(|v| v.as_f64()) {
                sink.lock()
                    .unwrap()
                    .push(Duration::from_secs_f64(total / 1e3));
            }
        }
    });
    assert_eq!(attached.initialised().await, Phase::Ready);
    let event = hello_event();
    let mut rtts = Vec::with_capacity(WARM);
    for _ in 0..WARM + 100 {
        let start = Instant::now();
        answered(api.invoke(event.clone()).await.1);
        rtts.push(start.elapsed());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss = (kb(child.id(), "VmRSS:"), kb(child.id(), "VmHWM:"));
    let php_rss = descendants(child.id())
        .iter()
        .map(|&pid| kb(pid, "VmRSS:"))
        .sum();
    let _ = child.kill();
    let _ = child.wait();
    let totals = totals.lock().unwrap().split_off(100);
    assert!(
        totals.len() >= WARM * 9 / 10,
        "only {} log lines",
        totals.len()
    );
    Warm {
        overhead: spread(totals).median.saturating_sub(php),
        rtt: spread(rtts.split_off(100)),
        rss,
        php_rss,
    }
}

/// A `/proc/PID/status` field in kB (0 if the process is gone).
fn kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Every process below `pid`: the PHP master (or parent) and its workers.
fn descendants(pid: u32) -> Vec<u32> {
    let parent_of = |p: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(all.iter().filter(|&&p| parent_of(p) == Some(parent)));
        i += 1;
    }
    found.split_off(1)
}
