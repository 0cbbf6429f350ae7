//! PHP's `mail()` through Amazon SES (`LAMPHP_MAIL=ses`): `bootstrap sendmail`, the
//! program PHP's `sendmail_path` names then.
//!
//! PHP runs it (through `/bin/sh`) for each `mail()`, writes the message to its stdin
//! and reads only its exit status: 0 is `true`, anything else `false`. So it answers
//! within `LAMPHP_MAIL_TIMEOUT` (default 10 s) whatever SES does, and says why it failed
//! in a log line, at error level, which reaches the bootstrap's log: its stdout is the
//! PHP worker's, which php-fpm (`catch_workers_output`) or php-cgi hands to the
//! bootstrap's log drain, which passes our JSON lines on as they are
//! ([`relayed`]). Nothing else runs: no php-fpm, no server; one SES call.
//!
//! The request's id cannot be logged: a child of PHP sees neither the FastCGI params
//! nor anything else of the request. The line says instead what identifies the
//! message: its subject, how many recipients, and the PHP worker's pid.
//!
//! Settings, from the environment PHP passes on (`clear_env = no`):
//! `LAMPHP_MAIL_FROM` (the envelope sender unless `-f` names one),
//! `LAMPHP_MAIL_CONFIGURATION_SET`, `LAMPHP_MAIL_TIMEOUT`, and the AWS ones
//! ([`crate::aws::Config::from_env`], `AWS_ENDPOINT_URL_SESV2`).

pub mod address;
pub mod args;
pub mod message;

use crate::aws::retry::Policy;
use crate::aws::ses::{RawEmail, Ses};
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// The log target of every line `bootstrap sendmail` writes: how the log drain knows a
/// line to pass on ([`relayed`]).
pub const TARGET: &str = "lamphp::mail";

/// The `sendmail_path` PHP is given when `LAMPHP_MAIL=ses`: this binary, `sendmail -t
/// -i`, in php.ini syntax (quoted: the value is a shell command line).
pub fn sendmail_path(exe: &std::path::Path) -> Result<String, String> {
    let exe = exe
        .to_str()
        .ok_or_else(|| format!("the bootstrap's path {} is not UTF-8", exe.display()))?;
    // php.ini's double quotes give `"`, `$` and `\` meanings of their own.
    if exe.contains(['"', '$', '\\', '\'', '`']) {
        return Err(format!(
            "the bootstrap's path {exe:?} has a quote, $ or \\ in it, which sendmail_path \
             cannot carry"
        ));
    }
    let plain = exe
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c));
    let exe = if plain {
        exe.to_owned()
    } else {
        format!("'{exe}'")
    };
    Ok(format!("\"{exe} sendmail -t -i\""))
}

/// Exit statuses, sendmail's (sysexits.h). PHP's `mail()` is false for all but 0; none
/// is EX_TEMPFAIL (75), which older PHPs took for success.
mod exit {
    pub const USAGE: u8 = 64;
    pub const DATAERR: u8 = 65;
    pub const UNAVAILABLE: u8 = 69;
    pub const SOFTWARE: u8 = 70;
    pub const CONFIG: u8 = 78;
}

/// What `bootstrap sendmail` is run with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub default_sender: Option<String>,
    pub configuration_set: Option<String>,
    pub timeout: Duration,
}

impl Settings {
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let timeout = match var("LAMPHP_MAIL_TIMEOUT") {
            None => Duration::from_secs(10),
            Some(text) => match text.trim().parse::<f64>() {
                Ok(secs) if secs > 0.0 && secs <= 3600.0 => Duration::from_secs_f64(secs),
                _ => {
                    return Err(format!(
                        "LAMPHP_MAIL_TIMEOUT is {text:?}: seconds, more than 0, at most 3600"
                    ))
                }
            },
        };
        Ok(Settings {
            default_sender: var("LAMPHP_MAIL_FROM").map(|s| s.trim().to_owned()),
            configuration_set: var("LAMPHP_MAIL_CONFIGURATION_SET"),
            timeout,
        })
    }
}

/// `bootstrap sendmail ARGS...`: send the message on stdin; the exit status PHP reads.
pub fn main(argv: Vec<OsString>) -> ExitCode {
    crate::logging::init();
    let worker = worker_pid();
    let argv: Vec<String> = argv
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let args = match args::parse(&argv) {
        Ok(args) => args,
        Err(e) => {
            tracing::error!(target: TARGET, worker, "mail not sent: bootstrap sendmail {}: {e}", argv.join(" "));
            return ExitCode::from(exit::USAGE);
        }
    };
    let settings = match Settings::from_vars(|name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!(target: TARGET, worker, "mail not sent: {e}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(target: TARGET, worker, "mail not sent: starting the async runtime: {e}");
            return ExitCode::from(exit::SOFTWARE);
        }
    };
    let config = crate::aws::Config::from_env();
    let code = runtime.block_on(send(tokio::io::stdin(), &args, &settings, config, worker));
    // A stdin read still blocked (the timeout struck first) must not hold the exit.
    runtime.shutdown_background();
    ExitCode::from(code)
}

/// Read the message from `input`, send it, log what happened; the exit status.
pub async fn send(
    mut input: impl tokio::io::AsyncRead + Unpin,
    args: &args::Args,
    settings: &Settings,
    config: crate::aws::Config,
    worker: u32,
) -> u8 {
    let started = Instant::now();
    let limit = settings.timeout;
    let Some(sender) = args
        .sender
        .clone()
        .or_else(|| settings.default_sender.clone())
    else {
        tracing::error!(target: TARGET, worker, "mail not sent: no sender: set LAMPHP_MAIL_FROM (or pass -f)");
        return exit::CONFIG;
    };
    // Read it all, even past the size SES takes, so that PHP's writes never meet a
    // closed pipe; what is past the limit is counted, not kept.
    let keep = message::MAX_BASE64 / 4 * 3 + 3;
    let mut raw = Vec::new();
    let mut extra = 0usize;
    let read = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = input.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            let room = keep.saturating_sub(raw.len()).min(n);
            raw.extend_from_slice(&buf[..room]);
            extra += n - room;
        }
    };
    match tokio::time::timeout(limit, read).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(target: TARGET, worker, "mail not sent: reading the message: {e}");
            return exit::SOFTWARE;
        }
        Err(_) => {
            tracing::error!(target: TARGET, worker, "mail not sent: the message did not end within {limit:?} (LAMPHP_MAIL_TIMEOUT)");
            return exit::UNAVAILABLE;
        }
    }
    if extra > 0 {
        let size = raw.len() + extra;
        let err = message::Refused::TooLarge(size, size.div_ceil(3) * 4);
        tracing::error!(target: TARGET, worker, bytes = size, "mail not sent: {err}");
        return exit::DATAERR;
    }
    let prepared = match message::prepare(&raw, args, &sender) {
        Ok(prepared) => prepared,
        Err(e) => {
            tracing::error!(target: TARGET, worker, bytes = raw.len(), "mail not sent: {e}");
            return exit::DATAERR;
        }
    };
    let subject = shorten(prepared.subject.as_deref().unwrap_or(""), 200);
    let recipients = prepared.recipients.len();
    let bytes = prepared.message.len();
    let remaining = limit.saturating_sub(started.elapsed());
    let policy = Policy {
        attempts: 3,
        connect_timeout: remaining.min(Duration::from_secs(3)),
        attempt_timeout: Some(remaining),
        total_timeout: Some(remaining),
    };
    let email = RawEmail {
        from: &sender,
        to: &prepared.recipients,
        message: &prepared.message,
        configuration_set: settings.configuration_set.as_deref(),
    };
    match Ses::new(config, policy).send_raw(&email).await {
        Ok(id) => {
            tracing::info!(
                target: TARGET,
                worker,
                subject,
                recipients,
                bytes,
                message_id = id,
                bcc_removed = prepared.bcc_removed,
                from_added = prepared.from_added,
                "mail sent through SES in {} ms",
                started.elapsed().as_millis()
            );
            0
        }
        Err(e) => {
            let code = match &e {
                crate::aws::Error::Config(_) => exit::CONFIG,
                _ => exit::UNAVAILABLE,
            };
            let e = shorten(&e.to_string(), 500);
            tracing::error!(target: TARGET, worker, subject, recipients, bytes, "mail not sent: SES: {e}");
            code
        }
    }
}

/// At most `max` bytes of `text` (cut at a character), so that a log line stays under
/// php-fpm's `log_limit` (1024 bytes), past which it would be split, and so no longer be
/// one JSON line the drain can pass on.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The PHP worker that called `mail()`: our parent, or its parent when that is the
/// shell PHP's popen runs us through.
fn worker_pid() -> u32 {
    let parent = std::os::unix::process::parent_id();
    let comm = std::fs::read_to_string(format!("/proc/{parent}/comm")).unwrap_or_default();
    if !matches!(comm.trim(), "sh" | "dash" | "bash" | "ash" | "busybox") {
        return parent;
    }
    std::fs::read_to_string(format!("/proc/{parent}/stat"))
        .ok()
        .and_then(|stat| {
            // pid (comm) state ppid ...: comm may hold spaces, so count from its `)`.
            let after = &stat[stat.rfind(')')? + 1..];
            after.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(parent)
}

/// Whether `line`, from PHP's output, is one of `bootstrap sendmail`'s log lines: a JSON
/// object whose target is [`TARGET`]. The log drain passes such lines on as they are,
/// level and fields kept, instead of wrapping them as PHP output.
pub fn relayed(line: &str) -> bool {
    line.starts_with('{')
        && line.ends_with('}')
        && serde_json::from_str::<serde_json::Value>(line)
            .is_ok_and(|v| v.get("target").and_then(|t| t.as_str()) == Some(TARGET))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendmail_paths() {
        let table = [
            ("/opt/bootstrap", Ok("\"/opt/bootstrap sendmail -t -i\"")),
            (
                "/var/task/my app/bootstrap",
                Ok("\"'/var/task/my app/bootstrap' sendmail -t -i\""),
            ),
            ("/x/$HOME/bootstrap", Err("has a quote, $ or \\")),
            ("/x/it's/bootstrap", Err("has a quote")),
        ];
        for (exe, want) in table {
            match (sendmail_path(std::path::Path::new(exe)), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
                (got, want) => panic!("{exe}: {got:?}, not {want:?}"),
            }
        }
    }

    #[test]
    fn settings() {
        let from = |pairs: &[(&str, &str)]| {
            Settings::from_vars(|name| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            })
        };
        let s = from(&[]).unwrap();
        assert_eq!(
            (s.default_sender, s.timeout),
            (None, Duration::from_secs(10))
        );
        let s = from(&[
            ("LAMPHP_MAIL_FROM", " site@example.com "),
            ("LAMPHP_MAIL_CONFIGURATION_SET", "tracked"),
            ("LAMPHP_MAIL_TIMEOUT", "2.5"),
        ])
        .unwrap();
        assert_eq!(s.default_sender.as_deref(), Some("site@example.com"));
        assert_eq!(s.configuration_set.as_deref(), Some("tracked"));
        assert_eq!(s.timeout, Duration::from_millis(2500));
        for bad in ["0", "-1", "soon", "99999"] {
            let err = from(&[("LAMPHP_MAIL_TIMEOUT", bad)]).unwrap_err();
            assert!(err.contains("LAMPHP_MAIL_TIMEOUT"), "{bad}: {err}");
        }
    }

    /// What `send` answers before it would call SES (whose endpoint here refuses).
    #[tokio::test]
    async fn refusals_before_ses() {
        use tokio::io::AsyncReadExt as _;
        let config = crate::aws::Config::new(
            "us-east-1",
            crate::aws::Credentials::new("AKID", "secret", None, None, "test"),
        )
        .endpoint_url("http://127.0.0.1:9");
        let settings = Settings {
            default_sender: Some("site@example.com".into()),
            configuration_set: None,
            timeout: Duration::from_secs(2),
        };
        let t = args::parse(&["-t", "-i"]).unwrap();
        let huge = tokio::io::repeat(b'x').take(31_000_000);
        let head: &[u8] = b"To: a@example.com\n\n";
        let table: [(Box<dyn tokio::io::AsyncRead + Unpin>, &Settings, u8); 4] = [
            // Past 40 MB of base64: read to the end, never sent.
            (Box::new(head.chain(huge)), &settings, exit::DATAERR),
            (
                Box::new(&b"Subject: x\n\nbody\n"[..]),
                &settings,
                exit::DATAERR,
            ),
            (
                Box::new(head),
                &Settings {
                    default_sender: None,
                    ..settings.clone()
                },
                exit::CONFIG,
            ),
            // And the endpoint refusing: SES unavailable.
            (Box::new(head), &settings, exit::UNAVAILABLE),
        ];
        for (input, settings, want) in table {
            assert_eq!(send(input, &t, settings, config.clone(), 1).await, want);
        }
    }

    #[test]
    fn shortened_by_bytes_at_a_character() {
        let table = [("abc", 3, "abc"), ("abcd", 3, "abc..."), ("éé", 3, "é...")];
        for (text, max, want) in table {
            assert_eq!(shorten(text, max), want, "{text} {max}");
        }
    }

    #[test]
    fn which_lines_are_relayed() {
        let table = [
            (
                r#"{"timestamp":"t","level":"ERROR","message":"mail not sent","target":"lamphp::mail"}"#,
                true,
            ),
            (r#"{"level":"INFO","target":"lamphp::request"}"#, false),
            (r#"{"target":"lamphp::mail""#, false),
            ("NOTICE: PHP message: lamphp::mail", false),
            ("", false),
        ];
        for (line, want) in table {
            assert_eq!(relayed(line), want, "{line}");
        }
    }
}
