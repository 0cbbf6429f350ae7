//! What lamphp's release command (`lamphp deploy`, `lamphp prune`, the `release/` crate)
//! and the function (the bootstrap) say to each other, in one place for both: the release
//! commands sent with Lambda's Invoke API, their answers, and the release ids they carry.
//!
//! ```json
//! {"lamphp":{"unpack":{"release":"<id>","url":"<presigned GET>","sha256":"<hex>"}}}
//!   -> {"release":"<id>","files":N,"bytes":N}   or   {"release":"<id>","existing":true}
//! {"lamphp":{"prune":{"keep":["<id>", ...]}}}
//!   -> {"removed":["<id>", ...],"kept":["<id>", ...]}
//! ```
//!
//! Pure: a payload is checked here (ids, the hash, the URL's scheme) so that the I/O on
//! either side only ever sees well-formed commands.

pub mod id;

use id::IdError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use thiserror::Error;

/// A release command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Fetch the bundle at `url`, check it hashes to `sha256`, extract it as `release`.
    Unpack {
        release: String,
        url: String,
        sha256: [u8; 32],
    },
    /// Delete every release but these (and the one being served).
    Prune { keep: Vec<String> },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CommandError {
    #[error("the lamphp command is not valid JSON of a known shape: {0} (expected {{\"lamphp\":{{\"unpack\":{{\"release\",\"url\",\"sha256\"}}}}}} or {{\"lamphp\":{{\"prune\":{{\"keep\":[...]}}}}}})")]
    Shape(String),
    #[error("release id in the lamphp command: {0}")]
    Id(#[from] IdError),
    #[error("the sha256 {0:?} is not 64 hex digits")]
    Sha256(String),
    #[error("the bundle URL must be http:// or https://, not {0:?}")]
    Url(String),
}

#[derive(Deserialize)]
struct Envelope {
    lamphp: Option<Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum Wire {
    Unpack {
        release: String,
        url: String,
        sha256: String,
    },
    Prune {
        keep: Vec<String>,
    },
}

impl Command {
    /// The command in `payload`, or `None` when it has no `lamphp` member (not ours).
    pub fn decode(payload: &[u8]) -> Result<Option<Command>, CommandError> {
        let Ok(Envelope { lamphp: Some(body) }) = serde_json::from_slice(payload) else {
            return Ok(None);
        };
        let wire: Wire =
            serde_json::from_value(body).map_err(|e| CommandError::Shape(e.to_string()))?;
        let command = match wire {
            Wire::Unpack {
                release,
                url,
                sha256,
            } => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(CommandError::Url(url));
                }
                let mut hash = [0; 32];
                let hex_ok = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
                match hex_ok.then(|| hex::decode_to_slice(&sha256, &mut hash)) {
                    Some(Ok(())) => {}
                    _ => return Err(CommandError::Sha256(sha256)),
                }
                Command::Unpack {
                    release,
                    url,
                    sha256: hash,
                }
            }
            Wire::Prune { keep } => Command::Prune { keep },
        };
        command.check_ids()?;
        Ok(Some(command))
    }

    /// The payload that carries it; refused if it names an id the function would refuse.
    pub fn encode(&self) -> Result<Value, CommandError> {
        self.check_ids()?;
        let wire = match self.clone() {
            Command::Unpack {
                release,
                url,
                sha256,
            } => Wire::Unpack {
                release,
                url,
                sha256: hex::encode(sha256),
            },
            Command::Prune { keep } => Wire::Prune { keep },
        };
        Ok(json!({ "lamphp": wire }))
    }

    fn check_ids(&self) -> Result<(), IdError> {
        match self {
            Command::Unpack { release, .. } => id::check(release),
            Command::Prune { keep } => keep.iter().try_for_each(|release| id::check(release)),
        }
    }
}

/// The answer to `unpack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Unpacked {
    /// Extracted now.
    New {
        release: String,
        files: u64,
        bytes: u64,
    },
    /// Already complete on EFS, from an earlier unpack: left as it was.
    Existing { release: String, existing: True },
}

/// The answer to `prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pruned {
    /// The releases deleted.
    pub removed: Vec<String>,
    /// The releases left: those named, and the one being served.
    pub kept: Vec<String>,
}

/// `true` and nothing else, for `"existing": true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct True;

impl Serialize for True {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(true)
    }
}

impl<'de> Deserialize<'de> for True {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<True, D::Error> {
        match bool::deserialize(deserializer)? {
            true => Ok(True),
            false => Err(serde::de::Error::custom("\"existing\" is only ever true")),
        }
    }
}

#[cfg(test)]
mod tests;
