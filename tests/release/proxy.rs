//! One endpoint for the release command, as AWS has: Lambda's Invoke goes to `cargo
//! lambda watch` (moto's Invoke needs Docker), everything else to moto. It can also
//! corrupt the bundles S3 hands out, to see the function refuse one.
//!
//! cargo lambda answers a function error with a 500; Lambda answers 200 with
//! `X-Amz-Function-Error: Unhandled` (and the SDK would retry a 500), so the proxy
//! answers as Lambda does.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct Proxy {
    pub port: u16,
    /// Flip a byte in the middle of every `releases/*.tar.gz` S3 serves while set.
    pub corrupt_bundles: Arc<AtomicBool>,
    _runtime: tokio::runtime::Runtime,
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Where requests go, and the one client (and connection pool) that takes them there.
#[derive(Clone)]
struct Upstreams {
    moto: u16,
    watch: u16,
    client: HttpClient,
}

impl Proxy {
    pub fn start(moto: u16, watch: u16) -> Proxy {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let corrupt = Arc::new(AtomicBool::new(false));
        let upstreams = Upstreams {
            moto,
            watch,
            client: Client::builder(TokioExecutor::new()).build_http(),
        };
        let flag = corrupt.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (flag, upstreams) = (flag.clone(), upstreams.clone());
                let service = service_fn(move |req| {
                    route(req, upstreams.clone(), flag.load(Ordering::SeqCst))
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Proxy {
            port,
            corrupt_bundles: corrupt,
            _runtime: runtime,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

async fn route(
    req: Request<Incoming>,
    to: Upstreams,
    corrupt: bool,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let invoke = req.method() == Method::POST
        && path.starts_with("/2015-03-31/functions/")
        && path.ends_with("/invocations");
    let bundle =
        req.method() == Method::GET && path.contains("/releases/") && path.ends_with(".tar.gz");
    let target = if invoke {
        // The emulator serves the one runtime polling it as `_`.
        format!(
            "http://127.0.0.1:{}/2015-03-31/functions/_/invocations",
            to.watch
        )
    } else {
        let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
        format!("http://127.0.0.1:{}{pq}", to.moto)
    };
    let (mut parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    parts.uri = target.parse().unwrap();
    let answer = match to
        .client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(answer) => answer,
        Err(e) => {
            let mut bad = Response::new(Full::new(Bytes::from(format!("proxy: {e}"))));
            *bad.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            return Ok(bad);
        }
    };
    let (mut parts, body) = answer.into_parts();
    let mut bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    if bundle && corrupt && parts.status.is_success() && !bytes.is_empty() {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
    }
    if invoke && parts.status == hyper::StatusCode::INTERNAL_SERVER_ERROR {
        parts.status = hyper::StatusCode::OK;
        let unhandled = header::HeaderValue::from_static("Unhandled");
        parts.headers.insert("x-amz-function-error", unhandled);
    }
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, Full::new(Bytes::from(bytes))))
}
