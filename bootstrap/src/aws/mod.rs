//! The AWS calls lamphp makes, S3 ([`s3`]), DynamoDB ([`dynamodb`]) and SES ([`ses`]),
//! and a plain HTTPS client ([`http`]) they share with anything else that fetches a URL.
//!
//! # Why this is ours and not the AWS SDK for Rust
//!
//! The SDK (aws-config, aws-sdk-s3, aws-sdk-dynamodb) took the stripped bootstrap from
//! 3.3 MB to 12.7 MB; the layer's limit (issue 5) is 6 MB. lamphp makes six calls:
//! S3 PutObject and a presigned GET, DynamoDB UpdateItem, GetItem, PutItem and
//! DeleteItem, and SES v2 SendEmail (PHP's `mail()`, [`crate::mail`]). The part that
//! is easy to get subtly wrong, SigV4 signing and presigning, stays with the SDK's own
//! signer crate, `aws-sigv4`, and `aws-credential-types`;
//! what is here is building six requests, reading three error formats, and the two
//! credential sources lamphp runs with.
//!
//! # What is read from the environment ([`Config::from_env`])
//!
//! - Region: `AWS_REGION`, else `AWS_DEFAULT_REGION`.
//! - Credentials ([`credentials`]): `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//!   `AWS_SESSION_TOKEN` (Lambda sets them), else the container endpoint
//!   (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, or `AWS_CONTAINER_CREDENTIALS_FULL_URI`
//!   with `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`; ECS sets them). Not read: profile
//!   files, SSO, web identity, EC2 instance metadata; lamphp runs on Lambda and ECS.
//! - Endpoints ([`endpoint`]): `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB`,
//!   `AWS_ENDPOINT_URL_SESV2`, else `AWS_ENDPOINT_URL` (a local S3, DynamoDB or SES, as
//!   the tests use).

pub mod credentials;
pub mod dynamodb;
pub mod endpoint;
pub mod error;
pub mod http;
pub mod retry;
pub mod s3;
pub mod ses;
mod sign;
mod signed;

pub use credentials::Credentials;
pub use endpoint::Endpoints;
pub use error::Error;

/// Where and as whom to call AWS.
#[derive(Debug, Clone)]
pub struct Config {
    region: Option<String>,
    credentials: credentials::Provider,
    endpoints: Endpoints,
}

impl Config {
    /// Fixed credentials in `region`, AWS's own endpoints.
    pub fn new(region: impl Into<String>, credentials: Credentials) -> Config {
        Config {
            region: Some(region.into()),
            credentials: credentials::Provider::fixed(credentials),
            endpoints: Endpoints::default(),
        }
    }

    /// From the process environment, as on Lambda and ECS.
    pub fn from_env() -> Config {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// From the variables `var` returns, so a test can hand over an environment of its
    /// own. Nothing is fetched yet: a missing region or credentials are an error at the
    /// first call, saying which variables to set.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Config {
        let var = |name: &str| var(name).filter(|value| !value.is_empty());
        Config {
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            credentials: credentials::Provider::from_vars(var),
            endpoints: Endpoints::from_vars(var),
        }
    }

    /// Send every service's requests to `url` (as `AWS_ENDPOINT_URL` does).
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Config {
        self.endpoints = Endpoints::all(url.into());
        self
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    fn region(&self) -> Result<&str, Error> {
        self.region.as_deref().ok_or_else(|| {
            Error::Config("no AWS region: set AWS_REGION (Lambda and ECS set it)".to_owned())
        })
    }
}
