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

use crate::aws::{self, s3::S3};
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_TYPE};
use http::HeaderMap;
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
    s3: S3,
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
    /// From the environment (region, credentials, `AWS_ENDPOINT_URL_S3`).
    pub fn new(bucket: String) -> Offload {
        Offload::with_config(aws::Config::from_env(), bucket)
    }

    /// From a config built by the caller, as tests do, so nothing is read from the
    /// process environment.
    pub fn with_config(config: aws::Config, bucket: String) -> Offload {
        Offload {
            s3: S3::new(config),
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
    /// it. A header whose value is not visible ASCII is left out: SigV4 signs text.
    pub async fn put(&self, body: Bytes, headers: &HeaderMap) -> Result<String, OffloadError> {
        let key = format!("{}{}", self.prefix, random_name()?);
        let kept = [
            CONTENT_TYPE,
            CONTENT_ENCODING,
            CACHE_CONTROL,
            CONTENT_DISPOSITION,
        ]
        .into_iter()
        .filter_map(|name| {
            let value = headers.get(&name).filter(|v| v.to_str().is_ok())?;
            Some((name, value.clone()))
        })
        .collect();
        self.s3
            .put_object(&self.bucket, &key, body, kept)
            .await
            .map_err(|err| OffloadError::Put {
                hint: self.hint(&err),
                message: err.to_string(),
                bucket: self.bucket.clone(),
                key: key.clone(),
            })?;
        self.s3
            .presigned_get(&self.bucket, &key, self.lifetime)
            .await
            .map_err(|err| OffloadError::Presign {
                bucket: self.bucket.clone(),
                key: key.clone(),
                message: err.to_string(),
            })
    }

    /// What to check, from how the upload failed.
    fn hint(&self, err: &aws::Error) -> String {
        let (bucket, prefix) = (&self.bucket, &self.prefix);
        if let aws::Error::Unreachable(_) = err {
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
            _ if matches!(err, aws::Error::Config(_)) => {
                "check the function's AWS settings".to_owned()
            }
            _ => format!(
                "the function's role needs s3:PutObject and s3:GetObject \
                 on arn:aws:s3:::{bucket}/{prefix}*"
            ),
        }
    }
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
