//! The bundle's download: one plain streaming GET of a presigned S3 URL.
//!
//! The presigned URL carries its own authorisation, so the function's role needs no read
//! access to the release bucket: the GET goes through [`crate::aws::http`]'s client unsigned.

use crate::aws::http::{collect, Client};
use anyhow::{bail, Context, Result};
use hyper::body::Incoming;
use std::sync::OnceLock;
use std::time::Duration;

/// One client for every download: its TLS setup (root store, provider) is built on the
/// first unpack, not per call, and a warm sandbox that unpacks again reuses the pool
/// (the process has one tokio runtime, which the pooled connections live on).
static CLIENT: OnceLock<Client> = OnceLock::new();

/// GET `url` and hand back the body of its 200 answer, unread.
pub async fn get(url: &str) -> Result<Incoming> {
    let host = url
        .parse::<hyper::Uri>()
        .with_context(|| format!("the bundle URL {url:?} is not a URL"))?
        .host()
        .unwrap_or_default()
        .to_owned();
    let response = CLIENT
        .get_or_init(|| Client::new(Duration::from_secs(5)))
        .get(url)
        .await
        .with_context(|| {
            format!("fetching the bundle from {host}: in a VPC, the function needs a route to S3 (an S3 gateway endpoint or a NAT gateway)")
        })?;
    let status = response.status();
    if !status.is_success() {
        let (_, body) = collect(response).await.unwrap_or_default();
        let detail = String::from_utf8_lossy(&body[..body.len().min(300)]);
        bail!("fetching the bundle from {host} answered {status} (an expired or wrong presigned URL?): {detail}");
    }
    Ok(response.into_body())
}
