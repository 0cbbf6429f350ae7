//! HTTP/1.1 and HTTPS out: hyper-util's pooled client over rustls with the ring provider
//! and the webpki root certificates compiled in, so no CA bundle is needed on disk (the
//! layer runs in images that may have none). ring rather than rustls's default,
//! aws-lc-rs: 2 MB less binary and a C toolchain less, for nothing these calls need.

use super::Error;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::fmt::Write as _;
use std::time::Duration;

/// A pooled client; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Client {
    /// A client whose connection attempts give up after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Client {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .expect("ring supports rustls's default protocol versions")
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Client {
            inner: hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https),
        }
    }

    /// Send `request`; the response's body streams.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Response<Incoming>, Error> {
        let target = format!("{} {}", request.method(), request.uri());
        self.inner
            .request(request)
            .await
            .map_err(|e| Error::Unreachable(format!("{target}: {}", chain(&e))))
    }

    /// GET `url` (http or https), the body streaming: for fetching a presigned URL.
    /// A non-2xx status is the caller's to judge; the response is returned as it came.
    pub async fn get(&self, url: &str) -> Result<Response<Incoming>, Error> {
        let request = Request::get(url)
            .body(Full::default())
            .map_err(|e| Error::Config(format!("cannot GET {url:?}: {e}")))?;
        self.send(request).await
    }
}

/// The whole body of `response`.
pub async fn collect(response: Response<Incoming>) -> Result<(u16, Bytes), Error> {
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| Error::Unreachable(format!("reading the response: {}", chain(&e))))?;
    Ok((status, body.to_bytes()))
}

/// An error and its causes on one line: hyper's own Display says only "client error
/// (Connect)" where a cause says "Connection refused".
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        let _ = write!(line, ": {err}");
        cause = err.source();
    }
    line
}
