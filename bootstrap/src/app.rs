//! The core every front door calls: a [`Request`] in, a response out.
//!
//! request → [`uri::normalize`] → [`router::route`] → static file, redirect, error page,
//! or [`cgi::params()`] → [`crate::fastcgi::Client`] → php-fpm → [`cgi::CgiHead`] + streamed body.

use crate::body::Body;
use crate::docroot::FsDocroot;
use crate::fastcgi::Client;
use crate::request::{Head, Request, RequestBody};
use crate::router::{self, Route};
use crate::{cgi, error_page, static_file, uri};
use bytes::BytesMut;
use http::{header, HeaderValue, Method, Response, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How the core is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest request body accepted (nginx's `client_max_body_size`); past it, 413.
    pub max_body: u64,
    /// How long PHP may take for one request, body included (nginx's
    /// `fastcgi_read_timeout`, but for the whole exchange); past it, 504.
    pub timeout: Duration,
}

/// A site: its document root and the php-fpm pool that runs its scripts.
pub struct App {
    docroot: FsDocroot,
    php: Arc<Client>,
    settings: Settings,
}

impl App {
    pub fn new(docroot: FsDocroot, php: Arc<Client>, settings: Settings) -> App {
        App {
            docroot,
            php,
            settings,
        }
    }

    /// When a request starting now must be done by, by the configured timeout.
    pub fn deadline_from_now(&self) -> Instant {
        Instant::now() + self.settings.timeout
    }

    /// Answer `req`, never failing: whatever goes wrong becomes the error page nginx
    /// would send, and a log line that says why. `request_id` tags the log lines; PHP
    /// gets until `deadline`, body included, then the answer is a 504.
    pub async fn handle(
        &self,
        req: Request,
        request_id: Arc<str>,
        deadline: Instant,
    ) -> Response<Body> {
        let Request { head, body } = req;
        // nginx refuses these before any location sees them.
        if matches!(head.method, Method::TRACE | Method::CONNECT) {
            discard(body);
            return error_page::response(StatusCode::METHOD_NOT_ALLOWED);
        }
        let normalized = match uri::normalize(&head.path) {
            Ok(u) => u,
            Err(e) => {
                tracing::info!(request = %request_id, "400 for {:?}: {e}", String::from_utf8_lossy(&head.path));
                return error_page::response(StatusCode::BAD_REQUEST);
            }
        };
        match router::route(&normalized, &head.method, &self.docroot) {
            Route::Php {
                script_name,
                path_info,
            } => {
                let script = (&script_name[..], &path_info[..]);
                self.php(&head, body, script, request_id, deadline).await
            }
            other => {
                discard(body);
                self.answer(&head, other).await
            }
        }
    }

    /// The answer to a request that does not go to PHP.
    async fn answer(&self, head: &Head, route: Route) -> Response<Body> {
        match route {
            Route::Php { .. } => unreachable!("App::handle sends PHP routes to App::php"),
            Route::Static { uri } => {
                static_file::serve(&self.docroot.path(&uri), &head.method, &head.headers).await
            }
            Route::AddSlash { uri } => add_slash(head, &uri),
            Route::Forbidden => error_page::response(StatusCode::FORBIDDEN),
            Route::NotFound => error_page::response(StatusCode::NOT_FOUND),
            Route::MethodNotAllowed => error_page::response(StatusCode::METHOD_NOT_ALLOWED),
        }
    }

    async fn php(
        &self,
        head: &Head,
        body: RequestBody,
        (script_name, path_info): (&[u8], &[u8]),
        request_id: Arc<str>,
        deadline: Instant,
    ) -> Response<Body> {
        let (body, read_length) = match self.request_body(head, body).await {
            Ok(b) => b,
            Err(status) => {
                tracing::info!(request = %request_id, "{} reading the request body", status.as_u16());
                return error_page::response(status);
            }
        };
        let root = self.docroot.root().as_os_str().as_encoded_bytes();
        let script = cgi::Script {
            name: script_name,
            path_info,
            document_root: root,
        };
        let params = cgi::params(head, &script, read_length);
        match self
            .php
            .send(&params, body, deadline, request_id.clone())
            .await
        {
            Ok(exchange) => {
                let mut res = Response::new(exchange.body);
                *res.status_mut() = exchange.head.status;
                if let Some(reason) = exchange.head.reason {
                    if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(reason) {
                        res.extensions_mut().insert(reason);
                    }
                }
                res.headers_mut().extend(exchange.head.headers);
                res
            }
            Err(e) => {
                tracing::error!(request = %request_id, "{} for {}: {e}", e.status().as_u16(), String::from_utf8_lossy(script_name));
                error_page::response(e.status())
            }
        }
    }

    /// The body to stream to PHP, and its length when only reading it tells (nginx reads
    /// a chunked body whole before passing it on, and sends its length).
    async fn request_body(
        &self,
        head: &Head,
        mut body: RequestBody,
    ) -> Result<(RequestBody, Option<u64>), StatusCode> {
        let max = self.settings.max_body;
        if let Some(declared) = head.headers.get(header::CONTENT_LENGTH) {
            let declared: u64 = declared
                .to_str()
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or(StatusCode::BAD_REQUEST)?;
            if declared > max {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            return Ok((body, None));
        }
        if body.is_end_stream() {
            return Ok((body, None));
        }
        let mut whole = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| StatusCode::BAD_REQUEST)?;
            if let Ok(data) = frame.into_data() {
                if (whole.len() + data.len()) as u64 > max {
                    return Err(StatusCode::PAYLOAD_TOO_LARGE);
                }
                whole.extend_from_slice(&data);
            }
        }
        let len = whole.len() as u64;
        let body = Full::new(whole.freeze())
            .map_err(|never| match never {})
            .boxed_unsync();
        Ok((body, Some(len)))
    }
}

/// How long a request body nothing reads may still take to arrive (nginx's
/// `lingering_time`).
const LINGERING_TIME: Duration = Duration::from_secs(30);

/// nginx reads and drops a request body nothing consumes (a POST to a static file, to a
/// redirect) and keeps the connection for the next request. Dropped unread, the body makes
/// hyper close the connection whenever it has not all arrived by the end of the answer,
/// and the requests pipelined behind it go unanswered.
fn discard(mut body: RequestBody) {
    if body.is_end_stream() {
        return;
    }
    tokio::spawn(async move {
        let drain = async { while let Some(Ok(_)) = body.frame().await {} };
        let _ = tokio::time::timeout(LINGERING_TIME, drain).await;
    });
}

/// nginx's answer to a directory asked for without its slash: 301 to the same URL with
/// one, query kept. The URL is absolute, built from the scheme, host and port the client
/// used; behind a trusted proxy those are the proxy's forwarded ones (nginx itself would
/// name its own listening port, which the client cannot reach).
fn add_slash(head: &Head, uri: &[u8]) -> Response<Body> {
    let origin = &head.origin;
    let scheme = match origin.scheme.to_ascii_lowercase() {
        s if s.is_empty() => "http".to_owned(),
        s => s,
    };
    let host = match head.host.name.as_str() {
        "" => origin.server_addr.as_str(),
        name => name,
    };
    let default_port = if scheme == "https" { "443" } else { "80" };
    let mut location = format!("{scheme}://{host}").into_bytes();
    if host.is_empty() {
        // No Host and no address of our own (an ALB health check on Lambda): a URL
        // like `http://:80/dir/` leads nowhere, a path the client resolves does.
        location.clear();
    } else if !origin.server_port.is_empty() && origin.server_port != default_port {
        location.push(b':');
        location.extend_from_slice(origin.server_port.as_bytes());
    }
    location.extend_from_slice(uri);
    location.push(b'/');
    if let Some(query) = &head.query {
        location.push(b'?');
        location.extend_from_slice(query);
    }
    let mut res = error_page::response(StatusCode::MOVED_PERMANENTLY);
    match HeaderValue::from_bytes(&location) {
        Ok(value) => {
            res.headers_mut().insert(header::LOCATION, value);
            res
        }
        // A decoded path with control bytes cannot go in a header; nginx would send it
        // anyway, which no client could follow.
        Err(_) => error_page::response(StatusCode::BAD_REQUEST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::Origin;
    use crate::request::Host;

    fn location(host: &str, scheme: &str, server_addr: &str, port: &str) -> String {
        let head = Head {
            method: Method::GET,
            path: b"/dir".to_vec(),
            query: Some(b"a=1".to_vec()),
            version: http::Version::HTTP_11,
            headers: http::HeaderMap::new(),
            host: Host {
                name: host.into(),
                port: None,
            },
            origin: Origin {
                scheme: scheme.into(),
                server_addr: server_addr.into(),
                server_port: port.into(),
                ..Origin::default()
            },
        };
        let res = add_slash(&head, b"/dir");
        assert_eq!(res.status(), StatusCode::MOVED_PERMANENTLY);
        res.headers()[header::LOCATION].to_str().unwrap().to_owned()
    }

    #[test]
    fn directory_redirects_name_the_origin_the_client_used() {
        assert_eq!(
            location("h", "HTTPS", "10.0.0.1", "443"),
            "https://h/dir/?a=1"
        );
        assert_eq!(
            location("h", "https", "10.0.0.1", "8443"),
            "https://h:8443/dir/?a=1"
        );
        assert_eq!(location("h", "http", "10.0.0.1", "80"), "http://h/dir/?a=1");
        assert_eq!(location("h", "", "10.0.0.1", ""), "http://h/dir/?a=1");
        assert_eq!(
            location("", "http", "10.0.0.1", "8080"),
            "http://10.0.0.1:8080/dir/?a=1"
        );
        assert_eq!(location("", "http", "", "8080"), "/dir/?a=1");
    }
}
