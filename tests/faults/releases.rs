//! Releases under faults: an unpack killed halfway, and a releases directory that fills up.
//! The function runs under `cargo lambda watch`; bundles come from a small HTTP server of
//! the test's that can stall mid-body.

use crate::emulator::Watch;
use crate::http;
use flate2::{write::GzEncoder, Compression};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::{alive, noise, unique};

/// A site as a release bundle: a `.tar.gz`, its sha256, and an id.
struct Bundle {
    bytes: Vec<u8>,
    sha256: String,
    id: String,
}

impl Bundle {
    fn of(files: &[(&str, &[u8])]) -> Bundle {
        let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, *data).unwrap();
        }
        let bytes = tar.into_inner().unwrap().finish().unwrap();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Bundle {
            id: sha256[..16].to_owned(),
            sha256,
            bytes,
        }
    }

    fn unpack_event(&self, url: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"lamphp": {"unpack": {
            "release": self.id, "url": url, "sha256": self.sha256,
        }}}))
        .unwrap()
    }
}

/// Serves one bundle at any path; while `stalled`, stops after `stall_after` bytes of it.
struct BundleServer {
    port: u16,
    stalled: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
}

impl BundleServer {
    fn start(bytes: Vec<u8>, stall_after: usize) -> BundleServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stalled = Arc::new(AtomicBool::new(true));
        let sent = Arc::new(AtomicUsize::new(0));
        let bytes = Arc::new(bytes);
        let (gate, count) = (stalled.clone(), sent.clone());
        thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let (bytes, gate, count) = (bytes.clone(), gate.clone(), count.clone());
                thread::spawn(move || {
                    let mut head = [0; 4096];
                    let _ = conn.read(&mut head);
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        bytes.len()
                    );
                    let _ = conn.write_all(reply.as_bytes());
                    for (i, chunk) in bytes.chunks(16 * 1024).enumerate() {
                        while gate.load(Ordering::SeqCst) && i * 16 * 1024 >= stall_after {
                            thread::sleep(Duration::from_millis(20));
                        }
                        if conn.write_all(chunk).is_err() {
                            return;
                        }
                        count.fetch_add(chunk.len(), Ordering::SeqCst);
                    }
                });
            }
        });
        BundleServer {
            port,
            stalled,
            sent,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/bundle.tar.gz", self.port)
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "lamphp-faults-{name}-{}-{}",
        std::process::id(),
        unique()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The function's runtime, with releases in `releases`.
fn runtime_env(releases: &Path, run: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("LAMPHP_RELEASES", releases.to_owned()),
        ("LAMPHP_RUNTIME_DIR", run.to_owned()),
        ("_HANDLER", "index.php".into()),
        ("LAMBDA_TASK_ROOT", "/var/task".into()),
    ]
}

#[test]
fn an_unpack_killed_halfway_leaves_no_release_and_the_next_succeeds() {
    let big = noise(2 << 20);
    let bundle = Bundle::of(&[("index.php", b"<?php echo 'new';"), ("big.bin", &big)]);
    let server = BundleServer::start(bundle.bytes.clone(), 512 * 1024);
    let dir = scratch("killed");
    let releases = dir.join("releases");
    let mut watch = Watch::start(env!("CARGO_MANIFEST_DIR").as_ref());
    let exe = Path::new(env!("CARGO_BIN_EXE_bootstrap"));
    watch.runtime(exe, runtime_env(&releases, &dir.join("run1")));
    // The invocation the kill cuts; nobody waits for its answer.
    let event = bundle.unpack_event(&server.url());
    let request = format!(
        "POST /2015-03-31/functions/_/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        event.len()
    );
    let port = watch.port;
    let cut = [request.into_bytes(), event.clone()].concat();
    thread::spawn(move || http::exchange(port, &cut));
    let partial = || {
        entries(&releases)
            .iter()
            .any(|n| n.starts_with(".partial-"))
    };
    eventually("the unpack started", Duration::from_secs(30), || {
        partial() && server.sent.load(Ordering::SeqCst) >= 512 * 1024
    });
    let pid = watch.runtime_pids()[0];
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    eventually("the runtime died", Duration::from_secs(5), || !alive(pid));
    let left = entries(&releases);
    assert!(
        !left.contains(&bundle.id),
        "a release half unpacked is visible: {left:?}"
    );
    assert!(left.iter().all(|n| n.starts_with(".partial-")), "{left:?}");

    server.stalled.store(false, Ordering::SeqCst);
    watch.runtime(exe, runtime_env(&releases, &dir.join("run2")));
    let (status, answer) = watch.invoke_when_ready(&event);
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(status, 200, "{answer}");
    // The new runtime may get the cut invocation first (the emulator hands it out again);
    // either way the release ends up whole.
    assert!(
        answer.contains(&format!("\"release\":\"{}\"", bundle.id)),
        "{answer}\n{}",
        watch.log()
    );
    let unpacked = releases.join(&bundle.id);
    assert_eq!(std::fs::read(unpacked.join("big.bin")).unwrap(), big);
    assert_eq!(
        std::fs::read_to_string(unpacked.join("index.php")).unwrap(),
        "<?php echo 'new';"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The releases directory is a 1 MiB tmpfs (bubblewrap's `--size`) holding the release being
/// served: a bundle that does not fit fails with the reason, leaves nothing behind, and
/// the release being served still is; a bundle that fits then unpacks.
#[test]
fn a_full_releases_directory_fails_the_unpack_clearly_and_keeps_serving() {
    let bwrap = Path::new("/usr/bin/bwrap");
    assert!(
        bwrap.exists(),
        "bubblewrap is missing: apt-get install bubblewrap (or run `make test`)"
    );
    let dir = scratch("full");
    let serving = dir.join("serving");
    std::fs::create_dir_all(&serving).unwrap();
    // The served release lists the releases beside it, and their compiled caches (in
    // `.opcache`), so the test sees into the tmpfs.
    std::fs::write(
        serving.join("index.php"),
        "<?php $list = fn ($dir) => array_values(array_diff(@scandir($dir) ?: [], ['.', '..', '.opcache'])); \
         echo json_encode($list(dirname(__DIR__))), ' ', json_encode($list(dirname(__DIR__) . '/.opcache'));",
    )
    .unwrap();
    let releases = dir.join("releases");
    std::fs::create_dir_all(&releases).unwrap();
    let mut watch = Watch::start(env!("CARGO_MANIFEST_DIR").as_ref());
    let mut sandbox = watch.command(bwrap);
    sandbox
        .args(["--dev-bind", "/", "/", "--size", "1048576", "--tmpfs"])
        .arg(&releases)
        .args([
            "--",
            "sh",
            "-c",
            "cp -a \"$1\" \"$2/current\" && exec \"$3\"",
            "sh",
        ])
        .arg(&serving)
        .arg(&releases)
        .arg(env!("CARGO_BIN_EXE_bootstrap"))
        .envs(runtime_env(&releases, &dir.join("run")))
        .env("LAMPHP_RELEASE", "current");
    watch.spawn(sandbox);
    let page = |watch: &Watch| {
        let event = serde_json::to_vec(&serde_json::json!({
            "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lamphp/0123456789abcdef"}},
            "httpMethod": "GET", "path": "/", "headers": {"host": "t"}, "queryStringParameters": {},
            "body": "", "isBase64Encoded": false
        }))
        .unwrap();
        let (status, body) = watch.invoke_when_ready(&event);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["statusCode"], 200, "{answer}\n{}", watch.log());
        answer["body"].as_str().unwrap().to_owned()
    };
    assert_eq!(page(&watch), r#"["current"] []"#);

    let too_big = Bundle::of(&[
        ("index.php", b"<?php echo 'big';"),
        ("big.bin", &noise(3 << 20)),
    ]);
    let server = BundleServer::start(too_big.bytes.clone(), usize::MAX);
    server.stalled.store(false, Ordering::SeqCst);
    // One try: the function ran (it served the page above), and its error is the answer.
    let (_, answer) = watch
        .invoke(&too_big.unpack_event(&server.url()))
        .expect("an answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    for needle in [
        "errorMessage",
        &format!(".partial-{}", too_big.id),
        "No space left on device",
        "the releases directory is full: `lamphp prune`",
    ] {
        assert!(
            answer.contains(needle),
            "{needle:?} missing from the error: {answer}"
        );
    }
    assert!(
        watch.log().contains("No space left on device"),
        "{}",
        watch.log()
    );
    // Nothing half written is left, and the release being served still is.
    assert_eq!(page(&watch), r#"["current"] []"#);

    let small = Bundle::of(&[("index.php", b"<?php echo 'small';")]);
    let server = BundleServer::start(small.bytes.clone(), usize::MAX);
    server.stalled.store(false, Ordering::SeqCst);
    let (status, answer) = watch.invoke_when_ready(&small.unpack_event(&server.url()));
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"files\":1"), "{answer}");
    let mut want = vec!["current".to_owned(), small.id.clone()];
    want.sort();
    let compiled = format!(r#"["{}"]"#, small.id);
    assert_eq!(
        page(&watch),
        format!("{} {compiled}", serde_json::to_string(&want).unwrap()),
        "the small release, and its compiled PHP with no work directory left"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
