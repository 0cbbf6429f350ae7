//! DynamoDB: its JSON 1.0 protocol, one POST per operation named in `X-Amz-Target`.

use super::error;
use super::retry::Policy;
use super::sign::Service;
use super::signed::Signed;
use super::{endpoint, Config, Error};
use ::http::header::CONTENT_TYPE;
use ::http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct DynamoDb(Signed);

impl DynamoDb {
    pub fn new(config: Config, policy: Policy) -> DynamoDb {
        DynamoDb(Signed::new(
            config,
            Service::DynamoDb,
            policy,
            |status, _, body| error::dynamodb(status, body),
        ))
    }

    /// Operation `op` (`GetItem`, `UpdateItem`...) with `input`; its output.
    pub async fn call(&self, op: &str, input: &Value) -> Result<Value, Error> {
        let config = &self.0.config;
        let url = endpoint::dynamodb(config.endpoints().dynamodb.as_deref(), config.region()?);
        let target = HeaderValue::try_from(format!("DynamoDB_20120810.{op}"))
            .map_err(|e| Error::Config(format!("DynamoDB operation {op:?}: {e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-target", target);
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        let body = input.to_string();
        let answer = self
            .0
            .call(
                &format!("DynamoDB {op}"),
                Method::POST,
                &url,
                headers,
                body.into(),
            )
            .await?;
        serde_json::from_slice(&answer).map_err(|e| Error::Response {
            status: 200,
            body: format!("not JSON ({e}): {}", String::from_utf8_lossy(&answer)),
        })
    }
}
