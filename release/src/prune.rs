//! `lamphp prune`: have the function delete the releases no configuration refers to.
//!
//! Kept: the release of `$LATEST` and of every published version (so any version an
//! alias may be moved back to still works). Run it between deploys, not during one: a
//! release unpacked by a deploy that has not yet set `LAMPHP_RELEASE` is referred to by
//! nothing.

use crate::function::{self, field, Function};
use anyhow::Result;
use serde_json::json;
use std::collections::BTreeSet;

pub async fn prune(function: &Function) -> Result<()> {
    let versions = function.versions().await?;
    let keep: BTreeSet<&str> = versions
        .iter()
        .filter_map(|v| function::release_of(v.environment().and_then(|e| e.variables())))
        .collect();
    let answer = function
        .invoke(&json!({"lamphp": {"prune": {"keep": keep}}}))
        .await?;
    println!("removed: {}", list(field(&answer, "removed")?));
    println!("kept:    {}", list(field(&answer, "kept")?));
    Ok(())
}

fn list(ids: &serde_json::Value) -> String {
    let ids: Vec<&str> = ids
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.join(" ")
    }
}
