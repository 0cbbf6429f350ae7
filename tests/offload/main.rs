//! [`lamphp::lambda::offload`] against moto's S3 server on 127.0.0.1: a body goes up,
//! comes back through its presigned URL fetched by a plain HTTP client, and failures say
//! what to fix.
//!
//! Each test starts its own moto (about a second) and builds its AWS config from
//! values it passes, so tests touch no process environment and run in parallel. The
//! stalled upload runs through a whole invocation instead: `bootstrap local` with an S3
//! endpoint that never answers.

use ::http::{HeaderMap, HeaderValue};
use flate2::read::GzDecoder;
use lamphp::aws::{self, Credentials};
use lamphp::lambda::offload::Offload;
use lamphp::lambda::shrink;
use std::io::Read;
use std::time::{Duration, Instant};

mod container;
mod moto;
#[path = "../serve/server.rs"]
mod server;
// Named as the module server.rs calls; the `http` crate is `::http` here.
#[path = "../parity/http.rs"]
mod http;
use moto::Moto;
use server::Server;
use support::{free_port, noise};

/// What the environment would give on Lambda, given explicitly.
fn config(endpoint: &str) -> aws::Config {
    let credentials = Credentials::new(
        "AKIDLAMPHPTEST",
        "lamphp-test-secret",
        None,
        None,
        "lamphp-test",
    );
    aws::Config::new("us-east-1", credentials).endpoint_url(endpoint)
}

/// A config from `vars` as if they were the process environment.
fn config_from(vars: &[(&str, &str)]) -> aws::Config {
    aws::Config::from_vars(|name| {
        let (_, value) = vars.iter().find(|(var, _)| *var == name)?;
        Some(value.to_string())
    })
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| (name.parse().unwrap(), HeaderValue::from_static(value)))
        .collect()
}

fn fetch(url: &str) -> (::http::Response<()>, Vec<u8>) {
    let response = ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let (parts, mut body) = response.into_parts();
    let bytes = body
        .with_config()
        .limit(16 << 20)
        .read_to_vec()
        .expect("reading the body");
    (::http::Response::from_parts(parts, ()), bytes)
}

#[tokio::test]
async fn a_large_body_comes_back_through_its_presigned_url() {
    let moto = Moto::start();
    moto.create_bucket("site-bodies");
    let offload = Offload::with_config(config(&moto.endpoint()), "site-bodies".into());
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
    let offload = Offload::with_config(config(&moto.endpoint()), "gzipped".into())
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
    let offload = Offload::with_config(config(&moto.endpoint()), "no-such-bucket".into());

    put_fails_saying(
        &offload,
        &[
            "s3://no-such-bucket/lamphp-offload/",
            "NoSuchBucket",
            "LAMPHP_OFFLOAD_BUCKET",
        ],
    )
    .await;
}

/// A put through `offload` fails with an error that names each of `needles`.
async fn put_fails_saying(offload: &Offload, needles: &[&str]) {
    let err = offload
        .put(noise(1024).into(), &HeaderMap::new())
        .await
        .unwrap_err()
        .to_string();
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_clear_error() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let offload = Offload::with_config(config(&closed), "site-bodies".into());

    put_fails_saying(
        &offload,
        &[
            "s3://site-bodies/",
            "S3 could not be reached",
            "gateway endpoint",
        ],
    )
    .await;
}

#[tokio::test]
async fn the_standard_chain_finds_the_endpoint_in_aws_endpoint_url_s3() {
    let moto = Moto::start();
    moto.create_bucket("from-env");
    // A host name, not 127.0.0.1: with a name, the bucket in the host name would
    // resolve nowhere, so this shows the override is addressed path-style.
    let endpoint = format!("http://localhost:{}", moto.port);
    // The variables a deployment would set, handed over rather than put in the process
    // environment, which other tests share.
    let config = config_from(&[
        ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ("AWS_ACCESS_KEY_ID", "AKIDLAMPHPTEST"),
        ("AWS_SECRET_ACCESS_KEY", "lamphp-test-secret"),
        ("AWS_REGION", "eu-west-3"),
    ]);
    let offload = Offload::with_config(config, "from-env".into());

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

#[tokio::test]
async fn credentials_come_from_the_container_endpoint() {
    let moto = Moto::start();
    moto.create_bucket("from-ecs");
    let creds = container::Server::start(200, container::CREDENTIALS);
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "token-from-file\n").unwrap();
    let config = config_from(&[
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &creds.url()),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token.path().to_str().unwrap(),
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "not-this-one"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", &moto.endpoint()),
    ]);
    let offload = Offload::with_config(config, "from-ecs".into());

    let url = offload
        .put(noise(2048).into(), &HeaderMap::new())
        .await
        .unwrap();
    let again = offload
        .put(noise(10).into(), &HeaderMap::new())
        .await
        .unwrap();

    assert!(url.contains("X-Amz-Credential=AKIDFROMECS%2F"), "{url}");
    assert!(
        url.contains("X-Amz-Security-Token=ecs-session-token"),
        "{url}"
    );
    assert_eq!(fetch(&url).1, noise(2048));
    assert!(again.contains("AKIDFROMECS"), "{again}");
    assert_eq!(
        creds.authorizations(),
        ["token-from-file"],
        "one fetch, with the token file's contents; the second put used the cache"
    );
}

#[tokio::test]
async fn a_refusing_container_endpoint_is_a_clear_error() {
    let creds = container::Server::start(403, r#"{"code":"AccessDenied"}"#);
    let config = config_from(&[
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &creds.url()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
    ]);
    let offload = Offload::with_config(config, "b".into());

    put_fails_saying(
        &offload,
        &["container credentials endpoint", "403", "AccessDenied"],
    )
    .await;
}

#[tokio::test]
async fn no_region_is_a_clear_error() {
    let offload = Offload::with_config(
        config_from(&[("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")]),
        "b".into(),
    );
    put_fails_saying(&offload, &["AWS_REGION"]).await;
}

#[tokio::test]
async fn the_plain_client_streams_a_presigned_url() {
    use http_body_util::BodyExt;
    let moto = Moto::start();
    moto.create_bucket("streamed");
    let offload = Offload::with_config(config(&moto.endpoint()), "streamed".into());
    let body = noise(5 << 20);
    let url = offload
        .put(body.clone().into(), &HeaderMap::new())
        .await
        .unwrap();

    let response = aws::http::Client::new(Duration::from_secs(2))
        .get(&url)
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let mut got = Vec::new();
    let mut frames = 0;
    let mut stream = response.into_body();
    while let Some(frame) = stream.frame().await {
        got.extend_from_slice(frame.unwrap().data_ref().unwrap());
        frames += 1;
    }
    assert!(got == body, "got {} bytes, not the 5 MiB sent", got.len());
    assert!(frames > 1, "the body came in one piece, not streamed");
}

/// An S3 that takes the connection and never answers, through a whole invocation
/// (`bootstrap local`: a 3 s function keeping a 500 ms margin, a page of 2 MB to a client
/// that takes no gzip): the upload gets half the margin, so the client has lamphp's 504
/// 250 ms before Lambda's deadline, not the ALB's 502 at it, nor the S3 client's own
/// timeout (a minute) later.
#[test]
fn a_stalled_upload_ends_within_its_half_of_the_margin_with_a_504() {
    // Connections queue in its backlog and are never answered.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", stalled.local_addr().unwrap());
    let s = Server::local(
        &["--function-timeout", "3", "--sandboxes", "1"],
        &[
            ("LAMPHP_OFFLOAD_BUCKET", "site-bodies"),
            ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("LAMPHP_DEADLINE_MARGIN_MS", "500"),
        ],
    );
    let request = b"GET /big.php?mb=2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let started = Instant::now();
    let answer = http::exchange(s.port, request).expect("an answer through the emulator");
    let waited = started.elapsed();
    assert_eq!(answer.status, 504, "{}", s.log());
    // The invocation starts after the request does, so its 2.75 s are a floor; the
    // rest is the 504 going back through the Runtime API and the emulator.
    assert!(
        waited >= Duration::from_millis(2750) && waited < Duration::from_millis(2950),
        "the 504 came after {waited:?}; the upload's allowance ends 2.75 s into a 3 s invocation"
    );
    assert!(s.log().contains("504"), "no log line says why: {}", s.log());
    drop(stalled);
}
