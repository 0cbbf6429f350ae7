//! PHP's `mail()` through SES (`LAMPHP_MAIL=ses`, `bootstrap sendmail` as PHP's
//! sendmail_path), end to end: a script's `mail()` in `bootstrap serve` and in the Lambda
//! loop (`bootstrap local`), a real php-fpm, and moto's SES v2 (server mode), whose sent
//! messages are read back from `/moto-api/data.json`. And SES down, refusing or silent:
//! `mail()` is false within the timeout, and a log line says why.

#[path = "../parity/http.rs"]
mod http;
#[path = "../offload/moto.rs"]
mod moto;
#[path = "../serve/server.rs"]
mod server;

use moto::{pairs, Moto};
use serde_json::Value;
use server::Server;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn docroot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mail/docroot")
}

fn env(endpoint: &str, extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut env = moto::mail_env(endpoint);
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

/// POST `fields` to mail.php: what it answers (`sent`, `ms`, `sendmail_path`).
fn mail(s: &Server, fields: &[(&str, &str)]) -> Value {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let body = body.join("&");
    let req = format!(
        "POST /mail.php HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let res = http::exchange_within(s.port, req.as_bytes(), Duration::from_secs(30))
        .expect("POST /mail.php");
    assert_eq!(
        res.status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&res.body),
        s.log()
    );
    serde_json::from_slice(&res.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&res.body)))
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The log's lines from `bootstrap sendmail`, waiting until there are `count`.
fn mail_lines(s: &mut Server, count: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<Value> = s
            .records()
            .into_iter()
            .filter(|r| r["target"] == "lamphp::mail")
            .collect();
        if lines.len() >= count || std::time::Instant::now() > deadline {
            assert_eq!(lines.len(), count, "sendmail's log lines:\n{}", s.log());
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The message of a mail() lands as written, Bcc aside: headers, body, envelope.
fn assert_lands(moto: &Moto, message: &Value, from: &str) {
    let raw = message["raw_data"].as_str().expect("raw_data");
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no blank line in {raw:?}"));
    for header in [
        "To: Ann <ann@example.com>",
        "Subject: Hello from PHP",
        "From: The Site <site@example.com>",
        "Cc: cc@example.com",
        "X-Mailer: lamphp-test",
    ] {
        assert!(
            head.lines().any(|l| l == header),
            "{header:?} not in {head:?}"
        );
    }
    assert!(
        !head.to_ascii_lowercase().contains("bcc"),
        "the Bcc header was sent: {head:?}"
    );
    // PHP writes a line end after the message of its own.
    assert_eq!(body, "Line one.\r\nLine two, ünïcode.\r\n\r\n", "{raw:?}");
    // moto lists the envelope (our Destination) and, after it, the To and Cc headers as
    // written: the addresses of both, each once, are the message's recipients.
    let mut destinations: Vec<&str> = message["destinations"]
        .as_array()
        .expect("destinations")
        .iter()
        .filter_map(Value::as_str)
        .map(|d| {
            d.rsplit_once('<')
                .map_or(d, |(_, a)| a.trim_end_matches('>'))
        })
        .collect();
    destinations.sort();
    destinations.dedup();
    assert_eq!(
        destinations,
        ["ann@example.com", "cc@example.com", "hidden@example.com"]
    );
    assert_eq!(message["source"], from, "{}", moto.log());
}

const MAIL: &[(&str, &str)] = &[
    ("to", "Ann <ann@example.com>"),
    ("subject", "Hello from PHP"),
    ("message", "Line one.\nLine two, ünïcode.\n"),
    (
        "headers",
        "From: The Site <site@example.com>\r\nCc: cc@example.com\r\nBcc: hidden@example.com\r\nX-Mailer: lamphp-test",
    ),
];

#[test]
fn mail_from_a_script_in_serve_lands_intact() {
    let moto = Moto::start();
    moto.verify_email("site@example.com");
    let env = env(&moto.endpoint(), &[]);
    let mut s = Server::serve_env(&["--root", docroot().to_str().unwrap()], &pairs(&env));
    let answer = mail(&s, MAIL);
    assert_eq!(answer["sent"], true, "{answer}\n{}", s.log());
    let path = answer["sendmail_path"].as_str().unwrap();
    assert!(path.ends_with("bootstrap sendmail -t -i"), "{path}");
    let messages = moto.sent_emails();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_lands(&moto, &messages[0], "site@example.com");
    let line = &mail_lines(&mut s, 1)[0];
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["recipients"], 3, "{line}");
    assert_eq!(line["bcc_removed"], 1, "{line}");
    assert_eq!(line["subject"], "Hello from PHP", "{line}");
    assert_eq!(line["message_id"], messages[0]["id"], "{line}");

    // No recipients at all: false, and a line saying so; nothing sent.
    let answer = mail(&s, &[("to", ""), ("subject", "nobody"), ("message", "x")]);
    assert_eq!(answer["sent"], false, "{answer}");
    let line = &mail_lines(&mut s, 2)[1];
    assert_eq!(line["level"], "ERROR", "{line}");
    let text = line["message"].as_str().unwrap();
    assert!(text.contains("mail not sent: no recipients"), "{line}");

    // A From SES does not accept (not verified): SES's refusal, in the log.
    let answer = mail(
        &s,
        &[
            ("to", "ann@example.com"),
            ("subject", "spoof"),
            ("message", "x"),
            ("params", "-fstranger@example.org"),
        ],
    );
    assert_eq!(answer["sent"], false, "{answer}");
    let line = &mail_lines(&mut s, 3)[2];
    assert_eq!(line["level"], "ERROR", "{line}");
    let text = line["message"].as_str().unwrap();
    assert!(text.contains("SES: MessageRejected"), "{line}");
    assert_eq!(line["subject"], "spoof", "{line}");
    assert_eq!(moto.sent_emails().len(), 1, "only the first message went");
}

#[test]
fn mail_from_a_script_in_the_lambda_loop_lands_intact() {
    let moto = Moto::start();
    moto.verify_email("site@example.com");
    moto.verify_email("bounce@example.com");
    let env = env(&moto.endpoint(), &[]);
    let mut s = Server::local_at(&docroot(), &[], &pairs(&env));
    // mail()'s fifth argument names the envelope sender, as with sendmail.
    let fields = [MAIL, &[("params", "-fbounce@example.com")]].concat();
    let answer = mail(&s, &fields);
    assert_eq!(answer["sent"], true, "{answer}\n{}", s.log());
    let messages = moto.sent_emails();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_lands(&moto, &messages[0], "bounce@example.com");
    assert_eq!(mail_lines(&mut s, 1)[0]["level"], "INFO");
}

/// php-cgi takes `-d sendmail_path=...` as php-fpm takes the pool's line, and its
/// children's output reaches the log as php-fpm's workers' does.
#[test]
fn mail_through_php_cgi_lands_intact() {
    let moto = Moto::start();
    moto.verify_email("site@example.com");
    let env = env(&moto.endpoint(), &[("LAMPHP_PHP_BACKEND", "cgi")]);
    let mut s = Server::serve_env(&["--root", docroot().to_str().unwrap()], &pairs(&env));
    let answer = mail(&s, MAIL);
    assert_eq!(answer["sent"], true, "{answer}\n{}", s.log());
    let messages = moto.sent_emails();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_lands(&moto, &messages[0], "site@example.com");
    assert_eq!(mail_lines(&mut s, 1)[0]["level"], "INFO");
}

/// `mail()` with SES at `endpoint`, which does not work: false within the timeout (2 s)
/// and a margin, and an error line that says why.
fn fails_within_the_timeout(endpoint: &str, why: &str) {
    let env = env(endpoint, &[("LAMPHP_MAIL_TIMEOUT", "2")]);
    let mut s = Server::serve_env(&["--root", docroot().to_str().unwrap()], &pairs(&env));
    let answer = mail(&s, MAIL);
    assert_eq!(answer["sent"], false, "{answer}");
    let ms = answer["ms"].as_u64().unwrap();
    assert!(ms < 3500, "mail() took {ms} ms with a 2 s timeout");
    let line = &mail_lines(&mut s, 1)[0];
    assert_eq!(line["level"], "ERROR", "{line}");
    let text = line["message"].as_str().unwrap();
    assert!(
        text.contains("mail not sent: SES: ") && text.contains(why),
        "{line}"
    );
    assert_eq!(line["recipients"], 3, "{line}");
}

#[test]
fn ses_refusing_connections_makes_mail_false() {
    // A port just bound and let go: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    fails_within_the_timeout(&format!("http://127.0.0.1:{port}"), "Connection refused");
}

#[test]
fn ses_never_answering_makes_mail_false() {
    // Accepts, reads, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    fails_within_the_timeout(&format!("http://127.0.0.1:{port}"), "no answer within");
}

#[test]
fn without_lamphp_mail_php_keeps_its_own_sendmail() {
    let s = Server::start_at(&docroot(), &[]);
    let answer = mail(&s, &[("to", ""), ("subject", ""), ("message", "")]);
    let path = answer["sendmail_path"].as_str().unwrap();
    assert!(!path.contains("bootstrap"), "{path}");
}
