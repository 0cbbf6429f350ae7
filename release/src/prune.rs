//! `lamphp prune`: have the function delete the releases no configuration refers to.
//!
//! Kept: the release of `$LATEST` and of every published version (so any version an
//! alias may be moved back to still works); with ECS, the release of every ACTIVE
//! revision of the services' task definition families, of the revisions the services
//! run (even deregistered ones) and of the one production would roll back to. Run it
//! between deploys, not during one: a release unpacked by a deploy that has not yet set
//! `LAMPHP_RELEASE` is referred to by nothing.

use crate::ecs;
use crate::function::{self, Function};
use crate::service::Ecs;
use anyhow::Result;
use lamphp_protocol::{Command, Pruned};
use std::collections::BTreeSet;

pub async fn prune(function: &Function, services: Option<&Ecs>) -> Result<()> {
    let versions = function.versions().await?;
    let mut keep: BTreeSet<String> = versions
        .iter()
        .filter_map(|v| function::release_of(v.environment().and_then(|e| e.variables())))
        .map(str::to_owned)
        .collect();
    if let Some(services) = services {
        keep.extend(ecs_releases(services).await?);
    }
    let keep = keep.into_iter().collect();
    let answer: Pruned = function.run(&Command::Prune { keep }).await?;
    println!("removed: {}", list(&answer.removed));
    println!("kept:    {}", list(&answer.kept));
    Ok(())
}

/// The releases the services' task definitions refer to.
async fn ecs_releases(services: &Ecs) -> Result<BTreeSet<String>> {
    let mut revisions = BTreeSet::new();
    let mut families = BTreeSet::new();
    for name in [&services.staging, &services.production] {
        let service = services.service(name).await?;
        let running = ecs::running(&service)?.to_owned();
        families.insert(ecs::family(&running).to_owned());
        revisions.insert(running);
        revisions.extend(ecs::previous(&service).map(str::to_owned));
    }
    for family in families {
        revisions.extend(services.active_revisions(&family).await?);
    }
    let mut releases = BTreeSet::new();
    for arn in revisions {
        let (td, _) = services.task_definition(&arn).await?;
        releases.extend(ecs::release_of(&td).map(str::to_owned));
    }
    Ok(releases)
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".to_owned()
    } else {
        ids.join(" ")
    }
}
