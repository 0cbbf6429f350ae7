//! PHP sessions in DynamoDB, against moto's DynamoDB server: two `bootstrap serve`
//! instances, each with its own runtime dir and /tmp, share sessions through one table.

mod browser;
mod dropper;
#[path = "../parity/http.rs"]
mod http;
#[path = "../offload/moto.rs"]
mod moto;
#[path = "../serve/server.rs"]
mod server;

use browser::Browser;
use dropper::Dropper;
use moto::Moto;
use serde_json::{json, Value};
use server::{bootstrap_exe, Server};
use std::io::{BufRead, BufReader};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const TABLE: &str = "sessions";

fn docroot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sessions/docroot")
}

/// One low-level DynamoDB call, as the SDKs make it (moto checks no signature, but reads
/// the region from the credential scope).
fn dynamodb(endpoint: &str, op: &str, body: Value) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut res = agent
        .post(endpoint)
        .header("X-Amz-Target", format!("DynamoDB_20120810.{op}"))
        .header("Content-Type", "application/x-amz-json-1.0")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
        )
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("DynamoDB {op}: {e}"));
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "DynamoDB {op}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn create_table(moto: &Moto) {
    dynamodb(
        &moto.endpoint(),
        "CreateTable",
        json!({
            "TableName": TABLE,
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        }),
    );
}

/// The stored item, `Value::Null` if there is none.
fn item(moto: &Moto, id: &str) -> Value {
    let out = dynamodb(
        &moto.endpoint(),
        "GetItem",
        json!({"TableName": TABLE, "Key": {"id": {"S": id}}, "ConsistentRead": true}),
    );
    out.get("Item").cloned().unwrap_or(Value::Null)
}

/// A `bootstrap serve` with sessions in `endpoint`'s table, its own runtime dir and /tmp.
struct Site {
    server: Server,
    _dirs: tempfile::TempDir,
}

impl std::ops::Deref for Site {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

impl std::ops::DerefMut for Site {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.server
    }
}

impl Site {
    fn start(endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Site {
        let args = [&["serve", "--workers", "4"], args].concat();
        Site::launch(endpoint, &docroot(), &args, env, "serving ")
    }

    /// `bootstrap local`: the ALB emulator in front of the Lambda loop.
    fn local(endpoint: &str, args: &[&str]) -> Site {
        let args = [&["local"], args].concat();
        Site::launch(endpoint, &docroot(), &args, &[], "ALB emulator on ")
    }

    fn launch(
        endpoint: &str,
        root: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        ready: &str,
    ) -> Site {
        let dirs = tempfile::Builder::new()
            .prefix("lps")
            .tempdir_in("/tmp")
            .unwrap();
        let tmp = dirs.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        // Debian's php.ini keeps file sessions in /var/lib/php/sessions, which two
        // instances on one machine would share; give each its own, as each sandbox or
        // container has its own disk.
        let ini = dirs.path().join("ini");
        std::fs::create_dir(&ini).unwrap();
        std::fs::write(
            ini.join("sessions.ini"),
            format!("session.save_path = \"{}\"\n", tmp.display()),
        )
        .unwrap();
        let mut command = Command::new(bootstrap_exe());
        command
            .args(&args[..1])
            .arg("--root")
            .arg(root)
            .env("TMPDIR", &tmp)
            // A leading ':' keeps the default scan dir (the extensions) and adds ours.
            .env("PHP_INI_SCAN_DIR", format!(":{}", ini.display()))
            .env("LAMPHP_SESSION_TABLE", TABLE)
            .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .envs(env.iter().copied());
        Site {
            server: Server::launch(command, &args[1..], ready),
            _dirs: dirs,
        }
    }

    /// GET `path` with the session cookie `sid`; (status, body, the new session id if
    /// one was set).
    fn get(&self, path: &str, sid: Option<&str>) -> (u16, String, Option<String>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut req = agent.get(format!("http://127.0.0.1:{}{path}", self.port));
        if let Some(sid) = sid {
            req = req.header("Cookie", format!("PHPSESSID={sid}"));
        }
        let mut res = req.call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("PHPSESSID="))
            .map(|v| v.split(';').next().unwrap().to_owned());
        let status = res.status().as_u16();
        let body = res.body_mut().read_to_string().unwrap();
        (status, body, cookie)
    }

    /// GET that must answer 200.
    fn ok(&self, path: &str, sid: Option<&str>) -> (String, Option<String>) {
        let (status, body, cookie) = self.get(path, sid);
        assert_eq!(status, 200, "GET {path}: {body}\n{}", self.log());
        (body, cookie)
    }
}

/// GETs `path` with session `sid` on its own thread, for a request that keeps the
/// session locked while the test looks on; the thread ends when the server answers or
/// goes away, with what the client got.
fn in_background(
    port: u16,
    path: &str,
    sid: &str,
) -> thread::JoinHandle<Result<http::Response, String>> {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nCookie: PHPSESSID={sid}\r\nConnection: close\r\n\r\n"
    );
    thread::spawn(move || http::exchange(port, req.as_bytes()))
}

/// Waits (up to 10 s) until the stored session `key` has a lock owner; returns the item.
fn wait_locked(moto: &Moto, key: &str) -> Value {
    let start = Instant::now();
    loop {
        let stored = item(moto, key);
        if stored.get("lock_owner").is_some() {
            return stored;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{key} never locked"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Now, in the milliseconds since the epoch that a lock's lease is written in.
fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// When the lock on a stored session lapses (its `lock_expires`, epoch ms).
fn lease_end(stored: &Value) -> u64 {
    let lease = stored["lock_expires"]["N"].as_str();
    lease
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no lease in {stored}"))
}

/// moto and two instances on its table.
fn setup(args: &[&str], env: &[(&str, &str)]) -> (Moto, Site, Site) {
    let moto = Moto::start_serialized();
    create_table(&moto);
    let a = Site::start(&moto.endpoint(), args, env);
    let b = Site::start(&moto.endpoint(), args, env);
    (moto, a, b)
}

#[test]
fn a_session_written_through_one_instance_is_read_through_another() {
    let (moto, a, b) = setup(&[], &[]);
    let (body, sid) = a.ok("/counter.php", None);
    assert_eq!(body, "1");
    let sid = sid.expect("a session cookie");
    assert_eq!(a.ok("/counter.php", Some(&sid)).0, "2");
    assert_eq!(b.ok("/show.php", Some(&sid)).0, r#"{"n":2}"#);
    assert_eq!(b.ok("/counter.php", Some(&sid)).0, "3");
    assert_eq!(a.ok("/show.php", Some(&sid)).0, r#"{"n":3}"#);

    // The SDK for PHP's schema: `<name>_<id>`, data as S, expires in epoch seconds, and
    // no lock left behind.
    let stored = item(&moto, &format!("PHPSESSID_{sid}"));
    assert_eq!(stored["data"]["S"], "n|i:3;", "{stored}");
    let expires: u64 = stored["expires"]["N"].as_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        expires > now + 1000 && expires <= now + 1440 + 5,
        "{stored}"
    );
    assert!(stored.get("lock_owner").is_none(), "{stored}");
    assert!(stored.get("lock").is_none(), "{stored}");

    // Not UTF-8: stored as B, read back intact.
    let (_, bin) = a.ok("/binary.php?set=1", None);
    let bin = bin.unwrap();
    assert_eq!(b.ok("/binary.php", Some(&bin)).0, "ff00fe");
    assert!(item(&moto, &format!("PHPSESSID_{bin}"))["data"]["B"].is_string());

    // A request that only reads leaves a fresh item unwritten (no new expires).
    let before = item(&moto, &format!("PHPSESSID_{sid}"));
    b.ok("/show.php", Some(&sid));
    assert_eq!(item(&moto, &format!("PHPSESSID_{sid}")), before);
}

#[test]
fn fifty_concurrent_increments_over_two_instances_end_at_fifty() {
    let (moto, a, b) = setup(&[], &[("LAMPHP_SESSION_LOCK_WAIT", "60")]);
    let (_, sid) = a.ok("/show.php?start", None);
    // show.php starts a session without data; the first counter creates it.
    let sid = sid.expect("a session cookie");
    let sites = [&a, &b];
    thread::scope(|scope| {
        for t in 0..10 {
            let site = sites[t % 2];
            let sid = &sid;
            scope.spawn(move || {
                for _ in 0..5 {
                    site.ok("/counter.php", Some(sid));
                }
            });
        }
    });
    assert_eq!(b.ok("/show.php", Some(&sid)).0, r#"{"n":50}"#);
    assert_eq!(
        item(&moto, &format!("PHPSESSID_{sid}"))["data"]["S"],
        "n|i:50;"
    );
}

/// Lambda Managed Instances: one environment runs requests of one session at once, and
/// its lock still makes them one after the other.
#[test]
fn overlapping_requests_in_one_managed_instances_environment_lose_no_increment() {
    let moto = Moto::start_serialized();
    create_table(&moto);
    let mi = Site::local(&moto.endpoint(), &["--max-concurrency", "4"]);
    let (_, sid) = mi.ok("/show.php?start", None);
    let sid = sid.expect("a session cookie");
    thread::scope(|scope| {
        for _ in 0..4 {
            let (mi, sid) = (&mi, &sid);
            scope.spawn(move || {
                for _ in 0..5 {
                    mi.ok("/counter.php", Some(sid));
                }
            });
        }
    });
    assert_eq!(mi.ok("/show.php", Some(&sid)).0, r#"{"n":20}"#);
}

#[test]
fn a_lock_left_by_a_killed_instance_lapses_at_its_lease() {
    let moto = Moto::start_serialized();
    create_table(&moto);
    // A's lease: its 3 s timeout plus 2 s for php-fpm to stop the script.
    let mut a = Site::start(&moto.endpoint(), &["--timeout", "3"], &[]);
    let b = Site::start(&moto.endpoint(), &[], &[("LAMPHP_SESSION_LOCK_WAIT", "1")]);
    let (_, sid) = a.ok("/counter.php", None);
    let sid = sid.unwrap();
    let key = format!("PHPSESSID_{sid}");
    let holder = in_background(a.port, "/hold.php?s=20", &sid);
    let locked = wait_locked(&moto, &key);
    let (locked_at, locked_ms, lease) = (Instant::now(), epoch_ms(), lease_end(&locked));
    // Taken moments ago, for the timeout and the 2 s after it.
    let left = lease as i64 - locked_ms as i64;
    assert!(
        (4_000..=5_000).contains(&left),
        "the lease ends {left} ms after it was seen taken"
    );
    assert_eq!(locked["lock"]["N"], "1", "the SDK's lock flag");
    let _ = a.child.kill();
    let _ = a.child.wait();

    // B waits 1 s, then says why instead of starting an empty session.
    let (status, body, _) = b.get("/counter.php", Some(&sid));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("locked by another request"), "{body}");
    assert!(b.log().contains("stayed locked"), "{}", b.log());

    // Once the lease is over, B proceeds with the data as stored.
    let body = loop {
        let (status, body, _) = b.get("/counter.php", Some(&sid));
        if status == 200 {
            break body;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            locked_at.elapsed() < Duration::from_secs(15),
            "the lock did not lapse: {body}"
        );
    };
    let lapsed = epoch_ms();
    assert!(
        lapsed >= lease,
        "B took the lock {} ms before its lease ended",
        lease - lapsed
    );
    assert_eq!(body, "2");
    assert_eq!(b.ok("/show.php", Some(&sid)).0, r#"{"n":2}"#);
    // The request the kill interrupted got no answer: its connection ended with none,
    // not with a response it could take for whole.
    match holder.join().unwrap() {
        Err(e) => assert!(e.contains("closed without answering"), "{e}"),
        Ok(r) => panic!(
            "the killed instance's request was answered {}",
            r.status_line
        ),
    }
}

/// A TCP proxy in front of moto that the test can cut: new connections are refused
/// and open ones dropped, as if DynamoDB were unreachable; or, stalled, taken and never
/// answered, as if it were overloaded or a network path were black-holing packets.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (down2, stalled2, open2) = (down.clone(), stalled.clone(), open.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if down2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                if stalled2.load(Ordering::SeqCst) {
                    open2.lock().unwrap().push(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let mut list = open2.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy {
            port,
            down,
            stalled,
            open,
        }
    }

    /// Stalls DynamoDB: connections open now are dropped (their calls fail, and the
    /// client connects again), new ones are taken and never answered.
    fn set_stalled(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            for stream in self.open.lock().unwrap().drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

#[test]
fn dynamodb_unreachable_is_a_clear_503_and_nothing_is_overwritten() {
    let moto = Moto::start();
    create_table(&moto);
    let proxy = Proxy::start(moto.port);
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let a = Site::start(&endpoint, &[], &[]);
    let (_, sid) = a.ok("/counter.php", None);
    let sid = sid.unwrap();
    for want in ["2", "3"] {
        assert_eq!(a.ok("/counter.php", Some(&sid)).0, want);
    }
    let key = format!("PHPSESSID_{sid}");
    let stored = item(&moto, &key);

    proxy.set_down(true);
    let started = Instant::now();
    let (status, body, _) = a.get("/counter.php", Some(&sid));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("DynamoDB could not be reached"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the 503 took {:?}",
        started.elapsed()
    );
    assert!(
        a.log().contains("DynamoDB could not be reached"),
        "no log line:\n{}",
        a.log()
    );
    // A new visitor is refused too, rather than given a session that cannot be kept.
    assert_eq!(a.get("/counter.php", None).0, 503);
    assert_eq!(item(&moto, &key), stored, "the stored session changed");

    proxy.set_down(false);
    assert_eq!(a.ok("/counter.php", Some(&sid)).0, "4");
}

/// A DynamoDB that takes connections and never answers: each attempt times out (2 s, three
/// attempts within 5 s), and the request gets a 503 with Retry-After well within the
/// lock-wait bound (10 s), never a hang; nothing stored changes.
#[test]
fn a_stalled_dynamodb_is_a_503_with_retry_after_within_the_lock_wait() {
    let moto = Moto::start();
    create_table(&moto);
    let proxy = Proxy::start(moto.port);
    let a = Site::start(&format!("http://127.0.0.1:{}", proxy.port), &[], &[]);
    let (_, sid) = a.ok("/counter.php", None);
    let sid = sid.unwrap();
    let key = format!("PHPSESSID_{sid}");
    let stored = item(&moto, &key);
    proxy.set_stalled(true);
    let started = Instant::now();
    let request = format!(
        "GET /counter.php HTTP/1.1\r\nHost: t\r\nCookie: PHPSESSID={sid}\r\nConnection: close\r\n\r\n"
    );
    let res = http::exchange(a.port, request.as_bytes()).expect("an answer");
    let took = started.elapsed();
    assert_eq!(res.status, 503, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.header("retry-after"), Some(&b"1"[..]));
    assert!(
        String::from_utf8_lossy(&res.body).contains("no answer within"),
        "{}",
        String::from_utf8_lossy(&res.body)
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "the 503 took {took:?}"
    );
    proxy.set_stalled(false);
    assert_eq!(item(&moto, &key), stored, "the stored session changed");
    assert_eq!(a.ok("/counter.php", Some(&sid)).0, "2");
}

#[test]
fn dynamodb_lost_between_read_and_write_leaves_the_stored_session_as_it_was() {
    let moto = Moto::start_serialized();
    create_table(&moto);
    let proxy = Proxy::start(moto.port);
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    // Lease: the 3 s timeout plus 2 s.
    let mut a = Site::start(&endpoint, &["--timeout", "3"], &[]);
    let (_, sid) = a.ok("/counter.php", None);
    let sid = sid.unwrap();
    let key = format!("PHPSESSID_{sid}");
    let slow = in_background(a.port, "/slow_counter.php?s=2", &sid);
    wait_locked(&moto, &key);
    let locked_at = Instant::now();
    proxy.set_down(true);
    // The script sleeps 2 s, then its write's first attempt alone may take 2 s: the
    // request is past its 3 s and its client has the 504, at the timeout, not after the
    // write's retries. The write's error is logged.
    let interrupted = slow
        .join()
        .unwrap()
        .expect("an answer to the interrupted request");
    assert_eq!(interrupted.status, 504, "{}", a.log());
    assert!(
        locked_at.elapsed() < Duration::from_millis(3300),
        "the 504 came {:?} after the lock, past the 3 s timeout",
        locked_at.elapsed()
    );
    a.wait_for_log("DynamoDB could not be reached", Duration::from_secs(10));
    proxy.set_down(false);
    let stored = item(&moto, &key);
    assert_eq!(stored["data"]["S"], "n|i:1;", "{stored}");
    assert!(stored.get("lock_owner").is_some(), "{stored}");
    let lease = lease_end(&stored);

    // The lock the failed write could not release lapses at its lease (5 s after it was
    // taken); the next request waits for that and sees the data as stored before. It
    // starts 3 s after the lock, so that its wait fits its own 3 s however soon the
    // failed write gave up, and it cannot be answered before the lease ends.
    thread::sleep((locked_at + Duration::from_secs(3)).saturating_duration_since(Instant::now()));
    assert_eq!(a.ok("/counter.php", Some(&sid)).0, "2");
    let now = epoch_ms();
    assert!(
        now >= lease,
        "the lock was taken {} ms before its lease ended",
        lease - now
    );
    assert_eq!(item(&moto, &key)["data"]["S"], "n|i:2;");
}

/// moto behind a [`Dropper`], a site on it, and a session whose counter is at 1.
fn counted_once_through_a_dropper() -> (Moto, Dropper, Site, String) {
    let moto = Moto::start_serialized();
    create_table(&moto);
    let dropper = Dropper::start(moto.port);
    let a = Site::start(&format!("http://127.0.0.1:{}", dropper.port), &[], &[]);
    let (_, sid) = a.ok("/counter.php", None);
    (moto, dropper, a, sid.expect("a session cookie"))
}

/// DynamoDB took the lock but its answer was lost: the retry finds the request's own lock
/// and takes it as held, rather than waiting for itself until the lock-wait limit.
#[test]
fn a_lock_whose_answer_was_lost_is_taken_as_ours_on_the_retry() {
    let (moto, dropper, a, sid) = counted_once_through_a_dropper();
    dropper.drop_next_answer_to("SET lock_owner = :me");
    let started = Instant::now();
    assert_eq!(a.ok("/counter.php", Some(&sid)).0, "2");
    assert_eq!(dropper.dropped(), 1, "no answer was lost");
    // The retry waits up to a second (the SDKs' jitter); the lock wait is 10 s.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let stored = item(&moto, &format!("PHPSESSID_{sid}"));
    assert_eq!(stored["data"]["S"], "n|i:2;", "{stored}");
    assert!(stored.get("lock_owner").is_none(), "{stored}");
}

/// DynamoDB wrote the session and removed the lock but its answer was lost: the retry's
/// condition (our lock) no longer holds, and the request must see that its write is the
/// one stored instead of reporting it lost.
#[test]
fn a_write_whose_answer_was_lost_is_known_to_be_stored_on_the_retry() {
    let (moto, dropper, a, sid) = counted_once_through_a_dropper();
    dropper.drop_next_answer_to("SET #d = :data");
    assert_eq!(a.ok("/counter.php", Some(&sid)).0, "2");
    assert_eq!(dropper.dropped(), 1, "no answer was lost");
    assert!(!a.log().contains("were not saved"), "{}", a.log());
    let stored = item(&moto, &format!("PHPSESSID_{sid}"));
    assert_eq!(stored["data"]["S"], "n|i:2;", "{stored}");
    assert!(stored.get("lock_owner").is_none(), "{stored}");
    assert_eq!(a.ok("/counter.php", Some(&sid)).0, "3");
}

#[test]
fn the_sites_own_auto_prepend_file_still_runs() {
    let moto = Moto::start_serialized();
    create_table(&moto);
    let ini = tempfile::tempdir().unwrap();
    let prepend =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sessions/prepend/site_prepend.php");
    std::fs::write(
        ini.path().join("prepend.ini"),
        format!("auto_prepend_file = \"{}\"\n", prepend.display()),
    )
    .unwrap();
    let scan = format!(":{}", ini.path().display());
    let a = Site::start(&moto.endpoint(), &[], &[("PHP_INI_SCAN_DIR", &scan)]);
    let b = Site::start(&moto.endpoint(), &[], &[("PHP_INI_SCAN_DIR", &scan)]);
    let (body, sid) = a.ok("/prepended.php", None);
    assert_eq!(body, "site prepend ran 1");
    assert_eq!(
        b.ok("/prepended.php", sid.as_deref()).0,
        "site prepend ran 2"
    );
}

/// A DynamoDB endpoint that throttles every request; counts them.
fn throttling_endpoint() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = count.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let counter = counter.clone();
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    std::io::Read::read_exact(&mut reader, &mut body).unwrap();
                    counter.fetch_add(1, Ordering::SeqCst);
                    let json = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
                    let response = format!(
                        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{json}",
                        json.len()
                    );
                    if std::io::Write::write_all(&mut &stream, response.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://127.0.0.1:{port}"), count)
}

#[test]
fn throttling_is_retried_a_bounded_number_of_times_then_a_503() {
    let (endpoint, count) = throttling_endpoint();
    let a = Site::start(&endpoint, &[], &[]);
    let started = Instant::now();
    let (status, body, _) = a.get("/counter.php", Some("somesessionid"));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("throttled"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count.load(Ordering::SeqCst), 3, "attempts for one read");
}

#[test]
fn strict_mode_regenerate_and_destroy() {
    let (moto, a, b) = setup(&[], &[]);
    // Strict mode: an id nobody issued is replaced.
    let (body, cookie) = a.ok("/strict.php", Some("unknownsessionid0123456789"));
    assert_ne!(body, "unknownsessionid0123456789");
    assert_eq!(cookie.as_deref(), Some(body.as_str()));
    assert_eq!(
        item(&moto, "PHPSESSID_unknownsessionid0123456789"),
        Value::Null
    );
    // ... and a known one is kept.
    let (_, sid) = a.ok("/counter.php", None);
    let sid = sid.unwrap();
    let (body, cookie) = b.ok("/strict.php", Some(&sid));
    assert_eq!(body, sid);
    assert_eq!(cookie, None);

    // session_regenerate_id(true): the data moves to the new id, the old item goes.
    let (new, cookie) = b.ok("/regenerate.php", Some(&sid));
    assert_ne!(new, sid);
    assert_eq!(cookie.as_deref(), Some(new.as_str()));
    assert_eq!(item(&moto, &format!("PHPSESSID_{sid}")), Value::Null);
    assert_eq!(a.ok("/counter.php", Some(&new)).0, "2");

    // session_destroy deletes the item.
    a.ok("/destroy.php", Some(&new));
    assert_eq!(item(&moto, &format!("PHPSESSID_{new}")), Value::Null);
    assert_eq!(b.ok("/show.php", Some(&new)).0, "[]");
}

#[test]
fn sites_of_one_serve_sharing_a_table_do_not_share_sessions() {
    let moto = Moto::start_serialized();
    create_table(&moto);
    let root = docroot();
    let site = |host: &str| format!("{host} {}", root.display());
    let (a, b) = (site("a.test"), site("b.test"));
    let sites = ["serve", "--workers", "1", "--site", &a, "--site", &b];
    let s = Site::launch(&moto.endpoint(), &root, &sites, &[], "serving ");
    let counter = |host: &str, sid: Option<&str>| {
        let cookie = sid
            .map(|sid| format!("Cookie: PHPSESSID={sid}\r\n"))
            .unwrap_or_default();
        let raw = format!(
            "GET /counter.php HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n"
        );
        let res = http::exchange(s.port, raw.as_bytes()).unwrap();
        assert_eq!(res.status, 200, "{}", s.log());
        let set = res
            .header("set-cookie")
            .map(|v| String::from_utf8_lossy(v).into_owned());
        let sid =
            set.and_then(|v| Some(v.strip_prefix("PHPSESSID=")?.split(';').next()?.to_owned()));
        (String::from_utf8(res.body).unwrap(), sid)
    };
    let (first, sid) = counter("a.test", None);
    let sid = sid.expect("a session cookie");
    assert_eq!(first, "1");
    assert_eq!(counter("a.test", Some(&sid)).0, "2");
    // The same cookie on the other site is a session of its own there.
    assert_eq!(counter("b.test", Some(&sid)).0, "1");
    assert_eq!(counter("a.test", Some(&sid)).0, "3");
    // Each under its site's first name.
    assert_eq!(
        item(&moto, &format!("a.test/PHPSESSID_{sid}"))["data"]["S"],
        "n|i:3;"
    );
    assert_eq!(
        item(&moto, &format!("b.test/PHPSESSID_{sid}"))["data"]["S"],
        "n|i:1;"
    );
    assert_eq!(item(&moto, &format!("PHPSESSID_{sid}")), Value::Null);
}

#[test]
fn with_locking_off_sessions_still_travel_between_instances() {
    let (moto, a, b) = setup(&[], &[("LAMPHP_SESSION_LOCKING", "off")]);
    let (_, sid) = a.ok("/counter.php", None);
    let sid = sid.unwrap();
    assert_eq!(b.ok("/counter.php", Some(&sid)).0, "2");
    let stored = item(&moto, &format!("PHPSESSID_{sid}"));
    assert_eq!(stored["data"]["S"], "n|i:2;");
    assert!(stored.get("lock_owner").is_none(), "{stored}");
}

#[test]
fn lambda_mode_shares_sessions_and_leases_end_at_the_invocation_deadline() {
    let moto = Moto::start_serialized();
    create_table(&moto);
    let serve = Site::start(&moto.endpoint(), &[], &[]);
    let lambda = Site::local(&moto.endpoint(), &["--function-timeout", "7"]);
    let (_, sid) = serve.ok("/counter.php", None);
    let sid = sid.unwrap();
    assert_eq!(lambda.ok("/counter.php", Some(&sid)).0, "2");
    assert_eq!(serve.ok("/show.php", Some(&sid)).0, r#"{"n":2}"#);

    // While a Lambda request holds the lock, its lease is the invocation's deadline
    // (7 s), not serve's timeout.
    let key = format!("PHPSESSID_{sid}");
    let holder = in_background(lambda.port, "/hold.php?s=2", &sid);
    let (lease, now) = (lease_end(&wait_locked(&moto, &key)), epoch_ms());
    // The deadline is 7 s after the invocation began, which was moments before now.
    let left = lease as i64 - now as i64;
    assert!(
        (6_000..=7_000).contains(&left),
        "the lease ends {left} ms from now"
    );
    let held = holder
        .join()
        .unwrap()
        .expect("an answer to the holding request");
    assert_eq!((held.status, &held.body[..]), (200, &b"done"[..]));
    assert_eq!(
        serve.ok("/show.php", Some(&sid)).0,
        r#"{"n":2,"held":true}"#
    );
}

/// A writable copy of Debian's DokuWiki in `dir`: the code from /usr/share/dokuwiki,
/// its config (/etc/dokuwiki) and data (/var/lib/dokuwiki) copied beside it, and one
/// user, alice. Returns the docroot.
fn dokuwiki(dir: &Path) -> PathBuf {
    assert!(
        Path::new("/usr/share/dokuwiki/doku.php").exists(),
        "DokuWiki is missing: apt-get install dokuwiki (or run `make test`)"
    );
    let run = |args: &[&str]| {
        let status = Command::new(args[0]).args(&args[1..]).status().unwrap();
        assert!(status.success(), "{args:?}: {status}");
    };
    let site = dir.join("site");
    let conf = dir.join("conf");
    let data = dir.join("data");
    let (s, c, d) = (
        site.to_str().unwrap(),
        conf.to_str().unwrap(),
        data.to_str().unwrap(),
    );
    run(&["cp", "-rL", "/usr/share/dokuwiki", s]);
    run(&["cp", "-r", "/etc/dokuwiki", c]);
    run(&["cp", "-r", "/var/lib/dokuwiki/data", d]);
    let write = |path: PathBuf, text: String| {
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, text).unwrap();
    };
    write(
        site.join("inc/preload.php"),
        format!("<?php\ndefine('DOKU_CONF', '{c}/');\n"),
    );
    // securecookie would put the server's port in the session's key, and the two
    // instances listen on two ports (behind a load balancer they share one).
    write(
        conf.join("local.php"),
        format!(
            "<?php\n$conf['savedir'] = '{d}';\n$conf['useacl'] = 1;\n\
             $conf['authtype'] = 'authplain';\n$conf['superuser'] = '@admin';\n\
             $conf['securecookie'] = 0;\n"
        ),
    );
    write(
        conf.join("acl.auth.php"),
        "*\t@ALL\t1\n*\t@user\t8\n".to_owned(),
    );
    let hash = Command::new("php")
        .args(["-r", "echo password_hash('secret123', PASSWORD_BCRYPT);"])
        .output()
        .expect("php-cli is needed: apt-get install php8.2-cli");
    write(
        conf.join("users.auth.php"),
        format!(
            "alice:{}:Alice Liddell:alice@example.com:admin,user\n",
            String::from_utf8(hash.stdout).unwrap()
        ),
    );
    site
}

/// Log in to DokuWiki through one instance, then load a page through another with the
/// same cookies: (whether it shows alice logged in, the page, B's log).
fn dokuwiki_login_then_switch(env: &[(&str, &str)]) -> (bool, String, String) {
    let moto = Moto::start_serialized();
    create_table(&moto);
    let dirs = tempfile::tempdir().unwrap();
    let (one, two) = (dirs.path().join("a"), dirs.path().join("b"));
    std::fs::create_dir(&one).unwrap();
    std::fs::create_dir(&two).unwrap();
    let args = ["serve", "--workers", "2"];
    // Each instance has its own copy: its own data dir, cookie salt, /tmp.
    let a = Site::launch(&moto.endpoint(), &dokuwiki(&one), &args, env, "serving ");
    let b = Site::launch(&moto.endpoint(), &dokuwiki(&two), &args, env, "serving ");

    let mut browser = Browser::default();
    let (status, page) = browser.fetch(a.port, "/doku.php?id=start&do=login", None);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("name=\"u\""), "no login form:\n{page}");
    let (status, page) = browser.fetch(
        a.port,
        "/doku.php?id=start",
        Some("do=login&id=start&sectok=&u=alice&p=secret123"),
    );
    assert_eq!(
        status,
        302,
        "the login was not accepted:\n{page}\n{}",
        a.log()
    );
    let (_, page) = browser.fetch(a.port, "/doku.php?id=start", None);
    assert!(
        page.contains("Alice Liddell"),
        "not logged in on A:\n{page}"
    );

    let (status, page) = browser.fetch(b.port, "/doku.php?id=start", None);
    assert_eq!(status, 200, "{page}");
    let logged_in = page.contains("Alice Liddell") && page.contains("do=logout");
    (logged_in, page, b.log())
}

#[test]
fn a_dokuwiki_login_survives_a_switch_of_instance() {
    let (logged_in, page, log) = dokuwiki_login_then_switch(&[]);
    assert!(logged_in, "the login did not reach B:\n{page}\n{log}");
}

#[test]
fn without_a_table_php_keeps_its_own_sessions_and_the_login_stays_behind() {
    let (logged_in, page, _) = dokuwiki_login_then_switch(&[("LAMPHP_SESSION_TABLE", "")]);
    assert!(
        !logged_in,
        "B knew the login without a shared table:\n{page}"
    );
}
