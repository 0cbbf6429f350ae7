//! `lamphp prune`: have the function delete the releases no configuration refers to.
//!
//! Kept: the release of `$LATEST` and of every published version (so any version an
//! alias may be moved back to still works). Run it between deploys, not during one: a
//! release unpacked by a deploy that has not yet set `LAMPHP_RELEASE` is referred to by
//! nothing.

use crate::function::{self, Function};
use anyhow::Result;
use lamphp_protocol::{Command, Pruned};
use std::collections::BTreeSet;

pub async fn prune(function: &Function) -> Result<()> {
    let versions = function.versions().await?;
    let keep: BTreeSet<&str> = versions
        .iter()
        .filter_map(|v| function::release_of(v.environment().and_then(|e| e.variables())))
        .collect();
    let keep = keep.into_iter().map(str::to_owned).collect();
    let answer: Pruned = function.run(&Command::Prune { keep }).await?;
    println!("removed: {}", list(&answer.removed));
    println!("kept:    {}", list(&answer.kept));
    Ok(())
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.join(" ")
    }
}
