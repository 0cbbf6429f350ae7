//! Lambda mode's own cost, on this machine (`make bench`, or
//! `cargo bench -p lamphp-bootstrap --bench lambda`):
//!
//! - warm overhead per invocation: the bootstrap's time from event received to response
//!   ready (its `total_ms` log field), minus php-fpm's own time for the same script over
//!   raw FastCGI (one blocking keep-alive connection, no pool, no tasks);
//! - cold start: process start to ready for the first event, and to the first response,
//!   beside php-fpm's own start-up;
//! - the bootstrap's RSS.
//!
//! The bootstrap runs as on Lambda: its own Runtime API loop against a Runtime API
//! endpoint (`lamphp::local::runtime_api`), one php-fpm worker.

use bytes::BytesMut;
use lamphp::cgi::Params;
use lamphp::fastcgi::record::{self, Frame};
use lamphp::fpm::{Fpm, FpmConfig};
use lamphp::local::{
    alb,
    runtime_api::{Phase, RuntimeApi},
};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

    let (fpm_start, raw) = rt.block_on(php_fpm_alone(&dir, &root));
    let (cold_ready, cold_first) = rt.block_on(cold_starts(&dir, &root));
    let (overhead, invoke_rtt, rss) = rt.block_on(warm(&dir, &root, raw.median));

    println!("Lambda mode, {WARM} warm invocations of a hello-world page, {COLD} cold starts");
    println!(
        "  php-fpm alone, raw FastCGI:       median {:>8.1} µs, p99 {:>8.1} µs",
        us(raw.median),
        us(raw.p99)
    );
    println!("  bootstrap overhead per invocation: median {:>8.1} µs  (event received -> response ready, minus php-fpm's time)", us(overhead));
    println!("  round trip through the Runtime API: median {:>7.1} µs  (includes both HTTP exchanges with the Runtime API)", us(invoke_rtt));
    println!(
        "  php-fpm's own start-up:            median {:>8.1} ms",
        ms(fpm_start)
    );
    println!(
        "  cold start to ready for an event:  median {:>8.1} ms  ({:+.1} ms over php-fpm's)",
        ms(cold_ready),
        ms(cold_ready) - ms(fpm_start)
    );
    println!(
        "  cold start to first response:      median {:>8.1} ms",
        ms(cold_first)
    );
    println!(
        "  bootstrap RSS: {} kB after the warm run, {} kB at its peak",
        rss.0, rss.1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

struct Spread {
    median: Duration,
    p99: Duration,
}

fn spread(mut samples: Vec<Duration>) -> Spread {
    samples.sort();
    Spread {
        median: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn fpm_config(dir: &Path, name: &str) -> FpmConfig {
    FpmConfig {
        terminate_after: None,
        binary: None,
        children: 1,
        max_requests: 0,
        runtime_dir: dir.join(name),
        ini: Vec::new(),
    }
}

/// php-fpm's start-up, and its time per request over raw FastCGI.
async fn php_fpm_alone(dir: &Path, root: &Path) -> (Duration, Spread) {
    let mut starts = Vec::new();
    for _ in 0..COLD {
        let start = Instant::now();
        let fpm = Fpm::start(fpm_config(dir, "fpm"))
            .await
            .expect("php-fpm starts");
        starts.push(start.elapsed());
        fpm.shutdown().await;
    }
    let fpm = Fpm::start(fpm_config(dir, "fpm")).await.unwrap();
    let socket = fpm.socket().to_owned();
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
fn sandbox(api: &RuntimeApi, dir: &Path, root: &Path, n: usize) -> Child {
    Command::new(bootstrap())
        .arg("lambda")
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("LAMPHP_ROOT", root)
        .env("LAMPHP_RUNTIME_DIR", dir.join(format!("sandbox-{n}")))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the bootstrap")
}

/// The release binary next to this bench's own executable (target/release/).
fn bootstrap() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("bootstrap");
    assert!(
        path.exists(),
        "build the binary first: cargo build --release -p lamphp-bootstrap ({})",
        path.display()
    );
    path
}

fn hello_event() -> Vec<u8> {
    let (parts, ()) = http::Request::get("/hello.php")
        .header("host", "bench.test")
        .body(())
        .unwrap()
        .into_parts();
    alb::event_from_http(&parts, b"", "127.0.0.1:40000".parse().unwrap(), 443, true)
}

async fn cold_starts(dir: &Path, root: &Path) -> (Duration, Duration) {
    let mut ready = Vec::new();
    let mut first = Vec::new();
    for n in 0..COLD {
        let mut api = RuntimeApi::start(Duration::from_secs(30)).await.unwrap();
        let start = Instant::now();
        let mut child = sandbox(&api, dir, root, n);
        assert_eq!(
            api.phase_change().await,
            Phase::Ready,
            "the bootstrap failed to start"
        );
        ready.push(start.elapsed());
        api.invoke(hello_event()).await.expect("an answer");
        first.push(start.elapsed());
        let _ = child.kill();
        let _ = child.wait();
    }
    (spread(ready).median, spread(first).median)
}

/// Warm invocations: (median overhead, median Runtime API round trip, (RSS, peak RSS)).
async fn warm(dir: &Path, root: &Path, php_fpm: Duration) -> (Duration, Duration, (u64, u64)) {
    let mut api = RuntimeApi::start(Duration::from_secs(30)).await.unwrap();
    let mut child = sandbox(&api, dir, root, COLD);
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
    assert_eq!(api.phase_change().await, Phase::Ready);
    let event = hello_event();
    let mut rtts = Vec::with_capacity(WARM);
    for _ in 0..WARM + 100 {
        let start = Instant::now();
        api.invoke(event.clone()).await.expect("an answer");
        rtts.push(start.elapsed());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let rss = (kb("VmRSS:"), kb("VmHWM:"));
    let _ = child.kill();
    let _ = child.wait();
    let totals = totals.lock().unwrap().split_off(100);
    assert!(
        totals.len() >= WARM * 9 / 10,
        "only {} log lines",
        totals.len()
    );
    let total = spread(totals).median;
    (
        total.saturating_sub(php_fpm),
        spread(rtts.split_off(100)).median,
        rss,
    )
}
