//! Hands a response body too large for the ALB to S3, for a redirect to a short-lived
//! presigned URL.
//!
//! # What the bucket and the role need
//!
//! - A lifecycle rule that expires objects under the prefix ([`DEFAULT_PREFIX`]) after
//!   a day or so: nothing here deletes them, and each offloaded response leaves one.
//! - On the function's role, `s3:PutObject` to upload and `s3:GetObject` for the
//!   presigned URL to work (S3 checks a presigned request against its signer's
//!   rights), both on `arn:aws:s3:::BUCKET/PREFIX*`; with SSE-KMS, `kms:GenerateDataKey`
//!   and `kms:Decrypt` on the key as well.
//!
//! The key is 128 random bits, so the URL cannot be guessed during its lifetime; the
//! bucket itself stays private.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_types::service_config::ServiceConfigKey;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, HeaderName};
use std::error::Error;
use std::fmt::Write as _;
use std::time::Duration;
use thiserror::Error;

/// Where the objects go in the bucket, so one lifecycle rule and one IAM resource cover
/// them.
pub const DEFAULT_PREFIX: &str = "lamphp-offload/";

/// How long a presigned URL works: long enough for a client to follow the redirect,
/// short enough that a URL leaked in a log or a history is soon useless.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// An S3 bucket to put bodies in.
#[derive(Debug, Clone)]
pub struct Offload {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    lifetime: Duration,
}

#[derive(Debug, Error)]
pub enum OffloadError {
    #[error("offload: cannot draw a random object key: {0}")]
    Random(getrandom::Error),
    #[error("offload: cannot upload the response body to s3://{bucket}/{key}: {message} ({hint})")]
    Put {
        bucket: String,
        key: String,
        message: String,
        hint: String,
    },
    #[error("offload: cannot presign a URL for s3://{bucket}/{key}: {message}")]
    Presign {
        bucket: String,
        key: String,
        message: String,
    },
}

impl Offload {
    /// From the standard AWS chain (region, credentials, `AWS_ENDPOINT_URL_S3`).
    pub async fn new(bucket: String) -> Offload {
        Offload::with_config(&loader().load().await, bucket)
    }

    /// From a config built by the caller, as tests do, so nothing is read from the
    /// process environment; an HTTPS client is supplied if `config` has none.
    pub fn with_config(config: &SdkConfig, bucket: String) -> Offload {
        let mut s3 = aws_sdk_s3::config::Builder::from(config);
        if config.http_client().is_none() {
            s3 = s3.http_client(https_client());
        }
        // S3-compatible servers (MinIO, moto, LocalStack) expect the bucket in the path:
        // virtual-host addressing would look up `BUCKET.localhost` or `BUCKET.minio`,
        // which no resolver knows. (The SDK already does this for an IP address.)
        if endpoint_overridden(config) {
            s3 = s3.force_path_style(true);
        }
        Offload {
            client: aws_sdk_s3::Client::from_conf(s3.build()),
            bucket,
            prefix: DEFAULT_PREFIX.to_owned(),
            lifetime: DEFAULT_LIFETIME,
        }
    }

    /// Put objects under `prefix` instead of [`DEFAULT_PREFIX`].
    pub fn prefix(mut self, prefix: impl Into<String>) -> Offload {
        self.prefix = prefix.into();
        self
    }

    /// Presign URLs for `lifetime` instead of [`DEFAULT_LIFETIME`]; S3 accepts at most
    /// seven days, and a URL signed with the role's session credentials stops working
    /// when they expire, whichever comes first.
    pub fn lifetime(mut self, lifetime: Duration) -> Offload {
        self.lifetime = lifetime;
        self
    }

    /// Upload `body` with its Content-Type (and Content-Encoding, Cache-Control,
    /// Content-Disposition if present) under a unique key, and return a presigned GET
    /// URL for it.
    ///
    /// S3 answers the URL with those headers, so the client sees the body as PHP sent
    /// it. A header whose value is not visible ASCII is left out: the SDK takes strings.
    pub async fn put(&self, body: Bytes, headers: &HeaderMap) -> Result<String, OffloadError> {
        let key = format!("{}{}", self.prefix, random_name()?);
        let text = |name: HeaderName| {
            let value = headers.get(name)?.to_str().ok()?;
            Some(value.to_owned())
        };
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(ByteStream::from(body))
            .set_content_type(text(CONTENT_TYPE))
            .set_content_encoding(text(CONTENT_ENCODING))
            .set_cache_control(text(CACHE_CONTROL))
            .set_content_disposition(text(CONTENT_DISPOSITION))
            .send()
            .await
            .map_err(|err| OffloadError::Put {
                hint: self.hint(&err),
                message: match (err.code(), err.message()) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    _ => chain(&err),
                },
                bucket: self.bucket.clone(),
                key: key.clone(),
            })?;
        let presign_error = |message: String| OffloadError::Presign {
            bucket: self.bucket.clone(),
            key: key.clone(),
            message,
        };
        let presigning = PresigningConfig::expires_in(self.lifetime)
            .map_err(|e| presign_error(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(presigning)
            .await
            .map_err(|e| presign_error(chain(&e)))?;
        Ok(request.uri().to_owned())
    }

    /// What to check, from how the upload failed.
    fn hint(&self, err: &SdkError<PutObjectError, HttpResponse>) -> String {
        let (bucket, prefix) = (&self.bucket, &self.prefix);
        if matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
        ) {
            return "S3 could not be reached: a function in a VPC needs a gateway endpoint \
                    for S3 or a NAT gateway"
                .to_owned();
        }
        match err.code() {
            Some("NoSuchBucket") => {
                format!("check LAMPHP_OFFLOAD_BUCKET: there is no bucket {bucket:?}")
            }
            Some("PermanentRedirect" | "AuthorizationHeaderMalformed") => {
                format!(
                    "bucket {bucket:?} is in another region than the function: \
                     use a bucket in the function's region, or set AWS_REGION to the bucket's"
                )
            }
            _ => format!(
                "the function's role needs s3:PutObject and s3:GetObject \
                 on arn:aws:s3:::{bucket}/{prefix}*"
            ),
        }
    }
}

/// The standard chain's loader as [`Offload::new`] uses it; a test can hand it an
/// environment of its own before loading.
pub fn loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

/// HTTPS with rustls on ring: the SDK's default, aws-lc-rs, builds here too but adds
/// 2 MB to the binary and two minutes to a clean build, for nothing S3 needs.
pub(crate) fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Whether the S3 endpoint is not AWS's, looked up as the SDK does: `AWS_ENDPOINT_URL_S3`
/// (or `endpoint_url` in the profile's `services` section), else `AWS_ENDPOINT_URL`.
fn endpoint_overridden(config: &SdkConfig) -> bool {
    let s3_only = ServiceConfigKey::builder()
        .service_id("S3")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()
        .zip(config.service_config())
        .and_then(|(key, services)| services.load_config(key));
    s3_only.is_some() || config.endpoint_url().is_some()
}

/// An error and its causes on one line: the SDK's own Display says only "dispatch
/// failure" where the cause says "Connection refused".
fn chain(err: &dyn Error) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        let _ = write!(line, ": {err}");
        cause = err.source();
    }
    line
}

/// 32 hex digits from the system's random source.
fn random_name() -> Result<String, OffloadError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(OffloadError::Random)?;
    Ok(bytes.iter().fold(String::with_capacity(32), |mut name, b| {
        let _ = write!(name, "{b:02x}");
        name
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_names_are_distinct_hex() {
        let a = random_name().unwrap();
        let b = random_name().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
