//! [`lamphp::lambda::offload`] against moto's S3 server on 127.0.0.1: a body goes up,
//! comes back through its presigned URL fetched by a plain HTTP client, and failures say
//! what to fix.
//!
//! Each test starts its own moto (about a second) and builds its AWS config from
//! values it passes, so tests touch no process environment and run in parallel.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use aws_types::os_shim_internal::{Env, Fs};
use flate2::read::GzDecoder;
use http::{HeaderMap, HeaderValue};
use lamphp::lambda::offload::{self, Offload};
use lamphp::lambda::shrink;
use std::io::Read;
use std::time::Duration;

mod moto;
use moto::{free_port, Moto};

/// What the standard chain would find on Lambda, given explicitly.
fn config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDLAMPHPTEST",
            "lamphp-test-secret",
            None,
            None,
            "lamphp-test",
        )))
        .build()
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| (name.parse().unwrap(), HeaderValue::from_static(value)))
        .collect()
}

/// `len` bytes that are not a repeated pattern, so a misplaced chunk would show.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn fetch(url: &str) -> (http::Response<()>, Vec<u8>) {
    let response = ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let (parts, mut body) = response.into_parts();
    let bytes = body
        .with_config()
        .limit(16 << 20)
        .read_to_vec()
        .expect("reading the body");
    (http::Response::from_parts(parts, ()), bytes)
}

#[tokio::test]
async fn a_large_body_comes_back_through_its_presigned_url() {
    let moto = Moto::start();
    moto.create_bucket("site-bodies");
    let offload = Offload::with_config(&config(&moto.endpoint()), "site-bodies".into());
    let body = noise(3 << 20);
    let sent = headers(&[
        ("content-type", "text/csv; charset=UTF-8"),
        ("content-disposition", "attachment; filename=\"report.csv\""),
        ("cache-control", "private, max-age=60"),
        ("x-powered-by", "PHP/8.2"),
    ]);

    let url = offload.put(body.clone().into(), &sent).await.unwrap();

    let prefix = format!("{}/site-bodies/lamphp-offload/", moto.endpoint());
    assert!(url.starts_with(&prefix), "{url}");
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    let (response, bytes) = fetch(&url);
    assert_eq!(response.status(), 200);
    assert!(
        bytes == body,
        "got {} bytes back, not the 3 MiB sent",
        bytes.len()
    );
    for name in ["content-type", "content-disposition", "cache-control"] {
        assert_eq!(response.headers().get(name), sent.get(name), "{name}");
    }
    let again = offload.put(body.into(), &sent).await.unwrap();
    assert_ne!(again, url, "each body gets a key of its own");
}

#[tokio::test]
async fn a_gzipped_body_keeps_its_content_encoding() {
    let moto = Moto::start();
    moto.create_bucket("gzipped");
    let offload = Offload::with_config(&config(&moto.endpoint()), "gzipped".into())
        .prefix("big/")
        .lifetime(Duration::from_secs(60));
    let page = "<p>lamphp</p>\n".repeat(200_000);
    let mut sent = headers(&[("content-type", "text/html; charset=UTF-8")]);
    let packed = shrink::gzip(&mut sent, page.as_bytes());

    let url = offload.put(packed.into(), &sent).await.unwrap();

    assert!(url.contains("/gzipped/big/"), "{url}");
    assert!(url.contains("X-Amz-Expires=60"), "{url}");
    let (response, bytes) = fetch(&url);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=UTF-8"
    );
    let mut unpacked = String::new();
    GzDecoder::new(&bytes[..])
        .read_to_string(&mut unpacked)
        .expect("a gzip stream");
    assert!(unpacked == page, "the page did not survive the round trip");
}

#[tokio::test]
async fn an_unknown_bucket_is_a_clear_error() {
    let moto = Moto::start();
    let offload = Offload::with_config(&config(&moto.endpoint()), "no-such-bucket".into());

    let err = offload
        .put(noise(1024).into(), &HeaderMap::new())
        .await
        .unwrap_err()
        .to_string();

    for needle in [
        "s3://no-such-bucket/lamphp-offload/",
        "NoSuchBucket",
        "LAMPHP_OFFLOAD_BUCKET",
    ] {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_clear_error() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let offload = Offload::with_config(&config(&closed), "site-bodies".into());

    let err = offload
        .put(noise(1024).into(), &HeaderMap::new())
        .await
        .unwrap_err()
        .to_string();

    for needle in [
        "s3://site-bodies/",
        "S3 could not be reached",
        "gateway endpoint",
    ] {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
}

#[tokio::test]
async fn the_standard_chain_finds_the_endpoint_in_aws_endpoint_url_s3() {
    let moto = Moto::start();
    moto.create_bucket("from-env");
    // A host name, not 127.0.0.1: the SDK already puts the bucket in the path for an
    // IP address, and only with a name does Offload's own path-style choice matter.
    let endpoint = format!("http://localhost:{}", moto.port);
    // The variables a deployment would set, handed to the loader rather than put in
    // the process environment, which other tests share; no files, so no ~/.aws.
    let vars = [
        ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "AKIDLAMPHPTEST"),
        ("AWS_SECRET_ACCESS_KEY", "lamphp-test-secret"),
        ("AWS_REGION", "eu-west-3"),
    ];
    let config = offload::loader()
        .env(Env::from_slice(&vars))
        .fs(Fs::from_slice(&[]))
        .load()
        .await;
    let offload = Offload::with_config(&config, "from-env".into());

    let url = offload
        .put(
            noise(4096).into(),
            &headers(&[("content-type", "text/plain")]),
        )
        .await
        .unwrap();

    // Path style: the bucket in the host name would not resolve.
    assert!(url.starts_with(&format!("{endpoint}/from-env/")), "{url}");
    assert!(url.contains("%2Feu-west-3%2Fs3%2F"), "{url}");
    assert_eq!(fetch(&url).1, noise(4096));
}
