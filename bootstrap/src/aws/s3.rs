//! S3: PutObject, and a presigned GetObject URL.

use super::error;
use super::retry::Policy;
use super::sign::{self, Service};
use super::signed::Signed;
use super::{endpoint, Config, Error};
use ::http::{HeaderMap, Method};
use bytes::Bytes;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct S3(Signed);

impl S3 {
    /// The SDK's defaults, three attempts and a 3 s connect timeout, and a minute per
    /// attempt: the SDK's stalled-stream protection ended a stuck upload, this ends it
    /// too, while 64 MB (`LAMPHP_MAX_RESPONSE`'s default) needs only 1.1 MB/s.
    pub fn new(config: Config) -> S3 {
        let policy = Policy {
            attempts: 3,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Some(Duration::from_secs(60)),
            total_timeout: None,
        };
        S3(Signed::new(
            config,
            Service::S3,
            policy,
            |status, _, body| error::s3(status, body),
        ))
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// Upload `body` as `bucket`/`key`; `headers` (Content-Type and the like) are stored
    /// with the object and sent back with it.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        headers: HeaderMap,
    ) -> Result<(), Error> {
        let url = self.url(bucket, key)?;
        self.0
            .call("S3 PutObject", Method::PUT, &url, headers, body)
            .await
            .map(drop)
    }

    /// A URL that GETs `bucket`/`key` for `lifetime`, signed now.
    pub async fn presigned_get(
        &self,
        bucket: &str,
        key: &str,
        lifetime: Duration,
    ) -> Result<String, Error> {
        let url = self.url(bucket, key)?;
        let credentials = self.config().credentials.get().await?;
        sign::presigned_get(&url, self.config().region()?, &credentials, lifetime)
    }

    fn url(&self, bucket: &str, key: &str) -> Result<String, Error> {
        let region = self.config().region()?;
        Ok(endpoint::s3_object(
            self.config().endpoints().s3.as_deref(),
            region,
            bucket,
            key,
        ))
    }
}
