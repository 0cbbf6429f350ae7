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
    /// SES (v1 and v2 sign alike, as `ses`).
    Ses,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::DynamoDb => "dynamodb",
            Service::Ses => "ses",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials::new("AKID", "secret", Some("session".into()), None, "test")
    }

    #[test]
    fn s3_signs_the_payload_hash_and_dynamodb_does_not() {
        let hash_of_hi = "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4";
        for (service, hash) in [(Service::S3, Some(hash_of_hi)), (Service::DynamoDb, None)] {
            let mut request = Request::put("https://b.s3.eu-west-3.amazonaws.com/a%20b")
                .header("content-type", "text/plain")
                .body(Full::new(Bytes::from_static(b"hi")))
                .unwrap();
            headers(&mut request, b"hi", service, "eu-west-3", &credentials()).unwrap();
            let header = |name: &str| request.headers().get(name).map(|v| v.to_str().unwrap());
            let authorization = header("authorization").unwrap();
            assert!(
                authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKID/"),
                "{authorization}"
            );
            let scope = format!("/eu-west-3/{}/aws4_request", service.name());
            assert!(authorization.contains(&scope), "{authorization}");
            assert!(
                authorization.contains("content-type;host;"),
                "{authorization}"
            );
            assert_eq!(header("x-amz-content-sha256"), hash);
            assert_eq!(header("x-amz-security-token"), Some("session"));
            assert!(header("x-amz-date").is_some());
        }
    }

    #[test]
    fn a_presigned_url_carries_its_signature_in_the_query() {
        let url = presigned_get(
            "http://127.0.0.1:9000/bucket/lamphp-offload/ab",
            "us-east-1",
            &credentials(),
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:9000/bucket/lamphp-offload/ab?"),
            "{url}"
        );
        for needle in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKID%2F",
            "%2Fus-east-1%2Fs3%2Faws4_request",
            "X-Amz-Expires=60",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Security-Token=session",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(needle), "{needle} not in {url}");
        }
    }
}
