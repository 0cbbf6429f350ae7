//! The Lambda layers are self-contained and work where users deploy them: `layer/build.sh`
//! builds one PHP version for one architecture from Debian's packages, its zip is unpacked
//! into a root that holds nothing but the layer and a site (no `/lib`, `/usr` or `/bin`),
//! and everything runs there under bubblewrap: `php -v`, `php-fpm -t`, `php-cgi -v`, and
//! `/opt/bootstrap` serving the site (a front controller, a PATH_INFO script, a static
//! file, a session, a curl call to a host by name) under `cargo lambda watch`. The
//! container image made from the same layer is run from its own config (`image.rs`).
//!
//! Which layer: `LAMPHP_LAYER=8.2-arm64` (PHP 8.2 or 8.4, x86_64 or arm64; default 8.4 for
//! this machine's architecture, which `make test` runs; `make test-layers` runs the other
//! three). arm64 runs under qemu-user through binfmt_misc; a layer for another
//! architecture than this machine's needs its bootstrap in `LAMPHP_LAYER_BOOTSTRAP`.
//! Needs bubblewrap, patchelf, zip, unzip, umoci and, for arm64, qemu-user-static
//! (`make test` installs them).

#[path = "../lambda/emulator.rs"]
mod emulator;
#[path = "../parity/http.rs"]
mod http;
mod image;

use emulator::Watch;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};
use support::{Killed, Log};

/// The layer under test, built once per test binary.
struct Layer {
    php: String,
    arch: String,
    /// `build.sh`'s output directory: the zips and the trees.
    out: PathBuf,
    /// The bootstrap packaged, built for `arch`.
    bootstrap: PathBuf,
    /// A root holding the base layer at /opt, a site at /var/task, and /etc/hosts.
    root: PathBuf,
    /// The same with the extra layer unpacked over the base one, as Lambda merges layers.
    with_extra: PathBuf,
}

impl Layer {
    fn name(&self) -> String {
        format!("lamphp-php{}-{}", self.php, self.arch)
    }

    fn tree(&self) -> PathBuf {
        self.out.join(format!("php{}-{}/base", self.php, self.arch))
    }

    fn loader(&self) -> &'static str {
        match self.arch.as_str() {
            "arm64" => "/opt/lib/ld-linux-aarch64.so.1",
            _ => "/opt/lib/ld-linux-x86-64.so.2",
        }
    }
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    }
}

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

fn stdout(command: &mut Command) -> String {
    String::from_utf8_lossy(&run(command).stdout).into_owned()
}

/// The layer `LAMPHP_LAYER` names, built and unpacked once, its roots only ever mounted
/// read-only.
fn layer() -> &'static Layer {
    static LAYER: OnceLock<Layer> = OnceLock::new();
    LAYER.get_or_init(|| {
        let wanted =
            std::env::var("LAMPHP_LAYER").unwrap_or_else(|_| format!("8.4-{}", host_arch()));
        let (php, arch) = wanted
            .split_once('-')
            .unwrap_or_else(|| panic!("LAMPHP_LAYER={wanted}: PHP-ARCH, e.g. 8.4-arm64"));
        require("bwrap", &["--version"], "apt-get install bubblewrap");
        require("patchelf", &["--version"], "apt-get install patchelf");
        require("zip", &["-v"], "apt-get install zip");
        require("unzip", &["-v"], "apt-get install unzip");
        if arch != host_arch() {
            image::foreign_binaries_run(arch);
        }
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("layer-{wanted}"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let bootstrap = if arch == host_arch() {
            // The test profile's binary, without its 100 MB of debug information, which
            // would only slow every zip and unzip.
            let stripped = tmp.join("bootstrap");
            run(Command::new("strip")
                .arg("-o")
                .arg(&stripped)
                .arg(env!("CARGO_BIN_EXE_bootstrap")));
            stripped
        } else {
            PathBuf::from(
                std::env::var_os("LAMPHP_LAYER_BOOTSTRAP").unwrap_or_else(|| {
                    panic!(
                    "LAMPHP_LAYER={wanted}: set LAMPHP_LAYER_BOOTSTRAP to a bootstrap built for \
                     {arch} (`make test-layers` builds one with cargo zigbuild)"
                )
                }),
            )
        };
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = tmp.join("out");
        let build = run(Command::new(repo.join("layer/build.sh"))
            .env("PHP", php)
            .env("ARCH", arch)
            .env("OUT", &out)
            .env("BOOTSTRAP", &bootstrap)
            // The apt state outlives the test's temporary directory: lists and packages
            // are downloaded once a day, not once a run.
            .env("APT_STATE", repo.join(format!("target/apt/test-{wanted}"))));
        let report = String::from_utf8_lossy(&build.stdout);
        for line in [
            "bootstrap",
            "php-fpm, php-cgi, php",
            "libraries",
            "glibc",
            "unpacked",
            "zip",
        ] {
            assert!(
                report.contains(line),
                "no {line} in the size report:\n{report}"
            );
        }
        eprintln!("{report}");
        let layer = Layer {
            php: php.into(),
            arch: arch.into(),
            root: tmp.join("root"),
            with_extra: tmp.join("root-extra"),
            out,
            bootstrap,
        };
        site_root(&layer, &layer.root, &[""]);
        site_root(&layer, &layer.with_extra, &["", "-extra"]);
        layer
    })
}

/// A root with the layer's zips (`suffixes` of its name) unpacked into `/opt` in order, the
/// test site in `/var/task`, and the files the sandbox's image provides that the site
/// relies on: `/etc/hosts` naming the test's backend, and `/etc/nsswitch.conf`.
fn site_root(layer: &Layer, root: &Path, suffixes: &[&str]) {
    std::fs::create_dir_all(root.join("opt")).unwrap();
    for suffix in suffixes {
        let zip = layer.out.join(format!("{}{suffix}.zip", layer.name()));
        run(Command::new("unzip")
            .args(["-q", "-o"])
            .arg(&zip)
            .arg("-d")
            .arg(root.join("opt")));
    }
    for dir in ["tmp", "proc", "dev", "etc", "var/task"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(
        root.join("etc/hosts"),
        "127.0.0.1 localhost\n127.0.0.1 backend.test\n",
    )
    .unwrap();
    // As Amazon Linux's: /etc/hosts before DNS (glibc's default without the file asks
    // DNS first, and only falls back to /etc/hosts when DNS is unreachable).
    std::fs::write(root.join("etc/nsswitch.conf"), "hosts: files dns\n").unwrap();
    // For `php-fpm -t`: a pool as small as the bootstrap's.
    std::fs::write(
        root.join("etc/php-fpm.conf"),
        "[global]\nerror_log = /proc/self/fd/2\n[www]\nlisten = /tmp/fpm.sock\npm = static\npm.max_children = 1\n",
    )
    .unwrap();
    let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/layer/site");
    run(Command::new("cp")
        .arg("-r")
        .arg(site.join("public"))
        .arg(site.join("php"))
        .arg(root.join("var/task")));
}

/// bwrap with `root` as `/`, mounted `how` (`--ro-bind`, or `--bind` where bwrap has to
/// make /proc and /dev in it), an empty environment, and nothing else from the host.
fn bwrap(how: &str, root: &Path) -> Command {
    let mut command = Command::new("bwrap");
    command
        .args([
            "--unshare-all",
            "--share-net",
            "--die-with-parent",
            "--clearenv",
        ])
        .arg(how)
        .arg(root)
        .args(["/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
    command
}

/// bwrap running `program` with `root` as `/`, read-only, and `env`.
fn sandbox(root: &Path, env: &[(&str, &str)], program: &[&str]) -> Command {
    let mut command = bwrap("--ro-bind", root);
    for (name, value) in env {
        command.args(["--setenv", name, value]);
    }
    command.args(program);
    command
}

/// What the layer's CLI prints, run in `root` with `args` and the ini a layer's php-fpm
/// gets from the bootstrap.
fn php(root: &Path, args: &[&str]) -> String {
    let ini = [
        ("PHPRC", "/opt/etc/php"),
        (
            "PHP_INI_SCAN_DIR",
            "/opt/etc/php/conf.d:/var/task/php/conf.d",
        ),
    ];
    let program: Vec<_> = std::iter::once("/opt/bin/php")
        .chain(args.iter().copied())
        .collect();
    stdout(&mut sandbox(root, &ini, &program))
}

fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    !path.is_symlink()
        && path.is_file()
        && std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && magic == *b"\x7fELF"
}

fn elves(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            elves(&path, found);
        } else if is_elf(&path) {
            found.push(path);
        }
    }
}

/// Every ELF file in both layers runs on the layer's loader and resolves every library
/// inside the layer, as that loader itself reports inside the root.
#[test]
fn every_elf_file_runs_on_the_layers_loader_and_finds_its_libraries_in_the_layer() {
    let layer = layer();
    let root = &layer.with_extra;
    let mut files = Vec::new();
    elves(&root.join("opt"), &mut files);
    assert!(
        files.len() > 50,
        "too few ELF files in the layers: {files:?}"
    );
    for file in &files {
        let inside = Path::new("/").join(file.strip_prefix(root).unwrap());
        let inside = inside.to_str().unwrap();
        if inside == layer.loader() {
            continue;
        }
        let headers = stdout(Command::new("readelf").args(["-lW"]).arg(file));
        if let Some(interp) = headers.split("[Requesting program interpreter: ").nth(1) {
            assert!(
                interp.starts_with(&format!("{}]", layer.loader())),
                "{inside} runs on another loader: {interp}"
            );
        }
        let dynamic = stdout(Command::new("readelf").args(["-dW"]).arg(file));
        for line in dynamic
            .lines()
            .filter(|l| l.contains("(RUNPATH)") || l.contains("(RPATH)"))
        {
            assert!(
                line.contains("[$ORIGIN") && !line.contains("(RPATH)"),
                "{inside}: a RUNPATH not relative to the file: {line}"
            );
        }
        let list = stdout(&mut sandbox(root, &[], &[layer.loader(), "--list", inside]));
        for line in list.lines().filter(|l| l.contains("=>")) {
            // e.g. "libz.so.1 => /opt/bin/../lib/libz.so.1 (0x...)", or "not found".
            let path = line.split("=>").nth(1).unwrap().trim();
            assert!(path.starts_with("/opt/"), "{inside}: {line}\n{list}");
        }
    }
}

/// PHP's three binaries start in the root: the CLI, php-fpm's config test, php-cgi.
#[test]
fn php_cli_fpm_and_cgi_start_with_nothing_but_the_layer() {
    let layer = layer();
    let version = format!("PHP {}.", layer.php);
    let cli = stdout(&mut sandbox(&layer.root, &[], &["/opt/bin/php", "-v"]));
    assert!(cli.starts_with(&version) && cli.contains("(cli)"), "{cli}");
    let cgi = stdout(&mut sandbox(&layer.root, &[], &["/opt/bin/php-cgi", "-v"]));
    assert!(
        cgi.starts_with(&version) && cgi.contains("(cgi-fcgi)"),
        "{cgi}"
    );
    let fpm = run(&mut sandbox(
        &layer.root,
        &[],
        &[
            "/opt/bin/php-fpm",
            "-t",
            "-R",
            "-n",
            "-y",
            "/etc/php-fpm.conf",
        ],
    ));
    let said = String::from_utf8_lossy(&fpm.stderr);
    assert!(said.contains("test is successful"), "php-fpm -t: {said}");
}

/// An ALB event for `GET path_and_query` with `headers`.
fn alb_get(path: &str, query: &[(&str, &str)], headers: &[(&str, &str)]) -> Vec<u8> {
    let query: serde_json::Map<_, _> = query
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!([v])))
        .collect();
    let mut all = vec![("host", "example.com")];
    all.extend_from_slice(headers);
    let headers: serde_json::Map<_, _> = all
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!([v])))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lamphp/0123456789abcdef"}},
        "httpMethod": "GET",
        "path": path,
        "multiValueQueryStringParameters": query,
        "multiValueHeaders": headers,
        "body": "",
        "isBase64Encoded": false
    }))
    .unwrap()
}

/// A plain HTTP server on a loopback port that answers every request with `pong`: what
/// the site reaches with curl, by the name /etc/hosts gives it.
fn backend() -> u16 {
    serving(b"pong".to_vec())
}

/// Answers to one invocation: (status, headers, body), from the emulator's JSON.
fn answer(watch: &Watch, event: &[u8]) -> (u64, serde_json::Value, String) {
    let (_, body) = watch.invoke_when_ready(event);
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let status = answer["statusCode"].as_u64().unwrap_or(0);
    let body = answer["body"].as_str().unwrap_or_default().to_owned();
    (status, answer["multiValueHeaders"].clone(), body)
}

/// The bootstrap serves the site through the layer's php-fpm, as Lambda runs a layer's
/// (`/opt/bootstrap`), the same with the layer's php-cgi as the backend, and as Lambda
/// runs the container image (its entry point and CMD).
#[test]
fn the_layer_serves_a_site_under_the_runtime_api_emulator() {
    let layer = layer();
    let image = image::rootfs(layer);
    for what in ["the layer", "the layer with php-cgi", "the image"] {
        // An emulator each: one may hand an event to a runtime's poll that was stopped.
        let mut watch = Watch::start(Path::new(env!("CARGO_MANIFEST_DIR")));
        let env = [
            ("AWS_LAMBDA_RUNTIME_API", watch.api()),
            ("AWS_LAMBDA_FUNCTION_NAME", "_".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("LAMBDA_TASK_ROOT", "/var/task".into()),
            ("_HANDLER", "public/index.php".into()),
        ];
        let mut env: Vec<_> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let cgi = what.ends_with("php-cgi");
        if cgi {
            env.push(("LAMPHP_PHP_BACKEND", "cgi"));
        }
        watch.spawn(if what == "the image" {
            image.command(&env)
        } else {
            sandbox(&layer.root, &env, &["/opt/bootstrap"])
        });
        let port = backend().to_string();
        let (status, _, body) = answer(&watch, &alb_get("/", &[("backend", &port)], &[]));
        assert_eq!(status, 200, "{what}: {body}\n{}", watch.log());
        let page: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{what}: {e}: {body}\n{}", watch.log()));
        let (binary, sapi) = match cgi {
            true => ("/opt/bin/php-cgi", "cgi-fcgi"),
            false => ("/opt/bin/php-fpm", "fpm-fcgi"),
        };
        assert_eq!(
            (&page["binary"], &page["sapi"]),
            (&binary.into(), &sapi.into()),
            "{what}"
        );
        assert_served_by_the_layer(layer, &page, &watch.log);
        assert_eq!(
            page["backend"], "pong",
            "{what}: curl to backend.test: {page}"
        );
        assert_eq!(
            page["route"],
            serde_json::json!(["/index.php", "/?backend=".to_string() + &port])
        );

        let (status, _, body) = answer(&watch, &alb_get("/info.php/a/b", &[], &[]));
        assert_eq!(
            (status, body.as_str()),
            (200, "/info.php|/a/b|/var/task/public/info.php"),
            "{what}"
        );
        let (status, headers, body) = answer(&watch, &alb_get("/style.css", &[], &[]));
        assert_eq!(
            (status, body.as_str()),
            (200, "body { color: #123456; }\n"),
            "{what}"
        );
        assert_eq!(headers["content-type"][0], "text/css", "{what}: {headers}");

        let (status, headers, body) = answer(&watch, &alb_get("/session.php", &[], &[]));
        assert_eq!((status, body.as_str()), (200, "visits=1"), "{what}");
        let cookie = headers["set-cookie"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{headers}"));
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let (_, _, body) = answer(
            &watch,
            &alb_get("/session.php", &[], &[("cookie", &cookie)]),
        );
        assert_eq!(body, "visits=2", "{what}: the session was kept in /tmp");
    }
}

/// A plain HTTP server on a loopback port that answers every request with `body`: where
/// the function downloads a release's bundle from, as from its presigned S3 URL.
fn serving(body: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    port
}

/// Issue 15 on the target: the layer's own PHP compiles a release as the function unpacks
/// it, and the layer's php-fpm serving that release starts with the compiled scripts
/// (the release is changed under its cache, so the compiled answer shows it was read).
#[test]
fn the_layers_php_compiles_a_release_as_it_is_unpacked_and_starts_with_it() {
    use sha2::Digest;
    let layer = layer();
    let work = tempfile::tempdir().unwrap();
    let releases = work.path().join("releases");
    std::fs::create_dir(&releases).unwrap();
    let site = work.path().join("site/public");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.php"), "<?php echo 'compiled';").unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    tar.append_dir_all("public", &site).unwrap();
    let bundle = tar.into_inner().unwrap().finish().unwrap();
    let sha256 = hex::encode(sha2::Sha256::digest(&bundle));
    let id = "c0ffee0123456789";
    let url = format!("http://127.0.0.1:{}/bundle.tar.gz", serving(bundle));
    let in_sandbox = format!("/tmp/releases/{id}");
    let function = |release: Option<&str>, watch: &mut Watch| {
        let mut command = bwrap("--ro-bind", &layer.root);
        command.arg("--bind").arg(&releases).arg("/tmp/releases");
        let api = watch.api();
        let mut env = vec![
            ("AWS_LAMBDA_RUNTIME_API", api.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", "_"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("_HANDLER", "public/index.php"),
            ("LAMPHP_RELEASES", "/tmp/releases"),
        ];
        env.extend(release.map(|id| ("LAMPHP_RELEASE", id)));
        for (name, value) in env {
            command.args(["--setenv", name, value]);
        }
        command.arg("/opt/bootstrap");
        watch.spawn(command);
    };

    let mut unpacking = Watch::start(Path::new(env!("CARGO_MANIFEST_DIR")));
    function(None, &mut unpacking);
    let unpack =
        serde_json::json!({"lamphp": {"unpack": {"release": id, "url": url, "sha256": sha256}}});
    let (status, unpacked) = unpacking.invoke_when_ready(unpack.to_string().as_bytes());
    let unpacked = String::from_utf8_lossy(&unpacked).into_owned();
    assert_eq!(status, 200, "{unpacked}\n{}", unpacking.log());
    assert!(unpacked.contains("\"files\":1"), "{unpacked}");
    let cache = releases.join(".opcache").join(id);
    let system_ids: Vec<String> = std::fs::read_dir(&cache)
        .unwrap_or_else(|e| panic!("no cache in {}: {e}\n{}", cache.display(), unpacking.log()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(system_ids.len(), 1, "{system_ids:?}");
    let bin = cache
        .join(&system_ids[0])
        .join(in_sandbox.trim_start_matches('/'))
        .join("public/index.php.bin");
    let header = std::fs::read(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    assert_eq!(&header[8..40], system_ids[0].as_bytes());
    drop(unpacking);

    std::fs::write(
        releases.join(id).join("public/index.php"),
        "<?php echo 'source';",
    )
    .unwrap();
    let mut serving = Watch::start(Path::new(env!("CARGO_MANIFEST_DIR")));
    function(Some(id), &mut serving);
    let (status, _, body) = answer(&serving, &alb_get("/", &[], &[]));
    assert_eq!(
        (status, body.as_str()),
        (200, "compiled"),
        "{}",
        serving.log()
    );
}

/// `page` (the site's index.php) was run by the layer's PHP with the layer's ini, its
/// extensions, time zones, iconv modules and CA bundle, and the site's conf.d; PHP's
/// error_log() reached the bootstrap's log; no library path leaks into what scripts run.
fn assert_served_by_the_layer(layer: &Layer, page: &serde_json::Value, log: &Log) {
    assert!(
        page["version"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}.", layer.php)),
        "{page}"
    );
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
    while !log.text().contains("lamphp layer test: logged from PHP") {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "error_log() did not reach the bootstrap's log:\n{}",
            log.text()
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(page["display_errors"], "", "{page}");
    assert_eq!(page["opcache"], true, "{page}");
    assert_eq!(page["timezone"], "UTC 1970", "{page}");
    assert_eq!(page["paris"], "CEST +02:00", "the layer's zoneinfo: {page}");
    // "€" in ISO-8859-15, "日本" in Shift_JIS: glibc's iconv modules from the layer.
    assert_eq!(page["iconv"], "a493fa967b", "{page}");
    assert!(page["certificates"].as_u64().unwrap() > 100, "{page}");
    assert_eq!(page["curl_cainfo"], true, "{page}");
    for name in page["environment"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        assert!(
            !name.starts_with("LD_") && name != "GCONV_PATH",
            "{name} would reach every program a script runs: {page}"
        );
    }
    assert_eq!(page["logged"], true, "{page}");
    let extensions = page["extensions"].as_array().unwrap();
    let shipped = "Zend OPcache,ctype,tokenizer,PDO,mbstring,bcmath,mysqli,pdo_mysql,pgsql,\
                   pdo_pgsql,pdo_sqlite,sqlite3,zip,bz2,curl,dom,SimpleXML,xsl,sodium,exif,\
                   fileinfo,iconv,sockets";
    for shared in shipped.split(',') {
        assert!(
            extensions.iter().any(|e| e == shared),
            "{shared} not loaded from /opt: {page}"
        );
    }
    for off in ["redis", "apcu", "igbinary", "intl", "gd", "imagick"] {
        assert!(
            !extensions.iter().any(|e| e == off),
            "{off} is to be off in the base layer: {page}"
        );
    }
}

/// The PECL extensions are in the base layer but off until a site loads them.
#[test]
fn pecl_extensions_load_when_a_site_asks_for_them() {
    let layer = layer();
    let script = "echo implode(' ', array_map(fn ($e) => $e . '=' . (extension_loaded($e) ? 1 : 0), ['igbinary', 'redis', 'apcu'])), ' ', igbinary_unserialize(igbinary_serialize('ok'));";
    let off = php(
        &layer.root,
        &["-r", "echo extension_loaded('redis') ? 'on' : 'off';"],
    );
    assert_eq!(off, "off");
    let on = php(
        &layer.root,
        &[
            "-d",
            "extension=igbinary",
            "-d",
            "extension=redis",
            "-d",
            "extension=apcu",
            "-r",
            script,
        ],
    );
    assert_eq!(on, "igbinary=1 redis=1 apcu=1 ok");
}

/// The extra layer, unpacked over the base one, turns on intl, gd and imagick, each
/// working with the libraries it brings.
#[test]
fn the_extra_layer_adds_intl_gd_and_imagick() {
    let layer = layer();
    let script = r#"
        $im = imagecreatetruecolor(3, 2);
        ob_start(); imagepng($im); $png = ob_get_clean();
        $magick = new Imagick(); $magick->readImageBlob($png);
        echo Normalizer::normalize("e\u{301}") === "\u{e9}" ? 'intl' : 'no-intl', ' ',
             substr($png, 1, 3), ' ', $magick->getImageWidth(), 'x', $magick->getImageHeight(), ' ',
             (new NumberFormatter('de_DE', NumberFormatter::DECIMAL))->format(1234.5), ' ',
             implode(',', array_intersect(['AVIF', 'HEIC', 'JPEG', 'WEBP'], Imagick::queryFormats()));
    "#;
    let said = php(&layer.with_extra, &["-r", script]);
    assert_eq!(said, "intl PNG 3x2 1.234,5 AVIF,HEIC,JPEG,WEBP");
    let base_only = php(
        &layer.root,
        &[
            "-r",
            "echo extension_loaded('intl') || extension_loaded('gd') ? 'on' : 'off';",
        ],
    );
    assert_eq!(base_only, "off");
}

/// The manifest names PHP's version, the bootstrap's, and the Debian package every file
/// came from, with its version and the sha256 of the .deb apt verified.
#[test]
fn the_manifest_names_every_package_the_layer_holds() {
    let layer = layer();
    let text = std::fs::read_to_string(layer.root.join("opt/lamphp-manifest.json")).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(
        manifest["php"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}.", layer.php)),
        "{text}"
    );
    assert_eq!(manifest["architecture"], layer.arch.as_str());
    assert_eq!(
        manifest["bootstrap"].as_str().unwrap().split('+').next(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let packages = manifest["packages"].as_array().unwrap();
    for package in packages {
        let sha = package["sha256"].as_str().unwrap();
        assert!(
            sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "{package}"
        );
        assert!(
            !package["version"].as_str().unwrap().is_empty(),
            "{package}"
        );
    }
    let names: Vec<_> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let php = &layer.php;
    for name in [
        "libc6".to_string(),
        "tzdata".into(),
        "ca-certificates".into(),
        format!("php{php}-fpm"),
        format!("php{php}-cgi"),
        format!("php{php}-cli"),
        format!("php{php}-common"),
        "libxml2".into(),
    ] {
        assert!(
            names.contains(&name.as_str()),
            "{name} is not in the manifest: {names:?}"
        );
    }
    // Debian 12's libxml2 links ICU, so PHP 8.2's base layer has it; Debian 13's does not.
    let mut absent = vec![
        format!("php{php}-intl"),
        "perl-base".into(),
        "systemd".into(),
    ];
    if php == "8.4" {
        absent.push("libicu76".into());
    }
    for name in absent {
        assert!(
            !names.contains(&name.as_str()),
            "{name} has no file in the base layer: {names:?}"
        );
    }
}

/// Starts `command` with its output appended to `log`; killed when dropped.
fn spawn_logged(mut command: Command, log: &Log) -> Killed {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    log.capture_child(&mut child);
    Killed(child)
}

/// A build asked to leave out an extension PHP does not have stops and says which
/// extensions there are, instead of building a layer that is not what was asked for.
#[test]
fn an_unknown_extension_to_skip_stops_the_build_saying_so() {
    let layer = layer();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = layer.out.with_file_name("out-skip");
    let build = Command::new(repo.join("layer/build.sh"))
        .env("PHP", &layer.php)
        .env("ARCH", &layer.arch)
        .env("OUT", &out)
        .env("BOOTSTRAP", &layer.bootstrap)
        .env("SKIP_EXTENSIONS", "ffi no_such_extension")
        .env(
            "APT_STATE",
            repo.join(format!("target/apt/test-{}-{}", layer.php, layer.arch)),
        )
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&build.stderr);
    assert!(!build.status.success(), "{said}");
    assert!(
        said.contains("SKIP_EXTENSIONS names no_such_extension") && said.contains(" ffi "),
        "{said}"
    );
    assert!(!out.join(format!("{}.zip", layer.name())).exists());
    let _ = std::fs::remove_dir_all(&out);
}
