//! `lamphp status`: what staging (`$LATEST`, the staging service) and production
//! (`live`, the production service) serve.

use crate::ecs;
use crate::function::{self, Function, LATEST};
use crate::live;
use crate::promote::read_alias;
use crate::service::Ecs;
use anyhow::Result;

pub async fn status(function: &Function, services: Option<&Ecs>) -> Result<()> {
    let latest = function.configuration(LATEST).await?;
    println!(
        "staging  {}:$LATEST  release {}  ({})",
        function.name,
        function::release(&latest).unwrap_or("none"),
        latest
            .last_update_status()
            .map_or("Successful", |s| s.as_str())
    );
    match read_alias(function).await? {
        None => println!("live     not created yet: `lamphp promote` creates it"),
        Some(alias) => {
            let release_of = |version: String| async move {
                let config = function.configuration(&version).await?;
                anyhow::Ok(function::release(&config).unwrap_or("none").to_owned())
            };
            let main = release_of(alias.version.clone()).await?;
            match live::canary(&alias) {
                Some((canary, weight)) => {
                    let canary_release = release_of(canary.to_owned()).await?;
                    println!(
                        "live     version {} release {main} at {}%, canary version {canary} release {canary_release} at {}%",
                        alias.version,
                        ((1.0 - weight) * 100.0).round(),
                        (weight * 100.0).round()
                    );
                }
                None => println!("live     version {} release {main}", alias.version),
            }
            if let Some(previous) = live::previous(&alias.description) {
                println!("rollback would return live to version {previous}");
            }
        }
    }
    if let Some(services) = services {
        let mut production = None;
        for (role, name) in [
            ("staging", &services.staging),
            ("production", &services.production),
        ] {
            let running = services.running(name).await?;
            let service = &running.service;
            let rollout = ecs::primary(service).map_or_else(
                || "no deployment reported".to_owned(),
                |d| {
                    format!(
                        "rollout {}, {}/{} running",
                        d.rollout_state().map_or("unknown", |s| s.as_str()),
                        d.running_count,
                        d.desired_count
                    )
                },
            );
            println!(
                "{role:<10} service {name}  {}  release {}  ({rollout})",
                ecs::short(running.arn()),
                running.release().unwrap_or("none")
            );
            production = Some(running.service);
        }
        if let Some(previous) = production.as_ref().and_then(ecs::previous) {
            let (td, _) = services.task_definition(previous).await?;
            println!(
                "rollback would return service {} to {} (release {})",
                services.production,
                ecs::short(previous),
                ecs::release_of(&td).unwrap_or("none")
            );
        }
    }
    Ok(())
}
