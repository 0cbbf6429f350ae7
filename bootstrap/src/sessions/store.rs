//! The session table in DynamoDB: read with the lock, write with the unlock, release,
//! delete, exists; and the errors said so that the user knows what to check.
//!
//! Items are the AWS SDK for PHP handler's: `id` (S) = `<name>_<id>`, `data` (S, or B
//! when the session is not UTF-8), `expires` (N, epoch seconds, the TTL attribute). A
//! lock adds `lock_owner` (S), `lock_expires` (N, epoch ms, the lease's end) and the
//! SDK's own `lock` (N), so an SDK for PHP handler sharing the table waits for us too.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;
use std::error::Error;
use std::time::Duration;
use thiserror::Error;

/// One session item as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Item {
    /// `None`: no session data (absent, or only a lock).
    pub data: Option<Vec<u8>>,
    pub expires: Option<u64>,
}

/// The outcome of one attempt to lock.
#[derive(Debug)]
pub enum Lock {
    /// Locked by us; the item as it is now.
    Acquired(Item),
    /// Another request holds an unexpired lease.
    Busy,
}

#[derive(Debug, Error)]
pub enum StoreError {
    /// Network, timeout, throttling after the retries: worth trying again later.
    #[error("{0}")]
    Unavailable(String),
    /// Our lease ran out and another request took the lock: nothing was written.
    #[error("the session's lock was taken over by another request after this request's lease ran out; its changes were not saved")]
    LostLock,
    /// Anything else (no such table, access denied): a configuration problem.
    #[error("{0}")]
    Failed(String),
}

/// The session table.
#[derive(Debug, Clone)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl Store {
    /// From the standard chain's config (region, credentials, `AWS_ENDPOINT_URL_DYNAMODB`),
    /// with bounded retries (standard mode: backoff on throttling) and short timeouts, so
    /// an unreachable DynamoDB is an error well within the request's time.
    pub fn new(config: &SdkConfig, table: String) -> Store {
        let mut builder = aws_sdk_dynamodb::config::Builder::from(config)
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_attempt_timeout(Duration::from_secs(2))
                    .operation_timeout(Duration::from_secs(5))
                    .build(),
            );
        if config.http_client().is_none() {
            builder = builder.http_client(crate::lambda::offload::https_client());
        }
        Store {
            client: aws_sdk_dynamodb::Client::from_conf(builder.build()),
            table,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Lock the item for `owner` until `lease_ms` if nobody holds an unexpired lease, and
    /// return it, in one conditional UpdateItem (the request's one read). An item that
    /// did not exist is created holding only the lock, with `expires` at the lease's
    /// end in seconds so TTL removes it if it is never released.
    pub async fn lock(
        &self,
        key: &str,
        owner: &str,
        lease_ms: u64,
        now_ms: u64,
    ) -> Result<Lock, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(key))
            .update_expression(
                "SET lock_owner = :me, lock_expires = :lease, #l = :one, #e = if_not_exists(#e, :husk)",
            )
            .condition_expression("attribute_not_exists(lock_owner) OR lock_expires < :now")
            .expression_attribute_names("#l", "lock")
            .expression_attribute_names("#e", "expires")
            .expression_attribute_values(":me", s(owner))
            .expression_attribute_values(":lease", n(lease_ms))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":husk", n(lease_ms.div_ceil(1000)))
            .expression_attribute_values(":now", n(now_ms))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Lock::Acquired(item(out.attributes()))),
            Err(e) if conditional(&e) => Ok(Lock::Busy),
            Err(e) => Err(self.error("UpdateItem", &e)),
        }
    }

    /// The item, strongly consistent (no lock).
    pub async fn get(&self, key: &str) -> Result<Item, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", &e))?;
        Ok(item(out.item()))
    }

    /// Store `data`, expiring at `expires`. With `owner`: one UpdateItem that also
    /// removes the lock, only if `owner` still holds it. Without: a PutItem.
    pub async fn write(
        &self,
        key: &str,
        data: &[u8],
        expires: u64,
        owner: Option<&str>,
    ) -> Result<(), StoreError> {
        let Some(owner) = owner else {
            return self
                .client
                .put_item()
                .table_name(&self.table)
                .item("id", s(key))
                .item("data", data_value(data))
                .item("expires", n(expires))
                .send()
                .await
                .map(drop)
                .map_err(|e| self.error("PutItem", &e));
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(key))
            .update_expression("SET #d = :data, #e = :exp REMOVE lock_owner, lock_expires, #l")
            .condition_expression("lock_owner = :me")
            .expression_attribute_names("#d", "data")
            .expression_attribute_names("#e", "expires")
            .expression_attribute_names("#l", "lock")
            .expression_attribute_values(":data", data_value(data))
            .expression_attribute_values(":exp", n(expires))
            .expression_attribute_values(":me", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if conditional(&e) => Err(StoreError::LostLock),
            Err(e) => Err(self.error("UpdateItem", &e)),
        }
    }

    /// Remove `owner`'s lock, setting `expires` too if given. With no owner, only set
    /// `expires`, if the item exists. A lock no longer ours is left alone.
    pub async fn release(
        &self,
        key: &str,
        owner: Option<&str>,
        expires: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", s(key));
        let mut set = "";
        if let Some(expires) = expires {
            set = "SET #e = :exp ";
            update = update
                .expression_attribute_names("#e", "expires")
                .expression_attribute_values(":exp", n(expires));
        }
        update = match owner {
            Some(owner) => update
                .update_expression(format!("{set}REMOVE lock_owner, lock_expires, #l"))
                .condition_expression("lock_owner = :me")
                .expression_attribute_names("#l", "lock")
                .expression_attribute_values(":me", s(owner)),
            None if expires.is_some() => update
                .update_expression(set)
                .condition_expression("attribute_exists(id)"),
            None => return Ok(()),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if conditional(&e) => Ok(()),
            Err(e) => Err(self.error("UpdateItem", &e)),
        }
    }

    /// Delete the item; with `owner`, only while `owner` holds its lock (an item that
    /// holds nothing but our lock).
    pub async fn delete(&self, key: &str, owner: Option<&str>) -> Result<(), StoreError> {
        let mut delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", s(key));
        if let Some(owner) = owner {
            delete = delete
                .condition_expression("lock_owner = :me")
                .expression_attribute_values(":me", s(owner));
        }
        match delete.send().await {
            Ok(_) => Ok(()),
            Err(e) if conditional(&e) => Ok(()),
            Err(e) => Err(self.error("DeleteItem", &e)),
        }
    }

    /// What went wrong, and what to check.
    fn error<E>(&self, op: &str, err: &SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + Error + 'static,
    {
        let table = &self.table;
        if matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
        ) {
            return StoreError::Unavailable(format!(
                "DynamoDB could not be reached ({op} on table {table}: {}); a function in a \
                 VPC needs a gateway endpoint for DynamoDB or a NAT gateway; \
                 AWS_ENDPOINT_URL_DYNAMODB overrides the endpoint",
                chain(err)
            ));
        }
        let message = match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => chain(err),
        };
        match err.code() {
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded",
            ) => StoreError::Unavailable(format!(
                "DynamoDB throttled {op} on table {table} after retries ({message}); \
                 an on-demand (PAY_PER_REQUEST) table avoids most throttling"
            )),
            Some("ResourceNotFoundException") => StoreError::Failed(format!(
                "{op} on table {table}: {message}; check LAMPHP_SESSION_TABLE and the region"
            )),
            Some("AccessDeniedException" | "UnrecognizedClientException") => {
                StoreError::Failed(format!(
                    "{op} on table {table}: {message}; the function's role needs \
                     dynamodb:GetItem, PutItem, UpdateItem and DeleteItem on the table"
                ))
            }
            _ if matches!(err, SdkError::ResponseError(_)) => {
                StoreError::Unavailable(format!("{op} on table {table}: {message}"))
            }
            _ => StoreError::Failed(format!("{op} on table {table}: {message}")),
        }
    }
}

fn conditional<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// S when the data is UTF-8 (what the SDK for PHP writes and reads by default), else B.
fn data_value(data: &[u8]) -> AttributeValue {
    match std::str::from_utf8(data) {
        Ok(text) => s(text),
        Err(_) => AttributeValue::B(Blob::new(data)),
    }
}

fn item(attributes: Option<&HashMap<String, AttributeValue>>) -> Item {
    let Some(attributes) = attributes else {
        return Item::default();
    };
    let data = match attributes.get("data") {
        Some(AttributeValue::S(text)) => Some(text.clone().into_bytes()),
        Some(AttributeValue::B(blob)) => Some(blob.as_ref().to_vec()),
        _ => None,
    };
    let expires = match attributes.get("expires") {
        Some(AttributeValue::N(number)) => number
            .parse::<u64>()
            .ok()
            .or_else(|| number.parse::<f64>().ok().map(|f| f as u64)),
        _ => None,
    };
    Item { data, expires }
}

/// An error and its causes on one line.
fn chain(err: &dyn Error) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        line.push_str(": ");
        line.push_str(&err.to_string());
        cause = err.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_read_s_or_b_and_numbers() {
        let attrs = |pairs: Vec<(&str, AttributeValue)>| {
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<HashMap<_, _>>()
        };
        let table = [
            (None, Item::default()),
            (
                Some(attrs(vec![("data", s("a|i:1;")), ("expires", n(10))])),
                Item {
                    data: Some(b"a|i:1;".to_vec()),
                    expires: Some(10),
                },
            ),
            (
                Some(attrs(vec![
                    ("data", AttributeValue::B(Blob::new(vec![0xff]))),
                    ("expires", AttributeValue::N("12.0".into())),
                ])),
                Item {
                    data: Some(vec![0xff]),
                    expires: Some(12),
                },
            ),
            (Some(attrs(vec![("lock_owner", s("x"))])), Item::default()),
        ];
        for (attributes, want) in table {
            assert_eq!(item(attributes.as_ref()), want);
        }
        assert_eq!(data_value(b"abc"), s("abc"));
        assert_eq!(
            data_value(&[0xc3]),
            AttributeValue::B(Blob::new(vec![0xc3]))
        );
    }
}
