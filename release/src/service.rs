//! The ECS services as the release command sees them: staging's and production's
//! service in one cluster, the task definitions they run, and the moves [`crate::ecs`]
//! plans.

use crate::aws::explain;
use crate::ecs::{self, Target};
use anyhow::{anyhow, bail, Result};
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionInputBuilder;
use aws_sdk_ecs::operation::update_service::builders::UpdateServiceInputBuilder;
use aws_sdk_ecs::types::{
    ServiceField, Tag, TaskDefinition, TaskDefinitionField, TaskDefinitionStatus,
};

pub use aws_sdk_ecs::types::Service;

pub struct Ecs {
    pub client: aws_sdk_ecs::Client,
    pub cluster: String,
    pub staging: String,
    pub production: String,
}

/// A service and the task definition it runs (with that definition's tags).
pub struct Running {
    pub service: Service,
    pub task_definition: TaskDefinition,
    pub tags: Vec<Tag>,
}

impl Running {
    pub fn arn(&self) -> &str {
        self.service.task_definition().unwrap_or_default()
    }

    pub fn release(&self) -> Option<&str> {
        ecs::release_of(&self.task_definition)
    }
}

impl Ecs {
    /// The service `name`, with its tags.
    pub async fn service(&self, name: &str) -> Result<Service> {
        let out = self
            .client
            .describe_services()
            .cluster(&self.cluster)
            .services(name)
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "reading the service {name} of cluster {}: {}",
                    self.cluster,
                    explain(e)
                )
            })?;
        match out.services().first() {
            Some(service) if service.status() != Some("INACTIVE") => Ok(service.clone()),
            _ => bail!("there is no service {name} in cluster {}", self.cluster),
        }
    }

    /// The task definition `arn`, with its tags.
    pub async fn task_definition(&self, arn: &str) -> Result<(TaskDefinition, Vec<Tag>)> {
        let out = self
            .client
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| anyhow!("reading the task definition {arn}: {}", explain(e)))?;
        let td = out
            .task_definition()
            .cloned()
            .ok_or_else(|| anyhow!("ECS described no task definition {arn}"))?;
        Ok((td, out.tags().to_vec()))
    }

    /// The service `name` and what it runs.
    pub async fn running(&self, name: &str) -> Result<Running> {
        let service = self.service(name).await?;
        let arn = ecs::running(&service)?.to_owned();
        let (task_definition, tags) = self.task_definition(&arn).await?;
        Ok(Running {
            service,
            task_definition,
            tags,
        })
    }

    /// Register the revision `input` describes; its ARN.
    pub async fn register(&self, input: RegisterTaskDefinitionInputBuilder) -> Result<String> {
        let family = input.get_family().clone().unwrap_or_default();
        let out = input
            .send_with(&self.client)
            .await
            .map_err(|e| anyhow!("registering a revision of {family}: {}", explain(e)))?;
        out.task_definition()
            .and_then(|td| td.task_definition_arn())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("ECS registered a revision of {family} without an ARN"))
    }

    /// Apply an update [`ecs::move_to`] planned.
    pub async fn update(&self, update: UpdateServiceInputBuilder) -> Result<()> {
        let service = update.get_service().clone().unwrap_or_default();
        let to = update.get_task_definition().clone().unwrap_or_default();
        update.send_with(&self.client).await.map_err(|e| {
            anyhow!(
                "moving the service {service} to {}: {}",
                ecs::short(&to),
                explain(e)
            )
        })?;
        Ok(())
    }

    /// Move production as `target` says, then write what it remembers. ECS has no
    /// transaction over the two: if the tag cannot be written, the error says what
    /// production runs and what rollback would do.
    pub async fn move_production(&self, production: &Service, target: &Target) -> Result<()> {
        self.update(ecs::move_to(
            &self.cluster,
            production,
            &target.task_definition,
        )?)
        .await?;
        let arn = production.service_arn().unwrap_or_default();
        let result = match &target.previous {
            Some(previous) => self
                .client
                .tag_resource()
                .resource_arn(arn)
                .tags(
                    Tag::builder()
                        .key(ecs::PREVIOUS_TAG)
                        .value(previous)
                        .build(),
                )
                .send()
                .await
                .map(drop)
                .map_err(explain),
            None => self
                .client
                .untag_resource()
                .resource_arn(arn)
                .tag_keys(ecs::PREVIOUS_TAG)
                .send()
                .await
                .map(drop)
                .map_err(explain),
        };
        result.map_err(|e| {
            anyhow!(
                "the service {} now runs {}, but its tag {} could not be written ({e}): \
                 rollback would not return to {}; tag it with `aws ecs tag-resource`",
                self.production,
                ecs::short(&target.task_definition),
                ecs::PREVIOUS_TAG,
                target.previous.as_deref().map_or("nothing", ecs::short)
            )
        })
    }

    /// The ARNs of the family's ACTIVE revisions.
    pub async fn active_revisions(&self, family: &str) -> Result<Vec<String>> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_task_definitions()
                .family_prefix(family)
                .status(TaskDefinitionStatus::Active)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| anyhow!("listing the revisions of {family}: {}", explain(e)))?;
            // A prefix: `site` also lists `site-other`'s.
            all.extend(
                page.task_definition_arns()
                    .iter()
                    .filter(|arn| ecs::family(arn) == family)
                    .cloned(),
            );
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(all);
            }
        }
    }
}
