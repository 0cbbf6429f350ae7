//! PHP sessions in DynamoDB (`LAMPHP_SESSION_TABLE`), for `serve` and Lambda alike.
//!
//! The bootstrap owns DynamoDB ([`store`]); PHP talks to it over a Unix socket in the
//! runtime dir ([`server`], [`protocol`]) through a small `SessionHandlerInterface` class
//! (`layer/php/session_handler.php`), embedded here, written into the runtime dir with
//! the socket's path, and loaded with `auto_prepend_file` from the pool config. Locks
//! have an owner and a lease ending at the request's deadline ([`lock`]).

pub mod lock;
pub mod protocol;
pub mod server;
pub mod store;

use anyhow::{Context, Result};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use store::Store;

/// The PHP side, as shipped in `layer/php/`.
pub const HANDLER_PHP: &str = include_str!("../../../layer/php/session_handler.php");
/// What the shipped file has where the socket's path goes.
const SOCKET_PLACEHOLDER: &str = "'__LAMPHP_SESSION_SOCKET__'";

/// How sessions are kept (the binary fills this from `LAMPHP_SESSION_*`).
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub table: String,
    /// Lock sessions as PHP's file handler does (`LAMPHP_SESSION_LOCKING`, default on).
    pub locking: bool,
    /// How long a request waits for another's lock (`LAMPHP_SESSION_LOCK_WAIT`).
    pub lock_wait: Duration,
    /// A request's time when no deadline is set (serve mode's `--timeout`).
    pub timeout: Duration,
    /// The site these sessions are of, when one `serve` runs several: its keys are
    /// `<site>/<name>_<id>`, so one site's cookie finds nothing of another's.
    pub site: Option<String>,
}

/// The running session service, shared by its connections.
pub struct Sessions {
    store: Store,
    locking: bool,
    lock_wait: Duration,
    timeout: Duration,
    deadline: Arc<AtomicU64>,
    site: Option<String>,
}

impl Sessions {
    /// The table's hash key of session `id` under the cookie `name`.
    fn key(&self, name: &str, id: &str) -> String {
        let key = protocol::item_id(name, id);
        match &self.site {
            Some(site) => format!("{site}/{key}"),
            None => key,
        }
    }

    fn deadline_ms(&self) -> Option<u64> {
        Some(self.deadline.load(Ordering::Relaxed)).filter(|&d| d != 0)
    }
}

/// What php-fpm needs to use the service, and the handle a Lambda invocation sets its
/// deadline through.
#[derive(Debug, Clone)]
pub struct Started {
    /// The PHP file to `auto_prepend_file`.
    pub prepend: PathBuf,
    /// The current request's deadline in epoch ms (0: unknown, use the timeout). Lambda
    /// runs one request at a time, so one value serves.
    pub deadline: Arc<AtomicU64>,
}

impl Started {
    /// The pool's ini lines.
    pub fn ini(&self) -> Vec<(String, String)> {
        vec![(
            "auto_prepend_file".to_owned(),
            self.prepend.display().to_string(),
        )]
    }
}

/// Write the PHP handler into `runtime_dir`, listen on `runtime_dir/session.sock`, and
/// serve until the process ends. Call before php-fpm starts.
pub async fn start(settings: SessionSettings, runtime_dir: &Path) -> Result<Started> {
    start_with(crate::aws::Config::from_env(), settings, runtime_dir)
}

/// As [`start`], with an AWS config built by the caller.
pub fn start_with(
    config: crate::aws::Config,
    settings: SessionSettings,
    runtime_dir: &Path,
) -> Result<Started> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(runtime_dir)
        .with_context(|| format!("creating the runtime dir {}", runtime_dir.display()))?;
    let socket = runtime_dir.join("session.sock");
    crate::fpm::check_socket_path(&socket)?;
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket)
        .with_context(|| format!("listening on {}", socket.display()))?;
    let prepend = runtime_dir.join("session_handler.php");
    std::fs::write(&prepend, handler_php(&socket)?)
        .with_context(|| format!("writing {}", prepend.display()))?;
    let deadline = Arc::new(AtomicU64::new(0));
    let sessions = Sessions {
        store: Store::new(config, settings.table.clone()),
        locking: settings.locking,
        lock_wait: settings.lock_wait,
        timeout: settings.timeout,
        deadline: deadline.clone(),
        site: settings.site.clone(),
    };
    tracing::info!(
        table = settings.table,
        locking = settings.locking,
        "PHP sessions in DynamoDB table {}",
        settings.table
    );
    tokio::spawn(server::accept(listener, Arc::new(sessions)));
    Ok(Started { prepend, deadline })
}

/// The shipped handler with the socket's path filled in, as a PHP string literal.
pub fn handler_php(socket: &Path) -> Result<String> {
    let path = socket
        .to_str()
        .context("the session socket's path must be valid UTF-8")?;
    let literal = format!("'{}'", path.replace('\\', "\\\\").replace('\'', "\\'"));
    anyhow::ensure!(
        HANDLER_PHP.contains(SOCKET_PLACEHOLDER),
        "the embedded session handler has no socket placeholder"
    );
    Ok(HANDLER_PHP.replacen(SOCKET_PLACEHOLDER, &literal, 1))
}

/// `LAMPHP_SESSION_LOCKING`: on unless `off`, `0`, `false` or `no`.
pub fn locking_from(value: Option<&str>) -> Result<bool> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "on" | "1" | "true" | "yes") => Ok(true),
        Some("off" | "0" | "false" | "no") => Ok(false),
        Some(other) => anyhow::bail!("LAMPHP_SESSION_LOCKING is {other:?}: use on or off"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_gets_the_socket_path_as_a_php_literal() {
        let php = handler_php(Path::new("/tmp/it's/session.sock")).unwrap();
        assert!(php.contains(r"'/tmp/it\'s/session.sock'"), "{php}");
        assert!(!php.contains(SOCKET_PLACEHOLDER));
    }

    #[test]
    fn locking_is_on_unless_turned_off() {
        let table = [
            (None, Some(true)),
            (Some("on"), Some(true)),
            (Some("OFF"), Some(false)),
            (Some("0"), Some(false)),
            (Some("maybe"), None),
        ];
        for (value, want) in table {
            assert_eq!(locking_from(value).ok(), want, "{value:?}");
        }
    }
}
