// Shared by the offload, lambda and sessions test crates, each of which uses only part of it.
#![allow(dead_code)]

//! moto's server mode (PyPI's `moto[server]`) on a free loopback port: an S3-compatible
//! server for the tests (S3, DynamoDB for the sessions tests, SES for the mail tests),
//! killed when dropped.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use support::free_port;
use tempfile::NamedTempFile;

const INSTALL: &str = "moto's S3 server is needed: pip install 'moto[server]' (or run `make test`)";

/// A moto server, killed when dropped.
pub struct Moto {
    child: Child,
    pub port: u16,
    log: NamedTempFile,
}

/// moto's server with every request run under one lock. moto's backends take none, so
/// two concurrent conditional writes to one item can both succeed; DynamoDB's never do.
const SERIALIZED: &str = "\
import sys, threading
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()
def serialized(environ, start_response):
    with lock:
        return list(app(environ, start_response))
run_simple('127.0.0.1', int(sys.argv[1]), serialized, threaded=True)
";

impl Moto {
    pub fn start() -> Moto {
        Moto::launch(&["-m", "moto.server", "-H", "127.0.0.1", "-p"])
    }

    /// A moto whose requests run one at a time, for tests that rely on conditional
    /// writes being atomic.
    pub fn start_serialized() -> Moto {
        Moto::launch(&["-c", SERIALIZED])
    }

    fn launch(args: &[&str]) -> Moto {
        let port = free_port();
        // A file rather than a pipe: moto logs every request, and a pipe nobody reads
        // would fill and stall it.
        let log = NamedTempFile::new().expect("creating moto's log file");
        let child = Command::new("python3")
            .args(args)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("reopening moto's log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3: {e}; {INSTALL}"));
        let mut moto = Moto { child, port, log };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto exited ({status}); {INSTALL}\n{}", moto.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto did not listen on port {port} within 30 s\n{}",
                moto.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// moto does not check signatures, so a bare PUT makes a bucket.
    pub fn create_bucket(&self, name: &str) {
        ureq::put(format!("{}/{name}", self.endpoint()))
            .send_empty()
            .unwrap_or_else(|e| panic!("creating bucket {name}: {e}\n{}", self.log()));
    }
}

impl Moto {
    /// moto's SES sends only from verified identities: SES v1's VerifyEmailIdentity
    /// (moto routes by the signature's service and checks no signature).
    pub fn verify_email(&self, address: &str) {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/ses/aws4_request, \
                    SignedHeaders=host, Signature=0";
        ureq::post(self.endpoint())
            .header("Authorization", auth)
            .content_type("application/x-www-form-urlencoded")
            .send(format!("Action=VerifyEmailIdentity&EmailAddress={address}"))
            .unwrap_or_else(|e| panic!("verifying {address}: {e}\n{}", self.log()));
    }

    /// The raw messages moto's SES has sent (its `/moto-api/data.json`): each with
    /// `raw_data`, `destinations`, `source`, `id`.
    pub fn sent_emails(&self) -> Vec<serde_json::Value> {
        let text = ureq::get(format!("{}/moto-api/data.json", self.endpoint()))
            .call()
            .expect("moto's data")
            .body_mut()
            .read_to_string()
            .expect("moto's data");
        let data: serde_json::Value = serde_json::from_str(&text).expect("moto's data as JSON");
        data["ses"]["RawMessage"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// What a bootstrap needs for `mail()` through an SES at `endpoint` (this moto's, or one
/// that fails): `LAMPHP_MAIL=ses`, a sender, the SES v2 override by its own name (the one
/// the SDKs read), a region and credentials (moto takes any).
pub fn mail_env(endpoint: &str) -> Vec<(&'static str, String)> {
    [
        ("LAMPHP_MAIL", "ses"),
        ("LAMPHP_MAIL_FROM", "site@example.com"),
        ("AWS_ENDPOINT_URL_SESV2", endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect()
}

/// `env` as `Server` takes it.
pub fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
