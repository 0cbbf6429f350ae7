//! Releases on EFS: immutable site directories `$LAMPHP_RELEASES/<id>` that function
//! configurations point at with `LAMPHP_RELEASE` (see [`crate::lambda::config`]).
//!
//! The release command (`lamphp`) has the function run two commands, whose wire format
//! and answers it shares with us in `lamphp_protocol`: unpack a bundle as a new release
//! ([`unpack`]: the stream from [`fetch`] through [`extract`]) and compile its PHP
//! ([`opcache`]), and delete the releases nothing refers to, with their caches ([`prune`]).

pub mod extract;
pub mod fetch;
pub mod opcache;
pub mod prune;
pub mod unpack;

use crate::fpm::FpmConfig;
use anyhow::{anyhow, Result};
use lamphp_protocol::{Command, Unpacked};
use serde_json::Value;
use std::path::PathBuf;
use tokio::time::Instant;

/// The releases directory, the release this instance serves, and its PHP, which compiles
/// what is unpacked.
#[derive(Debug, Clone)]
pub struct Releases {
    pub dir: PathBuf,
    pub serving: Option<String>,
    pub php: FpmConfig,
}

/// Time kept back from the invocation's deadline to answer after compiling.
const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);

impl Releases {
    /// Run `command` by `deadline`; the JSON answer for the release command.
    pub async fn run(&self, command: Command, deadline: Instant) -> Result<Value> {
        match command {
            Command::Unpack {
                release,
                url,
                sha256,
            } => {
                let unpacked = unpack::unpack(&self.dir, &release, &url, sha256).await?;
                let answer = to_json(&unpacked);
                tracing::info!(target: "lamphp::release", "unpacked: {answer}");
                // A release unpacked by an earlier bootstrap may have none yet.
                if matches!(unpacked, Unpacked::New { .. })
                    || !opcache::has_cache(&self.dir, &release)
                {
                    let by = deadline.checked_sub(ANSWER_MARGIN).unwrap_or(deadline);
                    self.compile(&release, by).await;
                }
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

    /// Compile `release` into its cache; a failure is logged: the release serves anyway,
    /// its first requests compiling what they run.
    async fn compile(&self, release: &str, deadline: Instant) {
        match opcache::build(&self.dir, release, &self.php, deadline).await {
            Ok(built) => tracing::info!(
                target: "lamphp::release",
                release,
                files = built.files,
                compiled = built.compiled,
                system_id = built.system_id.as_deref().unwrap_or(""),
                cut_short = built.cut_short,
                ms = built.ms,
                "compiled the release's PHP into its opcache file cache"
            ),
            Err(e) => tracing::warn!(
                target: "lamphp::release",
                release,
                "the release's PHP could not be compiled in advance, so its first requests in each sandbox compile it: {e:#}"
            ),
        }
    }
}

fn to_json(answer: &impl serde::Serialize) -> Value {
    serde_json::to_value(answer).expect("the answers are plain data")
}
