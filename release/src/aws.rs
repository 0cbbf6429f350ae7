//! The AWS clients, from the standard chain (profile, environment, SSO, instance role).

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// The standard chain's loader, with rustls on ring for HTTPS (as the bootstrap); tests
/// add an endpoint and credentials of their own.
pub fn loader() -> ConfigLoader {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(https)
}

/// The standard chain's configuration.
pub async fn config() -> SdkConfig {
    loader().load().await
}

/// S3, path-style when the endpoint is not AWS's (`AWS_ENDPOINT_URL`: S3-compatible
/// servers seldom resolve bucket subdomains).
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// An SDK error with its causes, which the SDK's own Display leaves out.
pub fn explain(e: impl std::error::Error) -> String {
    aws_sdk_lambda::error::DisplayErrorContext(e).to_string()
}
