//! Releases on EFS: immutable site directories `$LAMPHP_RELEASES/<id>` that function
//! configurations point at with `LAMPHP_RELEASE` (see [`crate::lambda::config`]).
//!
//! The release command (`lamphp`) has the function run two commands, decoded with the
//! HTTP events ([`crate::lambda::event::command`]): unpack a bundle as a new release
//! ([`unpack`]: the stream from [`fetch`] through [`extract`]), and delete the releases
//! nothing refers to ([`prune`]). Release ids are checked by [`id`].

pub mod extract;
pub mod fetch;
pub mod id;
pub mod prune;
pub mod unpack;

use crate::lambda::event::command::Command;
use anyhow::{anyhow, Result};
use serde_json::{json, Value};
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
                let answer = match unpack::unpack(&self.dir, &release, &url, sha256).await? {
                    unpack::Unpacked::New(totals) => {
                        json!({"release": release, "files": totals.files, "bytes": totals.bytes})
                    }
                    unpack::Unpacked::Existing => json!({"release": release, "existing": true}),
                };
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
                let answer = json!({"removed": pruned.removed, "kept": pruned.kept});
                tracing::info!(target: "lamphp::release", "pruned: {answer}");
                Ok(answer)
            }
        }
    }
}
