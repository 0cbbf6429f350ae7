//! `lamphp status`: what staging (`$LATEST`) and production (`live`) serve.

use crate::function::{self, Function, LATEST};
use crate::live;
use crate::promote::read_alias;
use anyhow::Result;

pub async fn status(function: &Function) -> Result<()> {
    let latest = function.configuration(LATEST).await?;
    println!(
        "staging  {}:$LATEST  release {}  ({})",
        function.name,
        function::release(&latest).unwrap_or("none"),
        latest
            .last_update_status()
            .map_or("Successful", |s| s.as_str())
    );
    let Some(alias) = read_alias(function).await? else {
        println!("live     not created yet: `lamphp promote` creates it");
        return Ok(());
    };
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
    Ok(())
}
