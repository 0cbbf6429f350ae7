//! `POST /runtime/init/error`: telling Lambda why the sandbox cannot start.
//!
//! `lambda_runtime` never calls it (it panics or exits instead), which leaves the user
//! with a bare "Runtime exited" and no reason. A small HTTP/1.1 request of our own.

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Report `error` to the Runtime API at `api` (`host:port`, or `http://host:port/prefix`
/// as `cargo lambda watch` sets it).
pub async fn report(api: &str, error: &anyhow::Error) -> Result<()> {
    let (authority, prefix) = split_api(api);
    let body = serde_json::json!({
        "errorMessage": format!("{error:#}"),
        "errorType": "Runtime.InitError",
    })
    .to_string();
    let request = format!(
        "POST {prefix}/2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {authority}\r\n\
         Content-Type: application/json\r\nLambda-Runtime-Function-Error-Type: Runtime.InitError\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to the Runtime API at {authority}"))?;
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let status_line = answer.split(|&b| b == b'\r').next().unwrap_or_default();
    if !status_line.starts_with(b"HTTP/1.1 2") && !status_line.starts_with(b"HTTP/1.0 2") {
        bail!(
            "the Runtime API answered {:?}",
            String::from_utf8_lossy(status_line)
        );
    }
    Ok(())
}

/// `host:port` and the path prefix (without its trailing slash) of the Runtime API.
pub(super) fn split_api(api: &str) -> (&str, &str) {
    let rest = api.strip_prefix("http://").unwrap_or(api);
    match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_forms() {
        assert_eq!(split_api("127.0.0.1:9001"), ("127.0.0.1:9001", ""));
        assert_eq!(
            split_api("http://127.0.0.1:9000/.rt"),
            ("127.0.0.1:9000", "/.rt")
        );
        assert_eq!(
            split_api("http://127.0.0.1:9000/.rt/"),
            ("127.0.0.1:9000", "/.rt")
        );
    }
}
