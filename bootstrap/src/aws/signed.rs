//! One signed call to a service: sign (afresh for each attempt), send, read the answer,
//! read an error body the service's way, and retry under its [`Policy`].

use super::http::{self, Client};
use super::retry::{self, Policy};
use super::sign::{self, Service};
use super::{Config, Error};
use ::http::{HeaderMap, Method, Request};
use bytes::Bytes;
use http_body_util::Full;

/// A service's client: where, as whom, and how patiently.
#[derive(Debug, Clone)]
pub struct Signed {
    pub config: Config,
    service: Service,
    policy: Policy,
    http: Client,
    /// Reads the service's error answer: its status, headers (SES names the error in
    /// one) and body.
    error: fn(u16, &HeaderMap, &[u8]) -> Error,
}

impl Signed {
    pub fn new(
        config: Config,
        service: Service,
        policy: Policy,
        error: fn(u16, &HeaderMap, &[u8]) -> Error,
    ) -> Signed {
        Signed {
            http: Client::new(policy.connect_timeout),
            config,
            service,
            policy,
            error,
        }
    }

    /// `method url` with `headers` and `body`; the answer's body on a 2xx.
    pub async fn call(
        &self,
        what: &str,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Bytes, Error> {
        let region = self.config.region()?;
        retry::run(&self.policy, what, || async {
            let credentials = self.config.credentials.get().await?;
            let mut request = Request::builder()
                .method(method.clone())
                .uri(url)
                .body(Full::new(body.clone()))
                .map_err(|e| Error::Config(format!("{what}: bad URL {url:?}: {e}")))?;
            request.headers_mut().extend(headers.clone());
            sign::headers(&mut request, &body, self.service, region, &credentials)?;
            let response = self.http.send(request).await?;
            let head = response.headers().clone();
            let (status, answer) = http::collect(response).await?;
            match status {
                200..=299 => Ok(answer),
                _ => Err((self.error)(status, &head, &answer)),
            }
        })
        .await
    }
}
