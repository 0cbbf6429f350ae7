//! The session table in DynamoDB: read with the lock, write with the unlock, release,
//! delete, exists; and the errors said so that the user knows what to check.
//!
//! Items are the AWS SDK for PHP handler's: `id` (S) = `<name>_<id>`, `data` (S, or B
//! when the session is not UTF-8), `expires` (N, epoch seconds, the TTL attribute). A
//! lock adds `lock_owner` (S), `lock_expires` (N, epoch ms, the lease's end) and the
//! SDK's own `lock` (N), so an SDK for PHP handler sharing the table waits for us too.

use crate::aws::dynamodb::DynamoDb;
use crate::aws::retry::Policy;
use crate::aws::{self, Config};
use base64::Engine as _;
use serde_json::{json, Map, Value};
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
    client: DynamoDb,
    table: String,
}

impl Store {
    /// With bounded retries (backoff on throttling) and short timeouts, so an
    /// unreachable DynamoDB is an error well within the request's time.
    pub fn new(config: Config, table: String) -> Store {
        let policy = Policy {
            attempts: 3,
            connect_timeout: Duration::from_secs(1),
            attempt_timeout: Some(Duration::from_secs(2)),
            total_timeout: Some(Duration::from_secs(5)),
        };
        Store {
            client: DynamoDb::new(config, policy),
            table,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Lock the item for `owner` until `lease_ms` if nobody holds an unexpired lease, and
    /// return it, in one conditional UpdateItem (the request's one read). An item that
    /// did not exist is created holding only the lock, with `expires` at the lease's
    /// end in seconds so TTL removes it if it is never released. A lock `owner` already
    /// holds counts as free: when an answer is lost and the call retried, the retry meets
    /// the lock the first attempt took (owners are random per request).
    pub async fn lock(
        &self,
        key: &str,
        owner: &str,
        lease_ms: u64,
        now_ms: u64,
    ) -> Result<Lock, StoreError> {
        let input = json!({
            "TableName": self.table,
            "Key": {"id": s(key)},
            "UpdateExpression":
                "SET lock_owner = :me, lock_expires = :lease, #l = :one, #e = if_not_exists(#e, :husk)",
            "ConditionExpression":
                "attribute_not_exists(lock_owner) OR lock_expires < :now OR lock_owner = :me",
            "ExpressionAttributeNames": {"#l": "lock", "#e": "expires"},
            "ExpressionAttributeValues": {
                ":me": s(owner),
                ":lease": n(lease_ms),
                ":one": n(1),
                ":husk": n(lease_ms.div_ceil(1000)),
                ":now": n(now_ms),
            },
            "ReturnValues": "ALL_NEW",
        });
        match self.client.call("UpdateItem", &input).await {
            Ok(out) => Ok(Lock::Acquired(item(out.get("Attributes")))),
            Err(e) if conditional(&e) => Ok(Lock::Busy),
            Err(e) => Err(self.error("UpdateItem", &e)),
        }
    }

    /// The item, strongly consistent (no lock).
    pub async fn get(&self, key: &str) -> Result<Item, StoreError> {
        let input = json!({
            "TableName": self.table,
            "Key": {"id": s(key)},
            "ConsistentRead": true,
        });
        let out = self
            .client
            .call("GetItem", &input)
            .await
            .map_err(|e| self.error("GetItem", &e))?;
        Ok(item(out.get("Item")))
    }

    /// Store `data`, expiring at `expires`. With `owner`: one UpdateItem that also
    /// removes the lock, only if `owner` still holds it. Without: a PutItem.
    ///
    /// When the lock is not `owner`'s any more, either the lease ran out and another
    /// request took it, or an earlier attempt of this very call wrote and unlocked but its
    /// answer was lost: the item, read back, tells them apart by whether it holds `data`.
    pub async fn write(
        &self,
        key: &str,
        data: &[u8],
        expires: u64,
        owner: Option<&str>,
    ) -> Result<(), StoreError> {
        let Some(owner) = owner else {
            let input = json!({
                "TableName": self.table,
                "Item": {"id": s(key), "data": data_value(data), "expires": n(expires)},
            });
            return self
                .client
                .call("PutItem", &input)
                .await
                .map(drop)
                .map_err(|e| self.error("PutItem", &e));
        };
        let input = json!({
            "TableName": self.table,
            "Key": {"id": s(key)},
            "UpdateExpression": "SET #d = :data, #e = :exp REMOVE lock_owner, lock_expires, #l",
            "ConditionExpression": "lock_owner = :me",
            "ExpressionAttributeNames": {"#d": "data", "#e": "expires", "#l": "lock"},
            "ExpressionAttributeValues": {
                ":data": data_value(data),
                ":exp": n(expires),
                ":me": s(owner),
            },
        });
        match self.client.call("UpdateItem", &input).await {
            Ok(_) => Ok(()),
            Err(e) if conditional(&e) => match self.get(key).await? {
                stored if stored.data.as_deref() == Some(data) => {
                    tracing::debug!(
                        table = self.table,
                        "sessions: a write whose answer was lost had been stored"
                    );
                    Ok(())
                }
                _ => Err(StoreError::LostLock),
            },
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
        let mut names = Map::new();
        let mut values = Map::new();
        let mut set = "";
        if let Some(expires) = expires {
            set = "SET #e = :exp ";
            names.insert("#e".into(), json!("expires"));
            values.insert(":exp".into(), n(expires));
        }
        let (update, condition) = match owner {
            Some(owner) => {
                names.insert("#l".into(), json!("lock"));
                values.insert(":me".into(), s(owner));
                (
                    format!("{set}REMOVE lock_owner, lock_expires, #l"),
                    "lock_owner = :me",
                )
            }
            None if expires.is_some() => (set.to_owned(), "attribute_exists(id)"),
            None => return Ok(()),
        };
        let input = json!({
            "TableName": self.table,
            "Key": {"id": s(key)},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        });
        match self.client.call("UpdateItem", &input).await {
            Ok(_) => Ok(()),
            Err(e) if conditional(&e) => Ok(()),
            Err(e) => Err(self.error("UpdateItem", &e)),
        }
    }

    /// Delete the item; with `owner`, only while `owner` holds its lock (an item that
    /// holds nothing but our lock).
    pub async fn delete(&self, key: &str, owner: Option<&str>) -> Result<(), StoreError> {
        let mut input = json!({"TableName": self.table, "Key": {"id": s(key)}});
        if let Some(owner) = owner {
            input["ConditionExpression"] = json!("lock_owner = :me");
            input["ExpressionAttributeValues"] = json!({":me": s(owner)});
        }
        match self.client.call("DeleteItem", &input).await {
            Ok(_) => Ok(()),
            Err(e) if conditional(&e) => Ok(()),
            Err(e) => Err(self.error("DeleteItem", &e)),
        }
    }

    /// What went wrong, and what to check.
    fn error(&self, op: &str, err: &aws::Error) -> StoreError {
        let table = &self.table;
        let message = err.to_string();
        match err {
            aws::Error::Unreachable(_) => {
                return StoreError::Unavailable(format!(
                    "DynamoDB could not be reached ({op} on table {table}: {message}); a \
                     function in a VPC needs a gateway endpoint for DynamoDB or a NAT gateway; \
                     AWS_ENDPOINT_URL_DYNAMODB overrides the endpoint"
                ))
            }
            aws::Error::Response { .. } => {
                return StoreError::Unavailable(format!("{op} on table {table}: {message}"))
            }
            aws::Error::Config(_) | aws::Error::Service { .. } => {}
        }
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
            _ => StoreError::Failed(format!("{op} on table {table}: {message}")),
        }
    }
}

/// How DynamoDB refuses a conditional write: the lock is someone else's.
fn conditional(err: &aws::Error) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

fn s(value: &str) -> Value {
    json!({ "S": value })
}

fn n(value: u64) -> Value {
    json!({ "N": value.to_string() })
}

/// S when the data is UTF-8 (what the SDK for PHP writes and reads by default), else B
/// (base64 in DynamoDB's JSON).
fn data_value(data: &[u8]) -> Value {
    match std::str::from_utf8(data) {
        Ok(text) => s(text),
        Err(_) => json!({ "B": base64::engine::general_purpose::STANDARD.encode(data) }),
    }
}

/// An item from DynamoDB's JSON (`{"data": {"S": ...}, "expires": {"N": ...}}`).
fn item(attributes: Option<&Value>) -> Item {
    let attribute = |name: &str, kind: &str| attributes?.get(name)?.get(kind)?.as_str();
    let data = match (attribute("data", "S"), attribute("data", "B")) {
        (Some(text), _) => Some(text.as_bytes().to_vec()),
        (None, Some(blob)) => base64::engine::general_purpose::STANDARD.decode(blob).ok(),
        (None, None) => None,
    };
    let expires = attribute("expires", "N").and_then(|number| {
        number
            .parse::<u64>()
            .ok()
            .or_else(|| number.parse::<f64>().ok().map(|f| f as u64))
    });
    Item { data, expires }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_read_s_or_b_and_numbers() {
        let table = [
            (None, Item::default()),
            (
                Some(json!({"data": {"S": "a|i:1;"}, "expires": {"N": "10"}})),
                Item {
                    data: Some(b"a|i:1;".to_vec()),
                    expires: Some(10),
                },
            ),
            (
                Some(json!({"data": {"B": "/w=="}, "expires": {"N": "12.0"}})),
                Item {
                    data: Some(vec![0xff]),
                    expires: Some(12),
                },
            ),
            (Some(json!({"lock_owner": {"S": "x"}})), Item::default()),
        ];
        for (attributes, want) in table {
            assert_eq!(item(attributes.as_ref()), want, "{attributes:?}");
        }
        assert_eq!(data_value(b"abc"), json!({"S": "abc"}));
        assert_eq!(data_value(&[0xc3]), json!({"B": "ww=="}));
    }

    #[test]
    fn a_refused_condition_is_told_apart() {
        let refused = crate::aws::error::dynamodb(
            400,
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#,
        );
        assert!(conditional(&refused));
        assert!(!conditional(&aws::Error::Unreachable("reset".into())));
    }
}
