//! The health check that a load balancer's target group and a container runtime poll
//! (`--health-path`, `/_lamphp/health` by default). The front door answers it and PHP never
//! sees it: 200 while PHP is ready (every site's, when `serve` runs several), 503 while it is
//! being (re)started or cannot start, and 503 once the server is draining, so nothing new is
//! sent to an instance that is stopping.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use http::{header, HeaderValue, Response, StatusCode};

use crate::body::{self, Body};
use crate::fpm::{Pool, Status};

/// Where the health check is answered, and what it looks at.
#[derive(Debug)]
pub struct Health {
    path: String,
    pools: Vec<Pool>,
    draining: AtomicBool,
}

impl Health {
    /// The check at `path` of PHP's `pools`, or none when `path` is empty (the setting's way
    /// to turn it off).
    pub fn new(path: &str, pools: Vec<Pool>) -> Option<Arc<Health>> {
        (!path.is_empty()).then(|| {
            Arc::new(Health {
                path: path.to_owned(),
                pools,
                draining: AtomicBool::new(false),
            })
        })
    }

    /// Whether a request for `path` (without its query) is the health check.
    pub fn answers(&self, path: &str) -> bool {
        path == self.path
    }

    /// From now on the check fails: the server is stopping.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn response(&self) -> Response<Body> {
        let statuses: Vec<Status> = self
            .pools
            .iter()
            .map(|pool| pool.status().borrow().clone())
            .collect();
        let (code, text) = verdict(self.draining.load(Ordering::SeqCst), &statuses);
        let mut res = Response::new(body::full(text.to_owned()));
        *res.status_mut() = code;
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

/// `bootstrap health`: asks the `serve` listening on `listen` for its health check, for a
/// container's health check command (the image holds no curl); Ok only for a 200.
pub fn probe(listen: SocketAddr, path: &str, timeout: Duration) -> Result<()> {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let url = format!("http://{addr}{path}");
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {url} (is `bootstrap serve` running there?)"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("asking {url}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .with_context(|| format!("reading {url}'s answer"))?;
    let answer = String::from_utf8_lossy(&answer);
    let status_line = answer.lines().next().unwrap_or_default();
    if status_line.split(' ').nth(1) != Some("200") {
        let body = answer
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body.trim());
        bail!("{url} answered {status_line:?}: {body}");
    }
    Ok(())
}

/// Pure: the answer for a server that is `draining` or not, with its sites' PHP in
/// `statuses`: the worst of them counts. The reasons stay in the log: the check is
/// reachable from outside.
fn verdict(draining: bool, statuses: &[Status]) -> (StatusCode, &'static str) {
    let failing = statuses.iter().any(|s| matches!(s, Status::Failing(_)));
    let starting = statuses.iter().any(|s| matches!(s, Status::Starting));
    match (draining, failing, starting) {
        (true, _, _) => (StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
        (false, true, _) => (StatusCode::SERVICE_UNAVAILABLE, "PHP is not running\n"),
        (false, false, true) => (StatusCode::SERVICE_UNAVAILABLE, "PHP is starting\n"),
        (false, false, false) => (StatusCode::OK, "ok\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_php_is_and_never_while_draining() {
        let failing = Status::Failing("php-fpm exited".into());
        let table = [
            (false, vec![Status::Ready], 200, "ok\n"),
            (false, vec![Status::Ready, Status::Ready], 200, "ok\n"),
            (false, vec![Status::Starting], 503, "PHP is starting\n"),
            (
                false,
                vec![Status::Ready, Status::Starting],
                503,
                "PHP is starting\n",
            ),
            (false, vec![failing.clone()], 503, "PHP is not running\n"),
            (
                false,
                vec![Status::Starting, failing.clone(), Status::Ready],
                503,
                "PHP is not running\n",
            ),
            (true, vec![Status::Ready], 503, "draining\n"),
            (true, vec![failing], 503, "draining\n"),
        ];
        for (draining, statuses, code, text) in table {
            assert_eq!(
                verdict(draining, &statuses),
                (StatusCode::from_u16(code).unwrap(), text),
                "{draining} {statuses:?}"
            );
        }
    }
}
