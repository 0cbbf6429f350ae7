//! `lamphp promote` and `lamphp rollback`: publish what `$LATEST` runs as a version and
//! move the `live` alias as [`crate::live`] plans it.

use crate::aws::explain;
use crate::function::{self, Function};
use crate::live::{self, Alias, Target};
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

pub async fn promote(function: &Function, how: Promotion) -> Result<()> {
    let alias = read_alias(function).await?;
    let target = match how {
        Promotion::Finish => live::finish(alias.as_ref())?,
        Promotion::Now | Promotion::Canary(_) => {
            live::may_publish(alias.as_ref(), matches!(how, Promotion::Canary(_)))?;
            let version = publish(function).await?;
            match how {
                Promotion::Canary(pct) => live::start_canary(alias.as_ref(), &version, pct)?,
                _ => live::promote(alias.as_ref(), &version)?,
            }
        }
    };
    write_alias(function, alias.is_some(), &target).await?;
    match &target.canary {
        Some((canary, weight)) => println!(
            "live: version {} with version {canary} at {}% (canary); `lamphp promote --finish` or `lamphp rollback` next",
            target.version,
            (weight * 100.0).round()
        ),
        None => println!("live (production) now serves version {}", target.version),
    }
    Ok(())
}

pub async fn rollback(function: &Function) -> Result<()> {
    let alias = read_alias(function).await?;
    let target = live::rollback(alias.as_ref())?;
    write_alias(function, true, &target).await?;
    println!(
        "live (production) rolled back to version {}",
        target.version
    );
    Ok(())
}

/// Publish `$LATEST` as it is now: guarded by the code hash and the revision read, so a
/// deploy that lands meanwhile makes this fail rather than be published unseen.
async fn publish(function: &Function) -> Result<String> {
    let config = function.wait_updated().await?;
    let Some(release) = function::release(&config).map(str::to_owned) else {
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
