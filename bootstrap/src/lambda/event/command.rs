//! Invocations that are no HTTP events: `lamphp`'s release commands, sent by the release
//! command (`lamphp deploy`, `lamphp prune`) with Lambda's Invoke API.
//!
//! ```json
//! {"lamphp":{"unpack":{"release":"<id>","url":"<presigned GET>","sha256":"<hex>"}}}
//! {"lamphp":{"prune":{"keep":["<id>", ...]}}}
//! ```
//!
//! Pure: the payload is checked here (ids, the hash, the URL's scheme) so that the I/O in
//! [`crate::release`] only ever sees well-formed commands.

use crate::release::id::{self, IdError};
use serde::Deserialize;
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
    lamphp: Option<serde_json::Value>,
}

#[derive(Deserialize)]
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

/// The command in `payload`, or `None` when it has no `lamphp` member (not ours).
pub fn command(payload: &[u8]) -> Result<Option<Command>, CommandError> {
    let Ok(Envelope { lamphp: Some(body) }) = serde_json::from_slice(payload) else {
        return Ok(None);
    };
    let wire: Wire =
        serde_json::from_value(body).map_err(|e| CommandError::Shape(e.to_string()))?;
    match wire {
        Wire::Unpack {
            release,
            url,
            sha256,
        } => {
            id::check(&release)?;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(CommandError::Url(url));
            }
            let mut hash = [0; 32];
            let hex_ok = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
            match hex_ok.then(|| hex::decode_to_slice(&sha256, &mut hash)) {
                Some(Ok(())) => {}
                _ => return Err(CommandError::Sha256(sha256)),
            }
            Ok(Some(Command::Unpack {
                release,
                url,
                sha256: hash,
            }))
        }
        Wire::Prune { keep } => {
            for release in &keep {
                id::check(release)?;
            }
            Ok(Some(Command::Prune { keep }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = Result<Option<Command>, CommandError>;
    type Check = Box<dyn Fn(&Decoded) -> bool>;

    #[test]
    fn decodes_commands_and_refuses_bad_ones() {
        let hash = "ab".repeat(32);
        let unpack = |release: &str, url: &str, sha: &str| {
            format!(
                r#"{{"lamphp":{{"unpack":{{"release":"{release}","url":"{url}","sha256":"{sha}"}}}}}}"#
            )
        };
        let shape =
            |r: &Result<Option<Command>, CommandError>| matches!(r, Err(CommandError::Shape(_)));
        let table: Vec<(String, Check)> = vec![
            (
                unpack(
                    "r1",
                    "https://b.s3.amazonaws.com/x?X-Amz-Signature=1",
                    &hash,
                ),
                Box::new(|r| {
                    *r == Ok(Some(Command::Unpack {
                        release: "r1".into(),
                        url: "https://b.s3.amazonaws.com/x?X-Amz-Signature=1".into(),
                        sha256: [0xab; 32],
                    }))
                }),
            ),
            (
                r#"{"lamphp":{"prune":{"keep":["a","b"]}}}"#.into(),
                Box::new(|r| {
                    *r == Ok(Some(Command::Prune {
                        keep: vec!["a".into(), "b".into()],
                    }))
                }),
            ),
            (r#"{"hello":"world"}"#.into(), Box::new(|r| *r == Ok(None))),
            ("not json".into(), Box::new(|r| *r == Ok(None))),
            (r#"{"lamphp":{"reboot":{}}}"#.into(), Box::new(shape)),
            (r#"{"lamphp":{"prune":{}}}"#.into(), Box::new(shape)),
            (
                r#"{"lamphp":{"prune":{"keep":[],"all":true}}}"#.into(),
                Box::new(shape),
            ),
            (
                unpack("../x", "https://h/x", &hash),
                Box::new(|r| *r == Err(CommandError::Id(IdError::LeadingDot("../x".into())))),
            ),
            (
                r#"{"lamphp":{"prune":{"keep":["a/b"]}}}"#.into(),
                Box::new(|r| *r == Err(CommandError::Id(IdError::BadChar("a/b".into())))),
            ),
            (
                unpack("r1", "file:///etc/passwd", &hash),
                Box::new(|r| *r == Err(CommandError::Url("file:///etc/passwd".into()))),
            ),
            (
                unpack("r1", "https://h/x", "abc"),
                Box::new(|r| *r == Err(CommandError::Sha256("abc".into()))),
            ),
            (
                unpack("r1", "https://h/x", &"zz".repeat(32)),
                Box::new(|r| matches!(r, Err(CommandError::Sha256(_)))),
            ),
        ];
        for (payload, want) in table {
            let got = command(payload.as_bytes());
            assert!(want(&got), "{payload}: {got:?}");
        }
    }
}
