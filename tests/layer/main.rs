//! The Lambda layer is self-contained: `layer/build.sh` assembles it from the host's PHP,
//! it is unpacked into an otherwise empty root that holds only glibc and the loader, and
//! `/opt/bootstrap` serves a site from `/var/task` inside that root (bubblewrap), under
//! `cargo lambda watch --only-lambda-apis`, with the layer's own php-fpm, ini and
//! extensions. The container image (../Dockerfile) is the same layer in `/opt` plus
//! `layer/entrypoint.sh`: it is run there too, as Lambda runs an image (the Runtime API
//! loop, whatever the CMD) and as ECS does (`serve`). Needs bubblewrap, patchelf, zip and
//! unzip (`make test` installs them).

#[path = "../lambda/emulator.rs"]
mod emulator;
#[path = "../parity/http.rs"]
mod http;

use emulator::{capture, Watch};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// glibc's libraries, as named in layer/build.sh: the only files from the host in the root.
const GLIBC: [&str; 12] = [
    "libc.so.6",
    "libm.so.6",
    "libmvec.so.1",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libresolv.so.2",
    "libutil.so.1",
    "libanl.so.1",
    "libnss_files.so.2",
    "libnss_dns.so.2",
    "libthread_db.so.1",
];
const LIBC_DIR: &str = "/lib/x86_64-linux-gnu";
const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

fn require(tool: &str, args: &[&str], install: &str) {
    assert!(
        Command::new(tool)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "{tool} is missing: {install} (or run `make test`)"
    );
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The root every test here runs in, built once (assembling the layer takes half a minute)
/// and only ever mounted read-only.
fn layer() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        require("bwrap", &["--version"], "apt-get install bubblewrap");
        require("patchelf", &["--version"], "apt-get install patchelf");
        require("zip", &["-v"], "apt-get install zip");
        require("unzip", &["-v"], "apt-get install unzip");
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("layer");
        let _ = std::fs::remove_dir_all(&tmp);
        layer_root(&tmp)
    })
}

/// Builds the layer (with the bootstrap cargo built for this test, so the test needs no
/// release build) and unpacks it into `<root>/opt`; `root` gets glibc, the loader, a site,
/// and what the container image adds: `/opt/entrypoint.sh` and the `/bin/sh` it runs on.
fn layer_root(tmp: &Path) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tmp.join("out");
    let build = run(Command::new(repo.join("layer/build.sh"))
        .env("OUT", &out)
        // As `make layer` does (the Makefile's LAYER_SKIP): Debian's gd brings 34 MB of
        // codecs php-build's gd does not.
        .env("SKIP_EXTENSIONS", "gd")
        .env("BOOTSTRAP", env!("CARGO_BIN_EXE_bootstrap")));
    let report = String::from_utf8_lossy(&build.stdout);
    for line in ["bootstrap", "php-fpm + php", "libraries", "zip"] {
        assert!(
            report.contains(line),
            "no {line} in the size report:\n{report}"
        );
    }
    let zip = out.join(format!("lamphp-layer-{}.zip", std::env::consts::ARCH));
    let root = tmp.join("root");
    std::fs::create_dir_all(root.join("opt")).unwrap();
    run(Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(root.join("opt")));
    for dir in [
        "tmp",
        "proc",
        "dev",
        "var/task/public",
        "var/task/php/conf.d",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let libc_dir = root.join(LIBC_DIR.trim_start_matches('/'));
    std::fs::create_dir_all(&libc_dir).unwrap();
    for lib in GLIBC {
        let host = Path::new(LIBC_DIR).join(lib);
        assert!(host.exists(), "{} is missing on this host", host.display());
        std::fs::copy(&host, libc_dir.join(lib)).unwrap();
    }
    // One file beyond glibc: Debian patches its PHP to read time zones from the system's
    // /usr/share/zoneinfo instead of its built-in database, and without it any date()
    // (and every timestamped log line) crashes PHP with SIGSEGV. A layer cannot ship files
    // there; PHP built by php-build/ keeps the built-in database and needs none.
    let zoneinfo = root.join("usr/share/zoneinfo");
    std::fs::create_dir_all(&zoneinfo).unwrap();
    std::fs::copy("/usr/share/zoneinfo/UTC", zoneinfo.join("UTC")).unwrap();
    std::fs::create_dir_all(root.join("lib64")).unwrap();
    std::fs::copy(LOADER, root.join(LOADER.trim_start_matches('/'))).unwrap();
    std::fs::copy(
        repo.join("layer/entrypoint.sh"),
        root.join("opt/entrypoint.sh"),
    )
    .unwrap();
    // Debian's /bin/sh (dash) needs glibc alone, as Amazon Linux's does.
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/dash", root.join("bin/sh")).unwrap();
    std::fs::write(
        root.join("var/task/public/index.php"),
        r#"<?php
header('Content-Type: application/json');
echo json_encode([
    'binary' => PHP_BINARY,
    'sapi' => PHP_SAPI,
    'ini' => php_ini_loaded_file(),
    'scanned' => php_ini_scanned_files(),
    'extension_dir' => ini_get('extension_dir'),
    'opcache' => function_exists('opcache_get_status') && opcache_get_status(false)['opcache_enabled'],
    'extensions' => get_loaded_extensions(),
    'memory_limit' => ini_get('memory_limit'),
    'display_errors' => ini_get('display_errors'),
    'timezone' => date_default_timezone_get() . ' ' . date('Y', 0),
    'logged' => error_log('lamphp layer test: logged from PHP'),
]);
"#,
    )
    .unwrap();
    // The site's own settings, read after the layer's.
    std::fs::write(
        root.join("var/task/php/conf.d/site.ini"),
        "memory_limit = 99M\n",
    )
    .unwrap();
    root
}

/// bwrap running `program` with `root` as `/` and nothing else from the host.
fn sandbox(root: &Path, env: &[(&str, &str)], program: &[&str]) -> Command {
    let mut command = Command::new("bwrap");
    command
        .args([
            "--unshare-all",
            "--share-net",
            "--die-with-parent",
            "--clearenv",
        ])
        .arg("--ro-bind")
        .arg(root)
        .args(["/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
    for (name, value) in env {
        command.args(["--setenv", name, value]);
    }
    command.args(program);
    command
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    path.is_file()
        && std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && magic == *b"\x7fELF"
}

fn elves(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            elves(&path, found);
        } else if is_elf(&path) {
            found.push(path);
        }
    }
}

#[test]
fn every_elf_file_resolves_its_libraries_inside_the_layer_or_glibc() {
    let root = layer();
    // As the loader itself sees it inside the root.
    let mut files = Vec::new();
    elves(&root.join("opt"), &mut files);
    assert!(files.len() > 5, "too few ELF files in the layer: {files:?}");
    for file in &files {
        let inside = Path::new("/").join(file.strip_prefix(root).unwrap());
        let output = run(&mut sandbox(
            root,
            &[],
            &[LOADER, "--list", inside.to_str().unwrap()],
        ));
        let list = String::from_utf8_lossy(&output.stdout);
        for line in list.lines().filter(|l| l.contains("=>")) {
            // e.g. "/opt/bin/../lib/libz.so.1 (0x...)", or "not found".
            let path = line.split("=>").nth(1).unwrap().trim();
            assert!(
                path.starts_with("/opt/") || path.starts_with(LIBC_DIR),
                "{}: {line}\n{list}",
                inside.display()
            );
        }
    }
}

/// The bootstrap answers an ALB event through the layer's php-fpm: run as Lambda runs a
/// layer's (`/opt/bootstrap`), then as Lambda runs the container image (its entry point,
/// with the image's CMD as arguments).
#[test]
fn the_layer_serves_a_site_from_a_root_with_only_glibc() {
    let root = layer();
    let event = serde_json::to_vec(&serde_json::json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lamphp/0123456789abcdef"}},
        "httpMethod": "GET",
        "path": "/",
        "multiValueQueryStringParameters": {},
        "multiValueHeaders": {"host": ["example.com"]},
        "body": "",
        "isBase64Encoded": false
    }))
    .unwrap();
    for program in [&["/opt/bootstrap"][..], &["/opt/entrypoint.sh", "serve"]] {
        // An emulator each: one may hand an event to a runtime's poll that was stopped.
        let mut watch = Watch::start(Path::new(env!("CARGO_MANIFEST_DIR")));
        let api = watch.api();
        let env = [
            ("AWS_LAMBDA_RUNTIME_API", api.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", "_"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("_HANDLER", "public/index.php"),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ];
        watch.spawn(sandbox(root, &env, program));
        let (_, body) = watch.invoke_when_ready(&event);
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            answer["statusCode"],
            200,
            "{program:?}: {answer}\n{}",
            watch.log()
        );
        let page: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{e}: {answer}"));
        assert_served_by_the_layer(&page, &watch.log);
    }
}

/// Outside Lambda (ECS, `docker run`) the container's entry point runs `bootstrap serve`,
/// which serves HTTP itself through the layer's php-fpm.
#[test]
fn the_container_entry_point_serves_http_outside_lambda() {
    let root = layer();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = Arc::new(Mutex::new(String::new()));
    // The Dockerfile's ENV, and no Runtime API.
    let env = [
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("LAMPHP_ROOT", "/var/task/public"),
        ("LAMPHP_LISTEN", listen.as_str()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ];
    let _server = spawn_logged(sandbox(root, &env, &["/opt/entrypoint.sh"]), &log);
    let request = b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n";
    let start = Instant::now();
    let body = loop {
        match http::exchange(port, request) {
            Ok(response) if response.status == 200 => break response.body,
            other if start.elapsed() > Duration::from_secs(30) => {
                panic!("no page: {other:?}\n{}", log.lock().unwrap())
            }
            _ => thread::sleep(Duration::from_millis(200)),
        }
    };
    let page: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
    assert_served_by_the_layer(&page, &log);
}

/// `page` (the site's index.php) was run by the layer's php-fpm with the layer's ini, its
/// extensions and the site's conf.d, and PHP's error_log() reached the bootstrap's log.
fn assert_served_by_the_layer(page: &serde_json::Value, log: &Mutex<String>) {
    assert_eq!(page["binary"], "/opt/bin/php-fpm", "{page}");
    assert_eq!(page["sapi"], "fpm-fcgi");
    assert_eq!(page["ini"], "/opt/etc/php/php.ini", "{page}");
    assert_eq!(page["extension_dir"], "/opt/lib/php/extensions");
    let scanned = page["scanned"].as_str().unwrap_or_default();
    assert!(
        scanned.contains("/opt/etc/php/conf.d/")
            && scanned.contains("/var/task/php/conf.d/site.ini"),
        "{page}"
    );
    assert_eq!(page["memory_limit"], "99M", "the site's conf.d comes last");
    let start = Instant::now();
    while !log
        .lock()
        .unwrap()
        .contains("lamphp layer test: logged from PHP")
    {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "error_log() did not reach the bootstrap's log:\n{}",
            log.lock().unwrap()
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(page["display_errors"], "", "{page}");
    assert_eq!(page["opcache"], true, "{page}");
    assert_eq!(page["timezone"], "UTC 1970", "{page}");
    assert_eq!(page["logged"], true, "{page}");
    let extensions = page["extensions"].as_array().unwrap();
    // The extensions php-build/ ships (less gd: see the Makefile's LAYER_PHP_PACKAGES),
    // each loaded from /opt with the libraries the layer bundles for it.
    let shipped = "Zend OPcache,ctype,tokenizer,PDO,mbstring,intl,bcmath,mysqli,pdo_mysql,pgsql,\
                   pdo_pgsql,pdo_sqlite,sqlite3,zip,bz2,curl,dom,SimpleXML,xsl,sodium,exif,fileinfo";
    for shared in shipped.split(',') {
        assert!(
            extensions.iter().any(|e| e == shared),
            "{shared} not loaded from /opt: {page}"
        );
    }
    assert!(
        !extensions.iter().any(|e| e == "gd"),
        "gd was to be left out (SKIP_EXTENSIONS): {page}"
    );
}

/// The CLI runs in the root too, and reads the layer's php.ini once PHPRC is set (as it is
/// for scripts, which inherit php-fpm's environment).
#[test]
fn the_layer_php_cli_runs_in_the_root() {
    let output = run(&mut sandbox(
        layer(),
        &[
            ("PHPRC", "/opt/etc/php"),
            ("PHP_INI_SCAN_DIR", "/opt/etc/php/conf.d:/var/task/php/conf.d"),
        ],
        &[
            "/opt/bin/php",
            "-r",
            "echo php_ini_loaded_file(), ' ', extension_loaded('ctype') ? 'ctype' : 'no-ctype', ' ', ini_get('memory_limit');",
        ],
    ));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "/opt/etc/php/php.ini ctype 99M"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `command` with its output appended to `log`; killed when dropped.
fn spawn_logged(mut command: Command, log: &Arc<Mutex<String>>) -> Killed {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    capture(child.stdout.take().unwrap(), log.clone());
    capture(child.stderr.take().unwrap(), log.clone());
    Killed(child)
}
