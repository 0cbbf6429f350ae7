//! The bundle's download: one plain streaming GET of a presigned S3 URL.
//!
//! hyper-util's client with rustls on ring and Mozilla's roots (no system store to read,
//! which Lambda's images do not promise). The presigned URL carries its own
//! authorisation, so no AWS client is needed here.

use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// GET `url` and hand back the body of its 200 answer, unread.
pub async fn get(url: &str) -> Result<Incoming> {
    let uri: hyper::Uri = url
        .parse()
        .with_context(|| format!("the bundle URL {url:?} is not a URL"))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(https);
    let host = uri.host().unwrap_or_default().to_owned();
    let response = client.get(uri).await.with_context(|| {
        format!("fetching the bundle from {host}: in a VPC, the function needs a route to S3 (an S3 gateway endpoint or a NAT gateway)")
    })?;
    let status = response.status();
    if !status.is_success() {
        let body = response.into_body().collect().await.map(|b| b.to_bytes());
        let detail = body.map_or_else(
            |_| String::new(),
            |b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned(),
        );
        bail!("fetching the bundle from {host} answered {status} (an expired or wrong presigned URL?): {detail}");
    }
    Ok(response.into_body())
}
