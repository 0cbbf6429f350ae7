//! Cold starts end to end (`make bench`, or `cargo build --release -p lamphp-bootstrap &&
//! cargo bench -p lamphp-bootstrap --bench coldstart`): from the process's spawn to its
//! first response, split into
//!
//! - php-fpm: its spawn to its socket accepting (its `ready_ms` log field);
//! - the bootstrap's own init: the rest of spawn → ready (Lambda: its first `/next`; serve:
//!   its "serving" line), most of it overlapping php-fpm's start;
//! - the first request: sent when ready, to its response's last byte;
//!
//! beside the warm time of the same request (the median of the next ones). For a
//! hello-world page, a framework application (Symfony's HttpKernel and Routing from
//! Debian's packages, as in Symfony's "create your own framework") and WordPress's front
//! page (Debian's package, on a MariaDB of its own), each served as a release, with and
//! without its PHP compiled as it was unpacked ([`lamphp::release::opcache`]); in Lambda
//! mode (the bootstrap's Runtime API loop against `bootstrap local`'s Runtime API
//! endpoint, one worker) and in `serve` (one worker, so that the two start the same PHP).
//! Arguments name the applications to measure (`-- wordpress`); none, all three.

#[path = "../tests/wordpress/mariadb.rs"]
mod mariadb;
#[path = "../tests/wordpress/site.rs"]
mod wordpress;

// Each bench uses its part of what they share.
#[allow(dead_code)]
mod common;

use common::{ms, spread};
use lamphp::fpm::{Backend, FpmConfig};
use lamphp::local::runtime_api::{Outcome, Phase, RuntimeApi};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Cold starts per case, and warm requests after each.
const COLD: usize = 5;
const WARM: usize = 20;

/// An application, as a release: its id, the page measured, and the text that page has.
struct App {
    name: &'static str,
    path: &'static str,
    expect: &'static str,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Lambda,
    Serve,
}

/// One cold start.
struct Cold {
    fpm: Duration,
    ready: Duration,
    first: Duration,
    warm: Duration,
}

fn main() {
    let dir = tempfile::Builder::new()
        .prefix("lamphp-bench-cold")
        .tempdir()
        .unwrap();
    let releases = dir.path().join("releases");
    std::fs::create_dir_all(&releases).unwrap();
    let db = mariadb::MariaDb::start();
    db.sql("CREATE DATABASE wordpress");
    // `cargo bench --bench coldstart -- wordpress` measures WordPress alone.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut apps = Vec::new();
    if wanted("hello") {
        apps.push(hello(&releases));
    }
    if wanted("symfony") {
        apps.push(symfony(&releases));
    }
    if wanted("wordpress") {
        apps.push(wordpress(&releases, dir.path(), db.port));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    for app in &apps {
        let compiled = format!("{}-compiled", app.name);
        copy(&releases.join(app.name), &releases.join(&compiled));
        let built = rt.block_on(build(&releases, &compiled, dir.path()));
        println!(
            "{}: {} of {} PHP files compiled at unpack in {} ms",
            app.name, built.compiled, built.files, built.ms
        );
    }
    println!(
        "\nmedians of {COLD} cold starts (ms); warm: the median of the {WARM} requests after each"
    );
    println!(
        "{:<10} {:<7} {:<9} {:>8} {:>9} {:>8} {:>8} {:>7} {:>11}",
        "app", "mode", "cache", "php-fpm", "bootstrap", "first", "total", "warm", "first/warm"
    );
    for app in &apps {
        for mode in [Mode::Lambda, Mode::Serve] {
            for compiled in [false, true] {
                let id = match compiled {
                    false => app.name.to_owned(),
                    true => format!("{}-compiled", app.name),
                };
                let colds: Vec<Cold> = (0..COLD)
                    .map(|n| {
                        let runtime = dir.path().join(format!("run-{id}-{n}"));
                        match mode {
                            Mode::Lambda => rt.block_on(lambda(&releases, &id, app, &runtime)),
                            Mode::Serve => serve(&releases, &id, app, &runtime),
                        }
                    })
                    .collect();
                let median =
                    |f: fn(&Cold) -> Duration| spread(colds.iter().map(f).collect()).median;
                let (fpm, ready, first, warm) = (
                    median(|c| c.fpm),
                    median(|c| c.ready),
                    median(|c| c.first),
                    median(|c| c.warm),
                );
                println!(
                    "{:<10} {:<7} {:<9} {:>8.1} {:>9.1} {:>8.1} {:>8.1} {:>7.1} {:>10.2}x",
                    app.name,
                    if mode == Mode::Lambda {
                        "lambda"
                    } else {
                        "serve"
                    },
                    if compiled { "compiled" } else { "none" },
                    ms(fpm),
                    ms(ready.saturating_sub(fpm)),
                    ms(first),
                    ms(ready + first),
                    ms(warm),
                    first.as_secs_f64() / warm.as_secs_f64()
                );
            }
        }
    }
}

fn hello(releases: &Path) -> App {
    let public = releases.join("hello/public");
    std::fs::create_dir_all(&public).unwrap();
    std::fs::write(public.join("index.php"), "<?php echo 'Hello, world!';\n").unwrap();
    App {
        name: "hello",
        path: "/",
        expect: "Hello, world!",
    }
}

/// A front controller on Symfony's components, from Debian's packages (copied into the
/// release, as `composer install` would put them in vendor/).
fn symfony(releases: &Path) -> App {
    let release = releases.join("symfony");
    let vendor = release.join("vendor");
    std::fs::create_dir_all(&vendor).unwrap();
    for package in ["Symfony", "Psr"] {
        let from = Path::new("/usr/share/php").join(package);
        assert!(
            from.join(if package == "Symfony" {
                "Component/HttpKernel/autoload.php"
            } else {
                "Log/autoload.php"
            })
            .exists(),
            "Symfony's components are missing: apt-get install php-symfony-http-kernel \
             php-symfony-routing (or run `make bench`)"
        );
        copy(&from, &vendor.join(package));
    }
    std::fs::create_dir_all(release.join("public")).unwrap();
    std::fs::write(
        release.join("public/index.php"),
        r#"<?php
require __DIR__ . '/../vendor/Symfony/Component/HttpKernel/autoload.php';
require __DIR__ . '/../vendor/Symfony/Component/Routing/autoload.php';

use Symfony\Component\EventDispatcher\EventDispatcher;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\RequestStack;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\HttpKernel\Controller\ArgumentResolver;
use Symfony\Component\HttpKernel\Controller\ControllerResolver;
use Symfony\Component\HttpKernel\EventListener\RouterListener;
use Symfony\Component\HttpKernel\HttpKernel;
use Symfony\Component\Routing\Matcher\UrlMatcher;
use Symfony\Component\Routing\RequestContext;
use Symfony\Component\Routing\Route;
use Symfony\Component\Routing\RouteCollection;

$routes = new RouteCollection();
$routes->add('hello', new Route('/hello/{name}', [
    'name' => 'World',
    '_controller' => fn (Request $request, string $name) => new Response("Hello, $name, from Symfony"),
]));
$request = Request::createFromGlobals();
$context = (new RequestContext())->fromRequest($request);
$stack = new RequestStack();
$dispatcher = new EventDispatcher();
$dispatcher->addSubscriber(new RouterListener(new UrlMatcher($routes, $context), $stack));
$kernel = new HttpKernel($dispatcher, new ControllerResolver(), $stack, new ArgumentResolver());
$response = $kernel->handle($request);
$response->send();
$kernel->terminate($request, $response);
"#,
    )
    .unwrap();
    App {
        name: "symfony",
        path: "/index.php/hello/lamphp",
        expect: "Hello, lamphp, from Symfony",
    }
}

/// WordPress, installed (by its own `wp_install()`, run by PHP's CLI) on `port`'s MariaDB.
fn wordpress(releases: &Path, work: &Path, port: u16) -> App {
    let site = wordpress::wordpress(work, port, "wordpress");
    let public = releases.join("wordpress/public");
    std::fs::create_dir_all(public.parent().unwrap()).unwrap();
    std::fs::rename(&site, &public).unwrap();
    let install = r#"<?php
$_SERVER['HTTP_HOST'] = 'bench.test';
define('WP_INSTALLING', true);
require 'wp-load.php';
require 'wp-admin/includes/upgrade.php';
$installed = wp_install('Cold Start Blog', 'admin', 'admin@bench.test', true, '', 'bench-password-1');
echo is_wp_error($installed) ? $installed->get_error_message() : 'installed';
"#;
    std::fs::write(work.join("install.php"), install).unwrap();
    let out = Command::new("php")
        .arg(work.join("install.php"))
        .current_dir(&public)
        .output()
        .expect("running php (apt-get install php8.2-cli)");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.ends_with("installed"),
        "WordPress's install: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    App {
        name: "wordpress",
        path: "/",
        expect: "Cold Start Blog",
    }
}

fn copy(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

/// Compile release `id` with the host's php-fpm, one worker, as the bootstrap starts it on
/// Lambda.
async fn build(releases: &Path, id: &str, work: &Path) -> lamphp::release::opcache::Built {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let php = FpmConfig::new(Backend::Fpm, work.join("compile"));
    lamphp::release::opcache::build(releases, id, &php, deadline)
        .await
        .expect("compiling the release")
}

/// The bootstrap's log lines, as they come.
fn lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for the log line containing `needle`; returns it.
fn wait_for(log: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no log line with {needle:?} within 30 s"));
        if line.contains(needle) {
            return line;
        }
    }
}

/// php-fpm's spawn to ready, from its "is ready" line.
fn fpm_ready(log: &mpsc::Receiver<String>) -> Duration {
    let line = wait_for(log, "php-fpm is ready");
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    Duration::from_secs_f64(ready["ready_ms"].as_f64().expect("ready_ms") / 1e3)
}

fn site_env<'a>(command: &'a mut Command, releases: &Path, id: &str) -> &'a mut Command {
    command
        .env("LAMPHP_RELEASES", releases)
        .env("LAMPHP_RELEASE", id)
        .env("_HANDLER", "public/index.php")
        .env("LAMPHP_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

async fn lambda(releases: &Path, id: &str, app: &App, runtime: &Path) -> Cold {
    let api = RuntimeApi::start(Duration::from_secs(30)).await.unwrap();
    let mut attached = api.attach(1, true);
    let event = common::get_event(app.path, "bench.test");
    let start = Instant::now();
    let mut child = site_env(
        &mut common::sandbox(&attached.endpoint, runtime),
        releases,
        id,
    )
    .spawn()
    .expect("starting the bootstrap");
    let log = lines(child.stdout.take().unwrap());
    assert_eq!(
        attached.initialised().await,
        Phase::Ready,
        "{id}: init failed"
    );
    let ready = start.elapsed();
    let mut times = Vec::with_capacity(WARM + 1);
    for _ in 0..=WARM {
        let sent = Instant::now();
        let (_, outcome) = api.invoke(event.clone()).await;
        times.push(sent.elapsed());
        let Outcome::Response(reply) = outcome else {
            panic!("{id}: {outcome:?}");
        };
        let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
        assert_eq!(reply["statusCode"], 200, "{id}: {reply}");
        let body = reply["body"].as_str().unwrap_or_default();
        assert!(body.contains(app.expect), "{id}: {body}");
    }
    let fpm = fpm_ready(&log);
    stop(child);
    cold(fpm, ready, times)
}

fn serve(releases: &Path, id: &str, app: &App, runtime: &Path) -> Cold {
    let port = support::free_port();
    let url = format!("http://127.0.0.1:{port}{}", app.path);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let start = Instant::now();
    let mut child = site_env(&mut Command::new(common::bootstrap()), releases, id)
        .args(["serve", "--workers", "1", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env("LAMPHP_RUNTIME_DIR", runtime)
        .spawn()
        .expect("starting the bootstrap");
    let log = lines(child.stdout.take().unwrap());
    let fpm = fpm_ready(&log);
    wait_for(&log, "serving ");
    let ready = start.elapsed();
    let mut times = Vec::with_capacity(WARM + 1);
    for _ in 0..=WARM {
        let sent = Instant::now();
        let mut res = agent.get(&url).call().expect("GET");
        let body = res.body_mut().read_to_string().unwrap();
        times.push(sent.elapsed());
        assert_eq!(res.status(), 200, "{id}: {body}");
        assert!(body.contains(app.expect), "{id}: {body}");
    }
    stop(child);
    cold(fpm, ready, times)
}

fn cold(fpm: Duration, ready: Duration, mut times: Vec<Duration>) -> Cold {
    let first = times.remove(0);
    Cold {
        fpm,
        ready,
        first,
        warm: spread(times).median,
    }
}
