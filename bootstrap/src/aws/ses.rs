//! SES v2's SendEmail with a raw message: the one call PHP's `mail()` needs
//! ([`crate::mail`]).

use super::error;
use super::retry::Policy;
use super::sign::Service;
use super::signed::Signed;
use super::{endpoint, Config, Error};
use ::http::header::CONTENT_TYPE;
use ::http::{HeaderMap, HeaderValue, Method};
use base64::Engine as _;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Ses(Signed);

/// One raw message and its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEmail<'a> {
    /// The envelope sender (SES's `FromEmailAddress`, its Return-Path), which SES wants
    /// verified, as it does the message's From.
    pub from: &'a str,
    /// The envelope recipients: SES sends to these, whatever the headers say.
    pub to: &'a [String],
    /// The message as it goes out, headers and body.
    pub message: &'a [u8],
    pub configuration_set: Option<&'a str>,
}

impl RawEmail<'_> {
    /// SendEmail's JSON body. The recipients all go in `ToAddresses`: with raw content
    /// `Destination` is only the envelope, and the headers are sent as they are.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "FromEmailAddress": self.from,
            "Destination": { "ToAddresses": self.to },
            "Content": {
                "Raw": {
                    "Data": base64::engine::general_purpose::STANDARD.encode(self.message)
                }
            },
        });
        if let Some(set) = self.configuration_set {
            body["ConfigurationSetName"] = json!(set);
        }
        body
    }
}

impl Ses {
    pub fn new(config: Config, policy: Policy) -> Ses {
        Ses(Signed::new(config, Service::Ses, policy, error::ses))
    }

    /// Send `email`; SES's message id.
    pub async fn send_raw(&self, email: &RawEmail<'_>) -> Result<String, Error> {
        let config = &self.0.config;
        let url = endpoint::ses_send_email(config.endpoints().sesv2.as_deref(), config.region()?);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let answer = self
            .0
            .call(
                "SES SendEmail",
                Method::POST,
                &url,
                headers,
                email.body().to_string().into(),
            )
            .await?;
        let answer: Value = serde_json::from_slice(&answer).map_err(|e| Error::Response {
            status: 200,
            body: format!("not JSON ({e}): {}", String::from_utf8_lossy(&answer)),
        })?;
        Ok(answer["MessageId"].as_str().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_sendemails_raw_form() {
        let to = vec!["a@example.com".to_owned(), "b@example.org".to_owned()];
        let mut email = RawEmail {
            from: "site@example.com",
            to: &to,
            message: b"Subject: hi\r\n\r\nbody\r\n",
            configuration_set: None,
        };
        let want = json!({
            "FromEmailAddress": "site@example.com",
            "Destination": { "ToAddresses": ["a@example.com", "b@example.org"] },
            "Content": { "Raw": { "Data": "U3ViamVjdDogaGkNCg0KYm9keQ0K" } },
        });
        assert_eq!(email.body(), want);
        email.configuration_set = Some("tracked");
        assert_eq!(email.body()["ConfigurationSetName"], "tracked");
    }
}
