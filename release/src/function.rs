//! The function as the release command sees it: `$LATEST`'s and the versions'
//! configurations, the release each serves, and invocations of its release commands.

use crate::aws::explain;
use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, InvocationType, LastUpdateStatus};
use lamphp_protocol::Command;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const LATEST: &str = "$LATEST";
/// The variable that names the release a configuration serves.
pub const RELEASE_VAR: &str = "LAMPHP_RELEASE";

pub struct Function {
    pub name: String,
    pub lambda: aws_sdk_lambda::Client,
}

pub type Configuration = GetFunctionConfigurationOutput;

/// The release a configuration serves.
pub fn release_of(variables: Option<&HashMap<String, String>>) -> Option<&str> {
    variables?.get(RELEASE_VAR).map(String::as_str)
}

/// The release `config` serves.
pub fn release(config: &Configuration) -> Option<&str> {
    release_of(config.environment().and_then(|e| e.variables()))
}

impl Function {
    pub async fn configuration(&self, qualifier: &str) -> Result<Configuration> {
        self.lambda
            .get_function_configuration()
            .function_name(&self.name)
            .qualifier(qualifier)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "reading the configuration of {}:{qualifier}: {}",
                    self.name,
                    explain(e)
                )
            })
    }

    /// Have `$LATEST` run a release command and read its answer, of the command's type.
    pub async fn run<A: serde::de::DeserializeOwned>(&self, command: &Command) -> Result<A> {
        let answer = self.invoke(&command.encode()?).await?;
        serde_json::from_value(answer.clone())
            .with_context(|| format!("the function's answer is not the command's: {answer}"))
    }

    /// Invoke `$LATEST` with `payload` and wait for its answer; a function error fails.
    async fn invoke(&self, payload: &Value) -> Result<Value> {
        let out = self
            .lambda
            .invoke()
            .function_name(&self.name)
            .qualifier(LATEST)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| anyhow!("invoking {}: {}", self.name, explain(e)))?;
        let body = out
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        let answer: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        if let Some(kind) = out.function_error() {
            let message = answer
                .get("errorMessage")
                .and_then(Value::as_str)
                .map_or_else(|| answer.to_string(), str::to_owned);
            bail!("the function failed ({kind}): {message}");
        }
        Ok(answer)
    }

    /// Set `LAMPHP_RELEASE` on `$LATEST`, keeping every other variable, guarded by the
    /// revision `config` was read at; then wait until Lambda has applied it.
    pub async fn set_release(&self, config: &Configuration, release: &str) -> Result<()> {
        let mut variables = config
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default();
        variables.insert(RELEASE_VAR.to_owned(), release.to_owned());
        self.lambda
            .update_function_configuration()
            .function_name(&self.name)
            .environment(Environment::builder().set_variables(Some(variables)).build())
            .set_revision_id(config.revision_id().map(str::to_owned))
            .send()
            .await
            .map_err(|e| anyhow!("setting {RELEASE_VAR}={release} on {}: {} (if the configuration changed meanwhile, deploy again)", self.name, explain(e)))?;
        self.wait_updated().await.map(drop)
    }

    /// Wait until `$LATEST`'s last update is applied; its configuration then, which
    /// callers use rather than reading it again.
    pub async fn wait_updated(&self) -> Result<Configuration> {
        let start = Instant::now();
        loop {
            let config = self.configuration(LATEST).await?;
            match config.last_update_status() {
                None | Some(LastUpdateStatus::Successful) => return Ok(config),
                Some(LastUpdateStatus::Failed) => bail!(
                    "Lambda could not apply the update of {}: {}",
                    self.name,
                    config
                        .last_update_status_reason()
                        .unwrap_or("no reason given")
                ),
                Some(_) if start.elapsed() > Duration::from_secs(300) => {
                    bail!(
                        "{} is still updating after 5 minutes; check it in the console",
                        self.name
                    )
                }
                Some(_) => tokio::time::sleep(Duration::from_secs(2)).await,
            }
        }
    }

    /// Every published version's configuration, and `$LATEST`'s.
    pub async fn versions(&self) -> Result<Vec<aws_sdk_lambda::types::FunctionConfiguration>> {
        let mut all = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .lambda
                .list_versions_by_function()
                .function_name(&self.name)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| anyhow!("listing the versions of {}: {}", self.name, explain(e)))?;
            all.extend(page.versions().iter().cloned());
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() {
                return Ok(all);
            }
        }
    }
}
