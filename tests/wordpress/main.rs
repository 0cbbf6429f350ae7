//! WordPress (Debian's package) on its own MariaDB, through lamphp as a browser would use
//! it: the installer, a login, the dashboard, a post made through the REST API, and that
//! post at its pretty permalink, which only works if the front-controller fallback (nginx's
//! `try_files $uri $uri/ /index.php?$args`) is right. In Lambda mode (`bootstrap local`),
//! then the same site through `bootstrap serve`, then through the reference nginx +
//! php-fpm, to show the checks expect what nginx does. And its password-reset mail, through
//! `mail()` and SES (`LAMPHP_MAIL=ses`, moto's SES).

#[path = "../sessions/browser.rs"]
mod browser;
#[path = "../parity/http.rs"]
mod http;
mod mariadb;
#[path = "../offload/moto.rs"]
mod moto;
#[path = "../parity/reference.rs"]
mod reference;
#[path = "../serve/server.rs"]
mod server;
mod site;

use browser::{Browser, Page};
use mariadb::MariaDb;
use reference::Reference;
use server::Server;
use std::time::Instant;

const TITLE: &str = "Lamphp Test Blog";
const PASSWORD: &str = "correct-horse-battery-staple-42";
const POST_TITLE: &str = "Hello lamphp";
const POST_SLUG: &str = "hello-lamphp";

/// A server the browser talks to, and what to show when it answers wrong.
trait Site {
    fn port(&self) -> u16;
    fn log(&self) -> String;

    /// Scheme and authority of the URLs WordPress makes (WP_HOME is built from
    /// HTTP_HOST).
    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }
}

impl Site for Server {
    fn port(&self) -> u16 {
        self.port
    }

    fn log(&self) -> String {
        Server::log(self)
    }
}

/// nginx + php-fpm, the parity suite's reference, on its direct (no ALB) server.
impl Site for Reference {
    fn port(&self) -> u16 {
        self.direct_port
    }

    /// Debian's nginx passes HTTP_HOST as `$host`, without the port (the README's
    /// HTTP_HOST row; lamphp keeps it), so WordPress behind it on a port other than 80
    /// makes links without the port.
    fn origin(&self) -> String {
        "http://127.0.0.1".to_owned()
    }

    fn log(&self) -> String {
        ["nginx-error.log", "fpm.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.run.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Prints how long each step took, and the whole.
struct Clock {
    start: Instant,
    last: Instant,
}

impl Clock {
    fn new() -> Clock {
        let now = Instant::now();
        Clock {
            start: now,
            last: now,
        }
    }

    fn step(&mut self, what: &str) {
        let now = Instant::now();
        println!(
            "{:>6} ms  {what} (at {} ms)",
            (now - self.last).as_millis(),
            (now - self.start).as_millis()
        );
        self.last = now;
    }
}

/// The `value` of the form field `name` in `page`.
fn field(page: &Page, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in:\n{}", page.body));
    let tag = &page.body[at..at + page.body[at..].find('>').unwrap()];
    let value = tag
        .split_once("value=\"")
        .unwrap_or_else(|| panic!("field {name} has no value: {tag}"))
        .1;
    value[..value.find('"').unwrap()].to_owned()
}

fn expect(page: &Page, status: u16, what: &str, server: &impl Site) {
    assert_eq!(
        page.status,
        status,
        "{what}: headers {:?}\n{}\n--- the server's log:\n{}",
        page.headers,
        page.body,
        server.log()
    );
}

/// Expect a redirect with `status`; returns where to.
fn redirect<'p>(page: &'p Page, status: u16, what: &str, server: &impl Site) -> &'p str {
    expect(page, status, what, server);
    page.header("location")
        .unwrap_or_else(|| panic!("{what}: no Location in {:?}", page.headers))
}

/// Log in as admin and open the dashboard; returns it.
fn log_in(browser: &mut Browser, server: &impl Site) -> Page {
    let port = server.port();
    // WordPress sets a test cookie with the form and refuses logins that do not send it
    // back.
    let page = browser.get(port, "/wp-login.php");
    expect(&page, 200, "the login form", server);
    assert!(
        browser.cookie_names().contains(&"wordpress_test_cookie"),
        "no test cookie: {:?}",
        page.headers
    );
    let dashboard = format!("{}/wp-admin/", server.origin());
    let form = format!(
        "log=admin&pwd={PASSWORD}&wp-submit=Log+In&testcookie=1&redirect_to={}",
        dashboard.replace(':', "%3A").replace('/', "%2F")
    );
    let page = browser.post_form(port, "/wp-login.php", &form);
    assert_eq!(redirect(&page, 302, "the login", server), dashboard);
    let names = browser.cookie_names();
    assert!(
        names.iter().any(|n| n.starts_with("wordpress_logged_in_")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("wordpress_") && n.len() == "wordpress_".len() + 32),
        "no auth cookie: {names:?}"
    );

    let page = browser.get(port, "/wp-admin/");
    expect(&page, 200, "the dashboard", server);
    for marker in ["<h1>Dashboard</h1>", "wp-admin-bar-my-account", "Howdy, "] {
        assert!(page.body.contains(marker), "no {marker:?} in the dashboard");
    }
    page
}

/// Log out through the dashboard's link: the auth cookies are cleared (one Set-Cookie
/// each, several in one response) and the dashboard sends us back to the login form.
fn log_out(browser: &mut Browser, server: &impl Site, dashboard: &Page) {
    let port = server.port();
    let marker = "wp-login.php?action=logout&#038;_wpnonce=";
    let at = dashboard.body.find(marker).expect("a logout link") + marker.len();
    let nonce = &dashboard.body[at..at + 10];
    let path = format!("/wp-login.php?action=logout&_wpnonce={nonce}");
    let page = browser.get(port, &path);
    let location = redirect(&page, 302, "logging out", server);
    assert!(
        location.contains("wp-login.php?loggedout=true"),
        "{location}"
    );
    let names = browser.cookie_names();
    assert!(
        !names.iter().any(|n| n.starts_with("wordpress_logged_in_")),
        "still logged in: {names:?}"
    );
    let page = browser.get(port, "/wp-admin/");
    let location = redirect(&page, 302, "the dashboard once logged out", server);
    assert!(
        location.contains("/wp-login.php?redirect_to="),
        "{location}"
    );
}

/// What the admin made: the post's id and the uploaded image's path.
struct Made {
    id: u64,
    image: String,
}

/// A 1×1 PNG: binary (0x89 first), so it travels base64-encoded through Lambda.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn png() -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .unwrap()
}

/// WordPress's installer, with the admin `admin@example.com`.
fn install(browser: &mut Browser, server: &impl Site, clock: &mut Clock) {
    let port = server.port();
    let page = browser.get(port, "/");
    let location = redirect(&page, 302, "a site not installed yet", server);
    assert!(location.ends_with("/wp-admin/install.php"), "{location}");
    let page = browser.get(port, "/wp-admin/install.php");
    expect(&page, 200, "the installer", server);
    assert!(page.body.contains("weblog_title"), "{}", page.body);
    // The installer probes whether pretty permalinks work by requesting a page of its own
    // site while it runs (5 s timeout): another sandbox of `bootstrap local` answers it,
    // as another sandbox would on AWS, and the installer turns them on.
    let form = format!(
        "weblog_title={}&user_name=admin&admin_password={PASSWORD}\
         &admin_password2={PASSWORD}&admin_email=admin%40example.com&blog_public=0\
         &language=&Submit=Install+WordPress",
        TITLE.replace(' ', "+")
    );
    let page = browser.post_form(port, "/wp-admin/install.php?step=2", &form);
    expect(&page, 200, "the installation", server);
    assert!(page.body.contains("Success!"), "{}", page.body);
    clock.step("installed");
}

/// Install WordPress, log in, post, upload an image, switch to pretty permalinks, log out.
fn install_and_post(browser: &mut Browser, server: &impl Site, clock: &mut Clock) -> Made {
    let port = server.port();
    install(browser, server, clock);

    let dashboard = log_in(browser, server);
    clock.step("logged in, dashboard shown");

    // The REST API with the cookie and its nonce, as the block editor makes posts.
    let page = browser.get(port, "/wp-admin/admin-ajax.php?action=rest-nonce");
    expect(&page, 200, "the REST nonce", server);
    let nonce = page.body.trim().to_owned();
    assert!(nonce.len() == 10, "not a nonce: {nonce:?}");
    let post = serde_json::json!({
        "title": POST_TITLE,
        "content": "<!-- wp:paragraph --><p>Served through lamphp.</p><!-- /wp:paragraph -->",
        "status": "publish",
        "slug": POST_SLUG,
    });
    let page = browser.request(
        port,
        "/?rest_route=/wp/v2/posts",
        Some(("application/json", post.to_string().as_bytes())),
        &[("X-WP-Nonce", &nonce)],
    );
    expect(&page, 201, "creating the post", server);
    let created: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let id = created["id"].as_u64().expect("the post's id");
    assert_eq!(created["slug"], POST_SLUG);
    clock.step("post created");

    // An upload, as the media library sends it: the file as the raw body.
    let page = browser.request(
        port,
        "/?rest_route=/wp/v2/media",
        Some(("image/png", &png())),
        &[
            ("X-WP-Nonce", &nonce),
            (
                "Content-Disposition",
                "attachment; filename=\"lamphp-dot.png\"",
            ),
        ],
    );
    expect(&page, 201, "uploading an image", server);
    let media: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let url = media["source_url"].as_str().expect("the upload's URL");
    let image = url
        .strip_prefix(&server.origin())
        .unwrap_or_else(|| panic!("{url} is not on this site"))
        .to_owned();
    assert!(image.starts_with("/wp-content/uploads/"), "{image}");
    clock.step("image uploaded");

    // The installer's probe answered, so the post by id redirects to its permalink in the
    // structure the installer chose: /year/month/day/slug/ (plain permalinks, when no
    // probe is answered, show the post at /?p=id itself).
    let page = browser.get(port, &format!("/?p={id}"));
    let location = redirect(&page, 301, "the post by id", server);
    let permalink = location
        .strip_prefix(&server.origin())
        .unwrap_or(location)
        .to_owned();
    let parts: Vec<&str> = permalink.split('/').collect();
    assert!(
        matches!(parts.as_slice(), ["", y, m, d, POST_SLUG, ""]
            if [(y, 4), (m, 2), (d, 2)].iter().all(|(p, n)| p.len() == *n && p.bytes().all(|b| b.is_ascii_digit()))),
        "the installer left permalinks other than its date-based ones: {location}"
    );
    let page = browser.get(port, &permalink);
    expect(&page, 200, "the post at the installer's permalink", server);
    assert!(page.body.contains(POST_TITLE), "{}", page.body);
    assert!(page.body.contains("Served through lamphp."));

    // Pretty permalinks, through the settings form. WordPress offers them without an
    // `/index.php/` prefix only when it believes it runs behind nginx (or Apache's
    // mod_rewrite).
    let page = browser.get(port, "/wp-admin/options-permalink.php");
    expect(&page, 200, "the permalink settings", server);
    let form = format!(
        "_wpnonce={}&_wp_http_referer=%2Fwp-admin%2Foptions-permalink.php\
         &selection=custom&permalink_structure=%2F%25postname%25%2F\
         &category_base=&tag_base=&submit=Save+Changes",
        field(&page, "_wpnonce")
    );
    let page = browser.post_form(port, "/wp-admin/options-permalink.php", &form);
    expect(&page, 302, "saving the permalinks", server);
    let page = browser.get(port, "/wp-admin/options-permalink.php");
    assert_eq!(field(&page, "permalink_structure"), "/%postname%/");
    clock.step("permalinks set");
    log_out(browser, server, &dashboard);
    Made { id, image }
}

/// What any visitor sees once the post is up.
fn check_front_end(server: &impl Site, made: &Made) {
    let (port, id) = (server.port(), made.id);
    let mut visitor = Browser::default();
    let page = visitor.get(port, &format!("/{POST_SLUG}/"));
    expect(&page, 200, "the post at its permalink", server);
    assert!(page.body.contains(POST_TITLE), "{}", page.body);
    assert!(page.body.contains(TITLE), "{}", page.body);

    // The old address now redirects to the canonical one.
    let page = visitor.get(port, &format!("/?p={id}"));
    assert_eq!(
        redirect(&page, 301, "the post by id", server),
        format!("{}/{POST_SLUG}/", server.origin())
    );

    // The REST API at its pretty address, also a front-controller route.
    let page = visitor.get(port, &format!("/wp-json/wp/v2/posts/{id}"));
    expect(&page, 200, "the post over REST", server);
    let json: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(json["title"]["rendered"], POST_TITLE);

    // An unknown address reaches WordPress, which answers its own 404 page.
    let page = visitor.get(port, "/no-such-post/");
    expect(&page, 404, "an unknown post", server);
    assert!(
        page.body.contains(TITLE),
        "not WordPress's 404:\n{}",
        page.body
    );

    // Search, plain and pretty; the feed, whose type PHP sets.
    for path in ["/?s=lamphp", "/search/lamphp/"] {
        let page = visitor.get(port, path);
        expect(&page, 200, path, server);
        assert!(page.body.contains(POST_TITLE), "{path}:\n{}", page.body);
    }
    let page = visitor.get(port, "/feed/");
    expect(&page, 200, "the feed", server);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("application/rss+xml")),
        "{:?}",
        page.headers
    );
    assert!(page.body.contains(&format!("<title>{POST_TITLE}</title>")));

    // The uploaded image, a file PHP wrote, served as a static file byte for byte.
    let page = visitor.get(port, &made.image);
    expect(&page, 200, "the uploaded image", server);
    assert_eq!(page.header("content-type"), Some("image/png"));
    assert_eq!(page.bytes, png());

    // A static file, with nginx's type; and a directory without its slash.
    let page = visitor.get(port, "/wp-includes/css/dashicons.min.css");
    expect(&page, 200, "a stylesheet", server);
    assert_eq!(page.header("content-type"), Some("text/css"));
    assert!(page.body.contains("dashicons"));
    let page = visitor.get(port, "/wp-admin");
    let location = redirect(&page, 301, "a directory without its slash", server);
    assert!(location.ends_with("/wp-admin/"), "{location}");
}

#[test]
fn wordpress_installs_logs_in_and_serves_a_post_at_its_permalink() {
    let mut clock = Clock::new();
    let db = MariaDb::start();
    db.sql("CREATE DATABASE wordpress");
    clock.step("MariaDB started");
    let dir = tempfile::tempdir().unwrap();
    let root = site::wordpress(dir.path(), db.port, "wordpress");
    clock.step("WordPress copied");

    let lambda = Server::local_at(&root, &[], &[]);
    clock.step("bootstrap local started");
    let mut browser = Browser::default();
    let made = install_and_post(&mut browser, &lambda, &mut clock);
    check_front_end(&lambda, &made);
    clock.step("front end checked (Lambda mode)");
    assert_eq!(
        db.sql("SELECT post_title FROM wordpress.wp_posts WHERE post_name = 'hello-lamphp'"),
        format!("{POST_TITLE}\n")
    );

    // The same site and database through `bootstrap serve`.
    let serve = Server::start_at(&root, &[]);
    clock.step("bootstrap serve started");
    check_front_end(&serve, &made);
    let mut browser = Browser::default();
    let dashboard = log_in(&mut browser, &serve);
    log_out(&mut browser, &serve, &dashboard);
    clock.step("front end checked and logged in (serve mode)");

    // The same checks hold against nginx + php-fpm over the same site: they test what
    // nginx does, not what lamphp happens to do.
    reference::require_reference_programs();
    let nginx = Reference::start(&root);
    clock.step("nginx + php-fpm started");
    check_front_end(&nginx, &made);
    let mut browser = Browser::default();
    let dashboard = log_in(&mut browser, &nginx);
    log_out(&mut browser, &nginx, &dashboard);
    clock.step("front end checked and logged in (nginx)");
}

/// WordPress's "Lost your password?": `wp_mail` (PHPMailer over `mail()`) through
/// `bootstrap sendmail` and SES (moto's). The message reaches the admin's address with
/// WordPress's subject, and its reset link works.
#[test]
fn wordpress_mails_a_password_reset_through_ses() {
    let mut clock = Clock::new();
    let db = MariaDb::start();
    db.sql("CREATE DATABASE wordpress");
    let dir = tempfile::tempdir().unwrap();
    let root = site::wordpress(dir.path(), db.port, "wordpress");
    let ses = moto::Moto::start();
    ses.verify_email("site@example.com");
    clock.step("MariaDB and moto started, WordPress copied");
    let env = moto::mail_env(&ses.endpoint());
    let root_arg = root.to_str().unwrap();
    let server = Server::serve_env(&["--root", root_arg], &moto::pairs(&env));
    let mut browser = Browser::default();
    install(&mut browser, &server, &mut clock);
    // The installer mailed the admin ("New WordPress Site"): the reset is what follows.
    let before = ses.sent_emails().len();

    let mut browser = Browser::default();
    let port = server.port;
    let page = browser.get(port, "/wp-login.php?action=lostpassword");
    expect(&page, 200, "the lost-password form", &server);
    let page = browser.post_form(
        port,
        "/wp-login.php?action=lostpassword",
        "user_login=admin&redirect_to=&wp-submit=Get+New+Password",
    );
    // WordPress says "could not be sent" (200) when wp_mail is false.
    let location = redirect(&page, 302, "asking for a password reset", &server);
    assert!(location.contains("checkemail=confirm"), "{location}");
    clock.step("password reset asked for");

    let sent = ses.sent_emails();
    assert_eq!(sent.len(), before + 1, "{sent:?}\n{}", ses.log());
    let message = &sent[before];
    let raw = message["raw_data"].as_str().unwrap();
    let unfolded = raw.replace("\r\n ", " ");
    assert!(
        unfolded.contains("Subject: [Lamphp Test Blog] Password Reset"),
        "{raw}"
    );
    assert!(raw.contains("To: admin@example.com"), "{raw}");
    assert_eq!(message["source"], "site@example.com", "LAMPHP_MAIL_FROM");
    // PHPMailer's body, quoted-printable or not: the link, soft line breaks undone.
    let body = raw
        .split_once("\r\n\r\n")
        .unwrap()
        .1
        .replace("=\r\n", "")
        .replace("=3D", "=");
    let start = body
        .find("/wp-login.php?action=rp&key=")
        .unwrap_or_else(|| panic!("no reset link in {body}"));
    let link: String = body[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let page = browser.get(port, &link);
    // The key is good: WordPress keeps it in a cookie and shows the form without it.
    let location = redirect(&page, 302, "the reset link", &server);
    assert!(location.contains("/wp-login.php?action=rp"), "{location}");
    let page = browser.get(port, "/wp-login.php?action=rp");
    expect(&page, 200, "the new-password form", &server);
    assert!(page.body.contains("pass1"), "{}", page.body);
    let lines: Vec<String> = server
        .log()
        .lines()
        .filter(|l| l.contains("\"target\":\"lamphp::mail\""))
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), before + 1, "{lines:?}");
    assert!(
        lines.iter().all(|l| l.contains("\"level\":\"INFO\"")),
        "{lines:?}"
    );
    clock.step("reset link followed");
}
