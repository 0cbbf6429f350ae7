//! `lamphp deploy`: bundle, upload, have `$LATEST` unpack it, point `$LATEST` (and,
//! with ECS, the staging service) at it.
//!
//! The configuration changes only after the function has answered that the release is
//! complete on EFS, so a failed deploy leaves staging as it was; production (`live`, and
//! the production service) is never touched. With ECS, the staging service and its task
//! definition are read and the new revision planned before anything is uploaded, so a
//! service lamphp cannot move (no container `php`, another deployment controller) fails
//! the deploy with nothing changed.

use crate::aws::explain;
use crate::bundle::bundle;
use crate::ecs;
use crate::function::{self, Function};
use crate::service::{Ecs, Service};
use anyhow::{anyhow, Result};
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionInputBuilder;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use lamphp_protocol::{Command, Unpacked};
use std::path::Path;
use std::time::Duration;

/// How long the function has to start fetching the bundle.
const PRESIGN: Duration = Duration::from_secs(15 * 60);

pub async fn deploy(
    function: &Function,
    services: Option<&Ecs>,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    site: &Path,
) -> Result<String> {
    let bundle = bundle(site)?;
    let id = bundle.id.clone();
    let key = format!("releases/{id}.tar.gz");
    println!(
        "bundled {} files from {} ({} bytes): release {id}",
        bundle.files,
        site.display(),
        bundle.bytes.len()
    );
    let staging = match services {
        Some(services) => Some(plan_staging(services, &id).await?),
        None => None,
    };
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from(bundle.bytes))
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "uploading s3://{bucket}/{key}: {} (the command's user needs s3:PutObject on it)",
                explain(e)
            )
        })?;
    let presign = PresigningConfig::expires_in(PRESIGN)?;
    let url = s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .presigned(presign)
        .await
        .map_err(|e| anyhow!("presigning s3://{bucket}/{key}: {}", explain(e)))?
        .uri()
        .to_owned();
    println!("uploaded s3://{bucket}/{key}");
    let unpack = Command::Unpack {
        release: id.clone(),
        url,
        sha256: bundle.sha256,
    };
    let answer: Unpacked = function.run(&unpack).await.map_err(|e| {
        anyhow!(
            "{e:#}\nrelease {id} was not unpacked; {} is unchanged",
            function.name
        )
    })?;
    match answer {
        Unpacked::Existing { .. } => println!("release {id} was already on EFS; left as it is"),
        Unpacked::New { files, bytes, .. } => {
            println!("unpacked release {id}: {files} files, {bytes} bytes")
        }
    }
    if let (Some(services), Some(plan)) = (services, staging) {
        move_staging(services, plan).await.map_err(|e| {
            anyhow!(
                "{e:#}\nrelease {id} is on EFS but {} is unchanged: deploy again",
                function.name
            )
        })?;
    }
    // An update still being applied would make ours fail.
    let config = function.wait_updated().await?;
    if function::release(&config) == Some(id.as_str()) {
        println!("{}:$LATEST already serves release {id}", function.name);
    } else {
        function.set_release(&config, &id).await?;
        println!(
            "{}:$LATEST (staging) now serves release {id}",
            function.name
        );
    }
    Ok(id)
}

/// What a deploy does to the staging service: nothing (it runs the release already), or
/// register this revision and move the service to it.
enum Staging {
    Serves(String),
    Move(Box<Planned>),
}

struct Planned {
    revision: RegisterTaskDefinitionInputBuilder,
    service: Service,
}

async fn plan_staging(services: &Ecs, id: &str) -> Result<Staging> {
    let running = services.running(&services.staging).await?;
    if running.release() == Some(id) {
        return Ok(Staging::Serves(running.arn().to_owned()));
    }
    let revision = ecs::next_revision(&running.task_definition, &running.tags, id)?;
    // Checked now, though the update is built once the revision has its ARN.
    ecs::rolling(&running.service)?;
    Ok(Staging::Move(Box::new(Planned {
        revision,
        service: running.service,
    })))
}

async fn move_staging(services: &Ecs, plan: Staging) -> Result<()> {
    let plan = match plan {
        Staging::Serves(arn) => {
            println!(
                "service {} already runs {}, which serves this release",
                services.staging,
                ecs::short(&arn)
            );
            return Ok(());
        }
        Staging::Move(plan) => *plan,
    };
    let arn = services.register(plan.revision).await?;
    println!("registered task definition {}", ecs::short(&arn));
    services
        .update(ecs::move_to(&services.cluster, &plan.service, &arn)?)
        .await?;
    println!(
        "service {} (staging) is rolling out {} (`lamphp status` shows its progress)",
        services.staging,
        ecs::short(&arn)
    );
    Ok(())
}
