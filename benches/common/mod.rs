//! What the Rust benchmarks share: the release binary they run, a Lambda sandbox's
//! environment, ALB events, and medians.

use lamphp::local::alb;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The median and the 99th percentile of some samples.
pub struct Spread {
    pub median: Duration,
    pub p99: Duration,
}

pub fn spread(mut samples: Vec<Duration>) -> Spread {
    samples.sort();
    Spread {
        median: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The release binary next to this bench's own executable (target/release/).
pub fn bootstrap() -> PathBuf {
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

/// `bootstrap lambda` as Lambda starts it, against the Runtime API at `endpoint`, its
/// runtime files in `runtime_dir`.
pub fn sandbox(endpoint: &str, runtime_dir: &Path) -> Command {
    let mut command = Command::new(bootstrap());
    command
        .arg("lambda")
        .env("AWS_LAMBDA_RUNTIME_API", endpoint)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("LAMPHP_RUNTIME_DIR", runtime_dir);
    command
}

/// An ALB event: GET `path` of `host`, over HTTPS.
pub fn get_event(path: &str, host: &str) -> Vec<u8> {
    let (parts, ()) = http::Request::get(path)
        .header("host", host)
        .body(())
        .unwrap()
        .into_parts();
    alb::event_from_http(&parts, b"", "127.0.0.1:40000".parse().unwrap(), 443, true)
}
