//! The Lambda loop under `cargo lambda watch --only-lambda-apis` (PyPI's `cargo-lambda`),
//! a Runtime API emulator we did not write: events go in through its invoke endpoint.

use crate::server::{docroot, unique};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

fn alb_event(path: &str, query: &[(&str, &[&str])], headers: &[(&str, &[&str])]) -> Vec<u8> {
    let obj = |pairs: &[(&str, &[&str])]| {
        serde_json::Value::Object(
            pairs
                .iter()
                .map(|(k, vs)| (k.to_string(), serde_json::json!(vs)))
                .collect(),
        )
    };
    serde_json::to_vec(&serde_json::json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lamphp/0123456789abcdef"}},
        "httpMethod": "GET",
        "path": path,
        "multiValueQueryStringParameters": obj(query),
        "multiValueHeaders": obj(headers),
        "body": "",
        "isBase64Encoded": false
    }))
    .unwrap()
}

#[test]
fn alb_events_through_cargo_lambda_watch() {
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
    let log = Arc::new(Mutex::new(String::new()));
    let mut children = Killed(Vec::new());
    let mut watch = Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cargo lambda watch");
    capture(watch.stderr.take().unwrap(), log.clone());
    children.0.push(watch);
    wait_for_port(port, &log);

    let runtime_dir =
        std::env::temp_dir().join(format!("lamphp-watch-{}-{}", std::process::id(), unique()));
    let mut bootstrap = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("LAMPHP_ROOT", docroot().join("../../parity/docroot"))
        .env("LAMPHP_RUNTIME_DIR", &runtime_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting bootstrap");
    capture(bootstrap.stdout.take().unwrap(), log.clone());
    capture(bootstrap.stderr.take().unwrap(), log.clone());
    children.0.push(bootstrap);

    let invoke = |event: &[u8]| post(port, "/2015-03-31/functions/_/invocations", event);
    let event = alb_event(
        "/some/route",
        &[("b", &["2"]), ("a", &["1", "%20x"])],
        &[
            ("host", &["example.com"]),
            ("x-forwarded-for", &["198.51.100.7, 203.0.113.9"]),
            ("x-forwarded-proto", &["https"]),
            ("x-forwarded-port", &["443"]),
            ("cookie", &["a=1", "b=2"]),
        ],
    );
    let (status, body) = retry_until_ready(|| invoke(&event), &log);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["statusDescription"], "200 OK");
    let dump: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let server = &dump["server"];
    // The deadline cargo lambda sends (600000) is not believed; the request still runs.
    assert_eq!(
        server["QUERY_STRING"], "b=2&a=1&a=%20x",
        "order and encoding as the event gave them"
    );
    assert_eq!(server["REQUEST_URI"], "/some/route?b=2&a=1&a=%20x");
    assert_eq!(server["SCRIPT_NAME"], "/index.php");
    assert_eq!(server["REMOTE_ADDR"], "203.0.113.9");
    assert_eq!(server["HTTPS"], "on");
    assert_eq!(server["SERVER_PORT"], "443");
    assert_eq!(server["HTTP_COOKIE"], "a=1; b=2");
    assert_eq!(
        answer["multiValueHeaders"]["X-Dump"]
            .as_array()
            .map(Vec::len)
            .or(answer["multiValueHeaders"]["x-dump"]
                .as_array()
                .map(Vec::len)),
        Some(1),
        "{answer}"
    );
    assert!(
        log.lock().unwrap().contains("not plausible"),
        "the implausible deadline was not reported"
    );

    // Not an HTTP event: an invocation error, and the loop goes on.
    let (status, _) = invoke(b"{\"hello\": \"world\"}").unwrap();
    assert_ne!(status, 200, "an unknown event must be an invocation error");
    let (status, body) = invoke(&event).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let _ = std::fs::remove_dir_all(runtime_dir);
}

fn capture(stream: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
}

fn wait_for_port(port: u16, log: &Mutex<String>) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "cargo lambda watch did not listen:\n{}",
            log.lock().unwrap()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The first invocation may arrive before the runtime polls; cargo lambda then waits,
/// but give it a bounded number of tries in case it answers with an error meanwhile.
fn retry_until_ready(
    mut f: impl FnMut() -> std::io::Result<(u16, Vec<u8>)>,
    log: &Mutex<String>,
) -> (u16, Vec<u8>) {
    let start = Instant::now();
    loop {
        match f() {
            Ok((200, body)) => return (200, body),
            other if start.elapsed() > Duration::from_secs(30) => {
                panic!("no answer: {other:?}\n{}", log.lock().unwrap())
            }
            _ => thread::sleep(Duration::from_millis(200)),
        }
    }
}
