//! Many sites in one `serve`: each request goes to the site nginx would send it to (nginx
//! itself is asked, with the same server names), and a site's scripts cannot read another
//! site's files or sessions.

use crate::http;
use crate::server::Server;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{free_port, wait_for_port, Killed};

/// The server names of the sites, in order; the first is the default.
const SITES: [&str; 8] = [
    "default.test",
    "example.com www.example.com",
    "*.example.com",
    "*.shop.example.com",
    ".blog.test",
    "mail.*",
    "mail.example.*",
    "_",
];

/// The Host headers asked for (none: an HTTP/1.0 request without one).
const HOSTS: [Option<&str>; 21] = [
    Some("example.com"),
    Some("WWW.Example.COM"),
    Some("api.example.com"),
    Some("a.b.example.com"),
    Some("x.shop.example.com"),
    Some("shop.example.com"),
    Some("blog.test"),
    Some("en.blog.test"),
    Some("mail.example.org"),
    Some("mail.foo.org"),
    Some("mail.example.com"),
    Some("mail.example.net"),
    Some("mail."),
    Some("mail"),
    Some("other.test"),
    Some("_"),
    Some("127.0.0.1"),
    Some("xexample.com"),
    Some("example.com.:8080"),
    Some("default.test"),
    None,
];

fn request(host: Option<&str>) -> Vec<u8> {
    match host {
        Some(host) => {
            format!("GET /which.php HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
        }
        None => "GET /which.php HTTP/1.0\r\n\r\n".to_owned(),
    }
    .into_bytes()
}

/// nginx with one server block per site, each answering with its index and `$host`, in
/// one process (`master_process off`), so that killing it leaves nothing.
fn nginx(dir: &Path) -> (Killed, u16) {
    let port = free_port();
    let servers: String = SITES
        .iter()
        .enumerate()
        .map(|(i, names)| {
            format!(
                "server {{ listen 127.0.0.1:{port}; server_name {names}; \
                 location / {{ return 200 \"{i} $host\\n\"; }} }}\n"
            )
        })
        .collect();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; master_process off; pid {dir}/nginx.pid; error_log {dir}/error.log;\n\
             events {{}}\nhttp {{ access_log off;\n{servers}}}\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx is missing: apt-get install nginx (or run `make test`)");
    let mut nginx = Killed(child);
    let alive = || match nginx.try_wait() {
        Ok(None) => Ok(()),
        _ => Err("nginx exited: see its error.log".to_owned()),
    };
    wait_for_port(port, Duration::from_secs(10), alive).unwrap();
    (nginx, port)
}

/// A docroot per site, whose which.php answers as nginx's server block does.
fn docroots(dir: &Path) -> Vec<PathBuf> {
    (0..SITES.len())
        .map(|i| {
            let root = dir.join(format!("site{i}"));
            std::fs::create_dir_all(&root).unwrap();
            std::fs::write(
                root.join("which.php"),
                format!("<?php echo '{i} ', $_SERVER['SERVER_NAME'], \"\\n\";"),
            )
            .unwrap();
            root
        })
        .collect()
}

#[test]
fn each_host_goes_to_the_site_nginx_sends_it_to() {
    let dir = tempfile::tempdir().unwrap();
    let (_nginx, nginx_port) = nginx(dir.path());
    let roots = docroots(dir.path());
    let specs: Vec<String> = SITES
        .iter()
        .zip(&roots)
        .map(|(names, root)| format!("{names} {}", root.display()))
        .collect();
    let mut args = vec!["--workers", "1"];
    for spec in &specs {
        args.extend(["--site", spec]);
    }
    let s = Server::serve(&args);
    for host in HOSTS {
        let ours = http::exchange(s.port, &request(host)).unwrap();
        let theirs = http::exchange(nginx_port, &request(host)).unwrap();
        assert_eq!(
            (ours.status, String::from_utf8_lossy(&ours.body)),
            (theirs.status, String::from_utf8_lossy(&theirs.body)),
            "Host {host:?}"
        );
    }
}

#[test]
fn a_site_cannot_read_another_sites_files_or_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str| {
        let base = dir.path().join(name);
        std::fs::create_dir_all(base.join("public")).unwrap();
        std::fs::write(base.join("secret.txt"), format!("{name}'s secret\n")).unwrap();
        std::fs::write(
            base.join("public/read.php"),
            "<?php echo @file_get_contents($_GET['f']) === false ? \"refused\\n\" : \"read\\n\";",
        )
        .unwrap();
        std::fs::write(
            base.join("public/session.php"),
            "<?php session_start(); if (isset($_GET['set'])) { $_SESSION['v'] = $_GET['set']; } \
             echo $_SESSION['v'] ?? 'none', \"\\n\";",
        )
        .unwrap();
        base
    };
    let (a, b) = (make("a"), make("b"));
    let spec =
        |host: &str, base: &Path| format!("{host} {}/public {}", base.display(), base.display());
    let (spec_a, spec_b) = (spec("a.test", &a), spec("b.test", &b));
    let s = Server::serve(&["--site", &spec_a, "--site", &spec_b]);
    let get = |host: &str, path: &str, cookie: &str| {
        let raw = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        );
        http::exchange(s.port, raw.as_bytes()).unwrap()
    };
    let body = |r: http::Response| String::from_utf8(r.body).unwrap();
    let file = |base: &Path, name: &str| format!("/read.php?f={}/{name}", base.display());
    // A site reads its own files above its docroot (BASEDIR), not the other site's.
    assert_eq!(body(get("a.test", &file(&a, "secret.txt"), "")), "read\n");
    assert_eq!(
        body(get("a.test", &file(&b, "secret.txt"), "")),
        "refused\n"
    );
    assert_eq!(
        body(get("b.test", &file(&a, "secret.txt"), "")),
        "refused\n"
    );
    assert_eq!(
        body(get("b.test", "/read.php?f=/etc/hostname", "")),
        "refused\n"
    );
    // A session started on a.test, its cookie sent to b.test, finds nothing there.
    let started = get("a.test", "/session.php?set=alice", "");
    let cookie = String::from_utf8_lossy(started.header("set-cookie").expect("a session cookie"));
    let cookie = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(body(started), "alice\n");
    assert_eq!(body(get("a.test", "/session.php", &cookie)), "alice\n");
    assert_eq!(body(get("b.test", "/session.php", &cookie)), "none\n");
}

#[test]
fn a_release_wins_over_the_images_root_as_on_lambda() {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("releases/r1/public");
    std::fs::create_dir_all(&public).unwrap();
    std::fs::write(public.join("which.php"), "<?php echo 'release r1';").unwrap();
    let releases = dir.path().join("releases");
    let env = [
        // The container image sets LAMPHP_ROOT, and ECS cannot unset it.
        ("LAMPHP_ROOT", "/nonexistent/public"),
        ("LAMPHP_RELEASES", releases.to_str().unwrap()),
        ("LAMPHP_RELEASE", "r1"),
    ];
    let s = Server::serve_env(&[], &env);
    assert_eq!(s.get("/which.php"), (200, b"release r1".to_vec()));
    drop(s);
    let missing = [env[0], env[1], ("LAMPHP_RELEASE", "r2")];
    let out = Command::new(crate::server::bootstrap_exe())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(missing)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        log.contains("r2") && log.contains("\"level\":\"ERROR\""),
        "{log}"
    );
}
