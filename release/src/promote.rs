//! `lamphp promote` and `lamphp rollback`: publish what `$LATEST` runs as a version and
//! move the `live` alias as [`crate::live`] plans it; with ECS, move the production
//! service to the staging service's revision (or back) as [`crate::ecs`] plans it.

use crate::aws::explain;
use crate::ecs;
use crate::function::{self, Function};
use crate::live::{self, Alias, Target};
use crate::service::{Ecs, Service};
use anyhow::{anyhow, bail, Result};
use aws_sdk_lambda::types::AliasRoutingConfiguration;
use std::collections::HashMap;

/// What `promote` was asked for.
#[derive(Debug, Clone, Copy)]
pub enum Promotion {
    Now,
    Canary(u8),
    Finish,
}

/// Why a canary is refused when ECS services are released too.
const NO_ECS_CANARY: &str =
    "a canary is a Lambda alias feature, and the ECS services move as a whole: \
`lamphp promote` moves production at once (ECS rolls it out, its circuit breaker rolling back \
a deployment whose tasks fail); to send part of production's traffic to new code, use the \
stack's weight between Lambda and ECS (Compute=both) or an ECS blue/green deployment";

pub async fn promote(function: &Function, services: Option<&Ecs>, how: Promotion) -> Result<()> {
    let production = match services {
        Some(_) if !matches!(how, Promotion::Now) => bail!("{NO_ECS_CANARY}"),
        Some(services) => Some(plan_production(services).await?),
        None => None,
    };
    let alias = read_alias(function).await?;
    let target = match how {
        Promotion::Finish => live::finish(alias.as_ref()),
        Promotion::Now | Promotion::Canary(_) => {
            live::may_publish(alias.as_ref(), matches!(how, Promotion::Canary(_)))?;
            let config = function.wait_updated().await?;
            if let Some(plan) = &production {
                same_release(function, &config, plan)?;
            }
            let version = publish(function, &config).await?;
            match how {
                Promotion::Canary(pct) => live::start_canary(alias.as_ref(), &version, pct),
                _ => live::promote(alias.as_ref(), &version),
            }
        }
    };
    // With the services, one of the two already live is the other catching up (a promote
    // that failed half way); both already live is nothing to do.
    let target = match (target, &production) {
        (Err(live::PlanError::AlreadyLive(version)), Some(Production::Move { .. })) => {
            println!("live already serves version {version}");
            None
        }
        (
            Err(live::PlanError::AlreadyLive(version)),
            Some(Production::AlreadyLive(ecs::PlanError::AlreadyLive(service, revision))),
        ) => bail!(
            "version {version} is already live and service {service} already runs {revision}; deploy something new first"
        ),
        (target, _) => Some(target?),
    };
    if let Some(target) = &target {
        write_alias(function, alias.is_some(), target).await?;
        match &target.canary {
            Some((canary, weight)) => println!(
                "live: version {} with version {canary} at {}% (canary); `lamphp promote --finish` or `lamphp rollback` next",
                target.version,
                (weight * 100.0).round()
            ),
            None => println!("live (production) now serves version {}", target.version),
        }
    }
    if let (Some(services), Some(production)) = (services, production) {
        match production {
            Production::AlreadyLive(_) => println!(
                "service {} (production) already runs staging's revision",
                services.production
            ),
            Production::Move {
                service,
                target,
                release,
            } => {
                services.move_production(&service, &target).await?;
                println!(
                    "service {} (production) is rolling out {} (release {})",
                    services.production,
                    ecs::short(&target.task_definition),
                    release.as_deref().unwrap_or("none")
                );
            }
        }
    }
    Ok(())
}

/// What promote does to the production service.
enum Production {
    AlreadyLive(ecs::PlanError),
    Move {
        service: Box<Service>,
        target: ecs::Target,
        /// The release the staging revision serves.
        release: Option<String>,
    },
}

async fn plan_production(services: &Ecs) -> Result<Production> {
    let staging = services.running(&services.staging).await?;
    let production = services.running(&services.production).await?;
    match ecs::promote(&staging.service, &production.service, production.release()) {
        Ok(target) => Ok(Production::Move {
            service: Box::new(production.service),
            target,
            release: staging.release().map(str::to_owned),
        }),
        Err(e @ ecs::PlanError::AlreadyLive(..)) => Ok(Production::AlreadyLive(e)),
        Err(e) => Err(e.into()),
    }
}

/// Both computes' production must serve one release: what `$LATEST` serves must be what
/// the staging service's revision serves (they differ after a deploy that failed half way).
fn same_release(
    function: &Function,
    config: &function::Configuration,
    production: &Production,
) -> Result<()> {
    let Production::Move { release, .. } = production else {
        return Ok(());
    };
    let latest = function::release(config);
    if latest != release.as_deref() {
        bail!(
            "{}:$LATEST serves release {} but the staging service's revision serves {}: run `lamphp deploy` again so that both serve one release",
            function.name,
            latest.unwrap_or("none"),
            release.as_deref().unwrap_or("none")
        );
    }
    Ok(())
}

pub async fn rollback(function: &Function, services: Option<&Ecs>) -> Result<()> {
    // Both planned before either moves: a rollback moves both or neither.
    let alias = read_alias(function).await?;
    if let (Some(_), Some((canary, _))) = (services, alias.as_ref().and_then(live::canary)) {
        // Rolling back would drop the canary but move the service back a whole release.
        bail!("a canary of version {canary} runs on live (started without the ECS options): drop it with `lamphp rollback` without --cluster first");
    }
    let target =
        live::rollback(alias.as_ref()).map_err(|e| anyhow!("{e}; nothing was rolled back"))?;
    let production = match services {
        Some(services) => {
            let service = services.service(&services.production).await?;
            let back =
                ecs::rollback(&service).map_err(|e| anyhow!("{e}; nothing was rolled back"))?;
            Some((services, service, back))
        }
        None => None,
    };
    write_alias(function, true, &target).await?;
    println!(
        "live (production) rolled back to version {}",
        target.version
    );
    if let Some((services, service, back)) = production {
        services.move_production(&service, &back).await?;
        println!(
            "service {} (production) is rolling back to {}",
            services.production,
            ecs::short(&back.task_definition)
        );
    }
    Ok(())
}

/// Publish `$LATEST` as `config` shows it: guarded by its code hash and revision, so a
/// deploy that lands meanwhile makes this fail rather than be published unseen.
async fn publish(function: &Function, config: &function::Configuration) -> Result<String> {
    let Some(release) = function::release(config).map(str::to_owned) else {
        bail!(
            "{}:$LATEST serves no release yet: run `lamphp deploy` first",
            function.name
        );
    };
    let published = function
        .lambda
        .publish_version()
        .function_name(&function.name)
        .set_code_sha256(config.code_sha256().map(str::to_owned))
        .set_revision_id(config.revision_id().map(str::to_owned))
        .description(format!("release {release}"))
        .send()
        .await
        .map_err(|e| anyhow!("publishing {}:$LATEST: {} (a deploy may have changed it meanwhile: check `lamphp status` and promote again)", function.name, explain(e)))?;
    let version = published
        .version()
        .ok_or_else(|| anyhow!("Lambda published a version without a number"))?
        .to_owned();
    println!("published version {version} (release {release})");
    Ok(version)
}

/// `live` as it is, or `None` if it does not exist yet.
pub async fn read_alias(function: &Function) -> Result<Option<Alias>> {
    match function
        .lambda
        .get_alias()
        .function_name(&function.name)
        .name(live::ALIAS)
        .send()
        .await
    {
        Ok(alias) => Ok(Some(Alias {
            version: alias.function_version().unwrap_or_default().to_owned(),
            weights: alias
                .routing_config()
                .and_then(|r| r.additional_version_weights())
                .cloned()
                .unwrap_or_default(),
            description: alias.description().unwrap_or_default().to_owned(),
        })),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(anyhow!(
            "reading the alias {}:{}: {}",
            function.name,
            live::ALIAS,
            explain(e)
        )),
    }
}

async fn write_alias(function: &Function, exists: bool, target: &Target) -> Result<()> {
    let weights: HashMap<String, f64> = target.canary.clone().into_iter().collect();
    let routing = AliasRoutingConfiguration::builder()
        .set_additional_version_weights(Some(weights))
        .build();
    let result = if exists {
        function
            .lambda
            .update_alias()
            .function_name(&function.name)
            .name(live::ALIAS)
            .function_version(&target.version)
            .description(&target.description)
            .routing_config(routing)
            .send()
            .await
            .map(|_| ())
            .map_err(explain)
    } else {
        function
            .lambda
            .create_alias()
            .function_name(&function.name)
            .name(live::ALIAS)
            .function_version(&target.version)
            .description(&target.description)
            .routing_config(routing)
            .send()
            .await
            .map(|_| ())
            .map_err(explain)
    };
    result.map_err(|e| {
        anyhow!(
            "moving {}:{} to version {}: {e}",
            function.name,
            live::ALIAS,
            target.version
        )
    })
}
