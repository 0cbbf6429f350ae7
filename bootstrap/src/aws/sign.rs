//! SigV4 through `aws-sigv4`, the AWS SDK for Rust's own signer: headers for a request,
//! or query parameters for a presigned URL.

use super::{Credentials, Error};
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningInstructions, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::time::{Duration, SystemTime};

/// A service's signing name and rules.
#[derive(Debug, Clone, Copy)]
pub enum Service {
    S3,
    DynamoDb,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::DynamoDb => "dynamodb",
        }
    }

    /// S3 signs the path as sent (no double encoding, no normalising) and wants the
    /// payload's hash in `x-amz-content-sha256`.
    fn settings(self) -> SigningSettings {
        let mut settings = SigningSettings::default();
        if let Service::S3 = self {
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        settings
    }
}

/// Add the signature headers to `request`, whose body is `body`.
pub fn headers(
    request: &mut Request<Full<Bytes>>,
    body: &[u8],
    service: Service,
    region: &str,
    credentials: &Credentials,
) -> Result<(), Error> {
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.uri().to_string(),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| signing_error(&e))?;
    let instructions = instructions(signable, service, service.settings(), region, credentials)?;
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// `url` (an S3 object's) with a GET signature valid for `lifetime` in its query.
pub fn presigned_get(
    url: &str,
    region: &str,
    credentials: &Credentials,
    lifetime: Duration,
) -> Result<String, Error> {
    let signable = SignableRequest::new(
        "GET",
        url,
        std::iter::empty(),
        SignableBody::UnsignedPayload,
    )
    .map_err(|e| signing_error(&e))?;
    let mut settings = Service::S3.settings();
    settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(lifetime);
    let instructions = instructions(signable, Service::S3, settings, region, credentials)?;
    let mut request = Request::get(url)
        .body(())
        .map_err(|e| Error::Config(format!("cannot presign {url:?}: {e}")))?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(request.uri().to_string())
}

/// What to add to `signable` to sign it, as of now.
fn instructions(
    signable: SignableRequest<'_>,
    service: Service,
    settings: SigningSettings,
    region: &str,
    credentials: &Credentials,
) -> Result<SigningInstructions, Error> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service.name())
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| signing_error(&e))?
        .into();
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| signing_error(&e))?
        .into_parts();
    Ok(instructions)
}

fn signing_error(err: &dyn std::error::Error) -> Error {
    Error::Config(format!(
        "cannot sign the request: {}",
        super::http::chain(err)
    ))
}
