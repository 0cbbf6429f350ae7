//! Releases on EFS: immutable site directories `$LAMPHP_RELEASES/<id>` that function
//! configurations point at with `LAMPHP_RELEASE` (see [`crate::lambda::config`]).
//!
//! The release command (`lamphp`) has the function run two commands, whose wire format
//! and answers it shares with us in `lamphp_protocol`: unpack a bundle as a new release
//! ([`unpack`]: the stream from [`fetch`] through [`extract`]), and delete the releases
//! nothing refers to ([`prune`]).

pub mod extract;
pub mod fetch;
pub mod prune;
pub mod unpack;

use anyhow::{anyhow, Result};
use lamphp_protocol::Command;
use serde_json::Value;
use std::path::PathBuf;

/// The releases directory, and the release this instance serves.
#[derive(Debug, Clone)]
pub struct Releases {
    pub dir: PathBuf,
    pub serving: Option<String>,
}

impl Releases {
    /// Run `command`; the JSON answer for the release command.
    pub async fn run(&self, command: Command) -> Result<Value> {
        match command {
            Command::Unpack {
                release,
                url,
                sha256,
            } => {
                let answer = to_json(&unpack::unpack(&self.dir, &release, &url, sha256).await?);
                tracing::info!(target: "lamphp::release", "unpacked: {answer}");
                Ok(answer)
            }
            Command::Prune { keep } => {
                let dir = self.dir.clone();
                let serving = self.serving.clone();
                let pruned = tokio::task::spawn_blocking(move || {
                    prune::prune(&dir, &keep, serving.as_deref())
                })
                .await
                .map_err(|e| anyhow!("the prune task failed: {e}"))??;
                let answer = to_json(&pruned);
                tracing::info!(target: "lamphp::release", "pruned: {answer}");
                Ok(answer)
            }
        }
    }
}

fn to_json(answer: &impl serde::Serialize) -> Value {
    serde_json::to_value(answer).expect("the answers are plain data")
}
