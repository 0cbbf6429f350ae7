//! The supervisor against the real php-fpm.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::*;

/// A fresh directory under the system temp dir, short enough for a socket path.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("lamphp-fpm-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test's directory with its PHP scripts. Dropping it SIGKILLs every process group it
/// was shown, so a failing test leaves no php-fpm behind even if the code under test is
/// what failed.
struct Setup {
    dir: TempDir,
    pools: Mutex<Vec<u32>>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        for &pid in self.pools.lock().unwrap().iter() {
            unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
        }
    }
}

fn setup(scripts: &[(&str, &str)]) -> Setup {
    find_binary(Backend::Fpm, None).expect("these tests need php-fpm");
    // Orphaned workers then become our children, so the tests can see that they are reaped
    // rather than left as zombies (as they would be under a bootstrap that is PID 1).
    static SUBREAPER: std::sync::Once = std::sync::Once::new();
    SUBREAPER.call_once(|| assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) }, 0));
    let dir = TempDir::new();
    for (name, code) in scripts {
        std::fs::write(dir.path().join(name), code).unwrap();
    }
    Setup {
        dir,
        pools: Mutex::default(),
    }
}

impl Setup {
    fn config(&self, children: usize) -> FpmConfig {
        FpmConfig {
            children,
            ..FpmConfig::new(Backend::Fpm, self.dir.path().join("run"))
        }
    }

    async fn start(&self, config: FpmConfig) -> Fpm {
        let fpm = Fpm::start(config).await.expect("php-fpm starts");
        self.watch(fpm.pid().expect("a master runs"));
        fpm
    }

    fn watch(&self, pid: u32) -> u32 {
        self.pools.lock().unwrap().push(pid);
        pid
    }

    fn script(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// One FastCGI request (php-fpm's side of what nginx sends), returning stdout and stderr.
async fn fcgi(socket: &Path, script: &Path) -> std::io::Result<(String, String)> {
    fn record(out: &mut Vec<u8>, kind: u8, content: &[u8]) {
        let len = content.len() as u16;
        out.extend([1, kind, 0, 1, (len >> 8) as u8, len as u8, 0, 0]);
        out.extend(content);
    }
    let mut params = Vec::new();
    for (name, value) in [
        ("SCRIPT_FILENAME", script.to_str().unwrap()),
        ("REQUEST_METHOD", "GET"),
    ] {
        assert!(value.len() < 128, "short-form lengths only");
        params.extend([name.len() as u8, value.len() as u8]);
        params.extend(name.bytes().chain(value.bytes()));
    }
    let mut request = Vec::new();
    record(&mut request, 1, &[0, 1, 0, 0, 0, 0, 0, 0]); // BEGIN_REQUEST, responder
    record(&mut request, 4, &params);
    record(&mut request, 4, &[]);
    record(&mut request, 5, &[]); // empty STDIN
    let mut stream = UnixStream::connect(socket).await?;
    stream.write_all(&request).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let (mut stdout, mut stderr, mut rest) = (Vec::new(), Vec::new(), &response[..]);
    while rest.len() >= 8 {
        let len = u16::from_be_bytes([rest[4], rest[5]]) as usize;
        let (content, after) = rest[8..].split_at(len);
        match rest[1] {
            3 => {
                return Ok((
                    String::from_utf8_lossy(&stdout).into(),
                    String::from_utf8_lossy(&stderr).into(),
                ))
            }
            6 => stdout.extend(content),
            7 => stderr.extend(content),
            _ => {}
        }
        rest = &after[rest[6] as usize..];
    }
    Err(std::io::ErrorKind::UnexpectedEof.into())
}

/// The fields of /proc/PID/stat after the command name: state, ppid, pgrp, ...
fn stat(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    after_comm.split_whitespace().map(String::from).collect()
}

/// Gone from the process table: a zombie is a leak too.
fn assert_gone(pids: &[u32], what: &str) {
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "{pid} is left {what}"
        );
    }
}

fn children_of(parent: u32) -> Vec<u32> {
    let procs = std::fs::read_dir("/proc").unwrap();
    let pids = procs.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok());
    pids.filter(|&pid| stat(pid).get(1) == Some(&parent.to_string()))
        .collect()
}

async fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The pool's workers, once all `n` have been forked.
async fn workers(master: u32, n: usize) -> Vec<u32> {
    eventually("all workers forked", Duration::from_secs(5), || {
        children_of(master).len() == n
    })
    .await;
    children_of(master)
}

/// Collects what the supervisor logs through `tracing` on this thread (the tests run on a
/// current-thread runtime, so the drain tasks log here too).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let sink = logs.clone();
        // Debug: PHP's own messages from workers are logged at that level.
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const HELLO: (&str, &str) = ("hello.php", "<?php echo 'hello from ', getmypid();");
/// Holds its worker until killed (in a loop: a signal cuts one sleep() short), after
/// telling the test it got there.
const STUCK: (&str, &str) = (
    "stuck.php",
    "<?php error_log('stuck-marker'); touch(__DIR__ . '/stuck.started'); for (;;) sleep(60);",
);

/// Runs for a second.
const SLOW: (&str, &str) = (
    "slow.php",
    "<?php touch(__DIR__ . '/slow.started'); sleep(1); echo 'slow done';",
);

async fn hello(fpm: &Fpm, setup: &Setup) {
    let (out, _) = fcgi(fpm.pool.socket(), &setup.script(HELLO.0))
        .await
        .expect("a FastCGI answer");
    assert!(out.contains("hello from "), "{out}");
}

/// Sends a request for `script` (one that touches `<name>.started` first, as STUCK and
/// SLOW do), and returns once a worker is running it.
async fn start_running(
    fpm: &Fpm,
    setup: &Setup,
    script: &str,
) -> tokio::task::JoinHandle<std::io::Result<(String, String)>> {
    let (socket, path) = (fpm.pool.socket().to_owned(), setup.script(script));
    let request = tokio::spawn(async move { fcgi(&socket, &path).await });
    let name = script.trim_end_matches(".php");
    let started = setup.script(&format!("{name}.started"));
    eventually(&format!("{name} started"), Duration::from_secs(5), || {
        started.exists()
    })
    .await;
    request
}

/// Sends a request that will not finish, and returns once a worker is busy with it.
async fn get_stuck(
    fpm: &Fpm,
    setup: &Setup,
) -> tokio::task::JoinHandle<std::io::Result<(String, String)>> {
    start_running(fpm, setup, STUCK.0).await
}

#[tokio::test]
async fn starts_serves_and_shuts_down_without_leaving_a_process() {
    let setup = setup(&[HELLO]);
    let fpm = setup.start(setup.config(2)).await;
    let master = fpm.pid().unwrap();
    let socket = fpm.pool.socket().to_owned();
    assert_eq!(socket, setup.dir.path().join("run/fpm.sock"));
    hello(&fpm, &setup).await;
    let mut pool = workers(master, 2).await;
    for &worker in &pool {
        assert_eq!(
            stat(worker)[2],
            master.to_string(),
            "in the master's process group"
        );
    }
    fpm.shutdown().await;
    pool.push(master);
    assert_gone(&pool, "after shutdown");
    assert!(!socket.exists(), "the socket is removed");
}

#[tokio::test]
async fn a_bad_config_fails_start_with_php_fpms_own_words() {
    let setup = setup(&[]);
    let (logs, _guard) = Logs::capture();
    let mut config = setup.config(1);
    config
        .ini
        .push(("memory_limit".into(), "\"unterminated".into()));
    let err = format!("{:#}", Fpm::start(config).await.unwrap_err());
    for needle in [
        "exited (exit status: 78) before it was ready. Its output:\n",
        "syntax error, unexpected end of file",
        "ERROR: failed to load configuration file",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from: {err}");
    }
    let logged = logs.text();
    assert!(
        logged.contains("ERROR php-fpm: [") && logged.contains("initialization failed"),
        "{logged}"
    );
}

#[tokio::test]
async fn a_php_fpm_that_never_listens_is_given_up_on_and_killed() {
    let setup = setup(&[]);
    let (fake, pidfile) = (setup.script("fake-fpm"), setup.script("fake.pid"));
    let pidfile_arg = pidfile.display();
    let body = format!(
        "#!/bin/sh\necho $$ > {pidfile_arg}\necho 'fake php-fpm: stuck' >&2\nexec sleep 60\n"
    );
    std::fs::write(&fake, body).unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = FpmConfig {
        binary: Some(fake),
        ..setup.config(1)
    };
    let began = Instant::now();
    let err = format!(
        "{:#}",
        Fpm::start_with(config, Duration::from_millis(300))
            .await
            .unwrap_err()
    );
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "gave up after {:?}",
        began.elapsed()
    );
    assert!(
        err.contains("did not accept connections") && err.contains("fake php-fpm: stuck"),
        "{err}"
    );
    assert_gone(
        &[std::fs::read_to_string(pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap()],
        "of the fake",
    );
}

#[tokio::test]
async fn a_flood_of_worker_output_does_not_block_php_fpm() {
    // 1 MB through php-fpm's log per request: 16 times what a pipe holds.
    let flood = "<?php for ($i = 0; $i < 1024; $i++) \
        { error_log(sprintf('flood %04d ', $i) . str_repeat('x', 1000)); } echo 'flooded';";
    let setup = setup(&[("flood.php", flood), HELLO]);
    let (logs, _guard) = Logs::capture();
    let fpm = setup.start(setup.config(1)).await;
    let script = setup.script("flood.php");
    for _ in 0..2 {
        let request =
            tokio::time::timeout(Duration::from_secs(20), fcgi(fpm.pool.socket(), &script));
        let (out, err) = request.await.expect("php-fpm hung").unwrap();
        assert!(
            out.ends_with("flooded") && err.contains("flood 1023"),
            "{out}"
        );
    }
    hello(&fpm, &setup).await;
    // A log line may trail the response it belongs to.
    let last = "DEBUG php-fpm: NOTICE: PHP message: flood 1023 xxx";
    let both = || logs.text().matches(last).count() == 2;
    eventually("every line reaches tracing", Duration::from_secs(5), both).await;
    fpm.shutdown().await;
}

/// A request php-fpm took before its master died is PHP's already: the dead master's workers
/// finish it while a new master starts, and are killed once the grace is over.
#[tokio::test]
async fn a_master_that_dies_is_replaced_and_its_workers_finish_first() {
    let setup = setup(&[HELLO, SLOW]);
    let (logs, _guard) = Logs::capture();
    let fpm = setup.start(setup.config(2)).await;
    let old = fpm.pid().unwrap();
    let mut old_pool = workers(old, 2).await;
    let slow = start_running(&fpm, &setup, SLOW.0).await;
    // Its replacement writes its config anew, should something have cleaned the dir.
    std::fs::remove_dir_all(setup.dir.path().join("run")).unwrap();
    unsafe { libc::kill(old as i32, libc::SIGKILL) };
    let began = Instant::now();
    let hello_php = setup.script(HELLO.0);
    while fpm.pid().is_none_or(|pid| pid == old)
        || fcgi(fpm.pool.socket(), &hello_php).await.is_err()
    {
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "php-fpm was not replaced within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    setup.watch(fpm.pid().unwrap());
    let (out, _) = slow
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(out.rsplit("\r\n\r\n").next(), Some("slow done"), "{out}");
    tokio::time::sleep(
        (SHUTDOWN_GRACE + Duration::from_millis(500)).saturating_sub(began.elapsed()),
    )
    .await;
    old_pool.push(old);
    assert_gone(&old_pool, "of the dead pool after its grace");
    let logged = logs.text();
    let died = format!("ERROR lamphp::fpm: php-fpm {old} died (signal: 9 (SIGKILL)); restarting");
    let report = &logged[logged.find(&died).expect(&logged)..];
    let report = &report[..report.find(" INFO ").unwrap_or(report.len())];
    assert!(
        report.contains("Its last output:\n[")
            && report.contains(&format!("fpm is running, pid {old}")),
        "{report}"
    );
    fpm.shutdown().await;
}

#[tokio::test]
async fn restart_kills_a_stuck_pool_and_serves_again() {
    let setup = setup(&[HELLO, STUCK]);
    let (logs, _guard) = Logs::capture();
    let fpm = setup.start(setup.config(1)).await;
    let old = fpm.pid().unwrap();
    let mut old_pool = workers(old, 1).await;
    let stuck = get_stuck(&fpm, &setup).await;
    // What the master has not yet passed on when it is SIGKILLed is lost with it.
    let marked = || logs.text().contains("PHP message: stuck-marker");
    eventually("the stuck worker's output", Duration::from_secs(5), marked).await;
    let began = Instant::now();
    fpm.restart().await.expect("restart");
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "restart took {:?}",
        began.elapsed()
    );
    let new = setup.watch(fpm.pid().expect("a new master"));
    assert_ne!(new, old);
    assert!(
        stuck.await.unwrap().is_err(),
        "the stuck request's connection is cut"
    );
    old_pool.push(old);
    assert_gone(&old_pool, "of the killed pool");
    hello(&fpm, &setup).await;
    // The old pool's last words are logged before the new pool's first.
    let reborn = format!("fpm is running, pid {new}");
    eventually("the new master's output", Duration::from_secs(5), || {
        logs.text().contains(&reborn)
    })
    .await;
    let logged = logs.text();
    let marker = logged.find("PHP message: stuck-marker").unwrap();
    let reborn = logged.find(&reborn).unwrap();
    assert!(marker < reborn, "{logged}");
    fpm.shutdown().await;
}

#[tokio::test]
async fn restarts_asked_for_together_kill_the_pool_once() {
    let setup = setup(&[HELLO]);
    let fpm = setup.start(setup.config(1)).await;
    let generation = || fpm.pool.generation();
    let before = generation();
    let (a, b) = tokio::join!(fpm.restart(), fpm.restart());
    a.and(b).expect("both restarts succeed");
    setup.watch(fpm.pid().unwrap());
    // A restart is one master lost and one started.
    assert_eq!(generation(), before + 2);
    fpm.restart().await.expect("a later restart");
    setup.watch(fpm.pid().unwrap());
    assert_eq!(generation(), before + 4);
    hello(&fpm, &setup).await;
    fpm.shutdown().await;
}

/// Under the reference pool (process_control_timeout = 0) php-fpm does not wait for a busy
/// worker on SIGQUIT: the request is cut at once.
#[tokio::test]
async fn shutdown_cuts_a_busy_worker_and_leaves_nothing() {
    let setup = setup(&[STUCK]);
    let fpm = setup.start(setup.config(2)).await;
    let master = fpm.pid().unwrap();
    let mut pool = workers(master, 2).await;
    let stuck = get_stuck(&fpm, &setup).await;
    let began = Instant::now();
    fpm.shutdown().await;
    assert!(
        began.elapsed() < SHUTDOWN_GRACE,
        "took {:?}",
        began.elapsed()
    );
    assert!(stuck.await.unwrap().is_err());
    pool.push(master);
    assert_gone(&pool, "after shutdown");
}

#[tokio::test]
async fn shutdown_kills_a_master_that_ignores_sigquit() {
    let setup = setup(&[]);
    let fpm = setup.start(setup.config(2)).await;
    let (master, socket) = (fpm.pid().unwrap(), fpm.pool.socket().to_owned());
    let mut pool = workers(master, 2).await;
    // A stopped process keeps SIGQUIT pending, like a master wedged in a syscall.
    unsafe { libc::kill(master as i32, libc::SIGSTOP) };
    let began = Instant::now();
    fpm.shutdown().await;
    let took = began.elapsed();
    assert!(
        took >= SHUTDOWN_GRACE && took < SHUTDOWN_GRACE + Duration::from_secs(2),
        "took {took:?}"
    );
    pool.push(master);
    assert_gone(&pool, "after shutdown");
    assert!(
        !socket.exists(),
        "the socket php-fpm could not remove is removed"
    );
}

#[tokio::test]
async fn php_fpm_stops_when_the_thread_that_started_it_ends() {
    let setup = setup(&[]);
    let binary = find_binary(Backend::Fpm, None).unwrap();
    let (invocation, socket) = config::prepare(&setup.config(1), &binary, true).unwrap();
    let tail = LogTail::default();
    let (runtime, spawner_tail) = (tokio::runtime::Handle::current(), tail.clone());
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
    let spawner = std::thread::spawn(move || {
        let _runtime = runtime.enter();
        let master = Master::spawn(Backend::Fpm, &binary, &invocation, &spawner_tail).unwrap();
        pid_tx.send(master.pid()).unwrap();
        // Forgotten, so that only the parent-death signal can stop it; the test reaps it.
        std::mem::forget(master);
        let _ = end_rx.recv();
    });
    let pid = setup.watch(pid_rx.recv().unwrap());
    // Before its signal handlers are set, SIGTERM would kill php-fpm without a word.
    let ready = || tail.text().contains("ready to handle");
    eventually("php-fpm ready", Duration::from_secs(5), ready).await;
    drop(end_tx);
    spawner.join().unwrap();
    let mut status = 0;
    let reaped = || unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) } == pid as i32;
    eventually("php-fpm exited", Duration::from_secs(5), reaped).await;
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "status {status:#x}"
    );
    let said = || tail.text().contains("Terminating");
    eventually("php-fpm said why", Duration::from_secs(2), said).await;
    assert!(!socket.exists(), "php-fpm cleaned up after itself");
}

/// php-cgi (`-b`, `PHP_FCGI_CHILDREN`) under the same supervisor: ready on its socket, its
/// children in its process group, a restart that cuts a stuck request and serves again,
/// and a shutdown (SIGTERM, on which its parent ends its children) that leaves nothing.
#[tokio::test]
async fn php_cgi_serves_restarts_and_shuts_down_without_leaving_a_process() {
    let setup = setup(&[HELLO, STUCK]);
    find_binary(Backend::Cgi, None).expect("this test needs php-cgi (apt-get install php8.2-cgi)");
    let config = FpmConfig {
        backend: Backend::Cgi,
        ..setup.config(2)
    };
    let fpm = setup.start(config).await;
    assert_eq!(fpm.pool.socket(), setup.dir.path().join("run/cgi.sock"));
    let parent = fpm.pid().unwrap();
    let mut pool = workers(parent, 2).await;
    for &child in &pool {
        assert_eq!(stat(child)[2], parent.to_string(), "in the parent's group");
    }
    hello(&fpm, &setup).await;
    let stuck = get_stuck(&fpm, &setup).await;
    fpm.restart().await.expect("restart");
    assert!(stuck.await.unwrap().is_err(), "the stuck request is cut");
    pool.push(parent);
    assert_gone(&pool, "of the killed pool");
    let parent = setup.watch(fpm.pid().expect("a new parent"));
    let mut pool = workers(parent, 2).await;
    hello(&fpm, &setup).await;
    let socket = fpm.pool.socket().to_owned();
    fpm.shutdown().await;
    pool.push(parent);
    assert_gone(&pool, "after shutdown");
    assert!(!socket.exists(), "the socket is removed");
}
