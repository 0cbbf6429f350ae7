//! The `lamphp` binary: deploy, promote, rollback, status, prune.

use clap::{Parser, Subcommand};
use lamphp_release::function::Function;
use lamphp_release::promote::Promotion;
use lamphp_release::service::Ecs;
use lamphp_release::{aws, deploy, promote, prune, status};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    version,
    about = "Releases of a lamphp site: deploy to staging, promote to production, roll back"
)]
struct Cli {
    /// The Lambda function (name or ARN).
    #[arg(long, env = "LAMPHP_FUNCTION", global = true)]
    function: Option<String>,
    /// The ECS cluster whose services are released too (with the two below).
    #[arg(long, env = "LAMPHP_CLUSTER", global = true)]
    cluster: Option<String>,
    /// The cluster's staging service (moved by deploy).
    #[arg(long, env = "LAMPHP_STAGING_SERVICE", global = true)]
    staging_service: Option<String>,
    /// The cluster's production service (moved by promote and rollback).
    #[arg(long, env = "LAMPHP_PRODUCTION_SERVICE", global = true)]
    production_service: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bundle a site, unpack it on EFS as a new release, point $LATEST (staging) at it,
    /// and the staging service at a new task definition revision that serves it.
    Deploy {
        /// The site directory (with the front controller the Handler names, e.g. public/index.php).
        #[arg(long)]
        site: PathBuf,
        /// The S3 bucket bundles are uploaded to (releases/<id>.tar.gz).
        #[arg(long, env = "LAMPHP_RELEASE_BUCKET")]
        bucket: String,
    },
    /// Publish what $LATEST serves as a version and move `live` (production) to it; move
    /// the production service to the staging service's revision.
    Promote {
        /// Send only this percentage of production's requests to it (1-99; Lambda only).
        #[arg(long, conflicts_with = "finish")]
        canary: Option<u8>,
        /// Move all of `live` to the canary.
        #[arg(long)]
        finish: bool,
    },
    /// Move `live` and the production service back to what they served before (or drop
    /// a canary).
    Rollback,
    /// Show the version (and revision) and release staging and production serve.
    Status,
    /// Delete the releases on EFS that neither $LATEST, any version nor any task
    /// definition revision refers to.
    Prune,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lamphp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let name = cli.function.ok_or_else(|| {
        anyhow::anyhow!("which function? pass --function NAME or set LAMPHP_FUNCTION")
    })?;
    let config = aws::config().await;
    let function = Function {
        name,
        lambda: aws_sdk_lambda::Client::new(&config),
    };
    let services = match (cli.cluster, cli.staging_service, cli.production_service) {
        (Some(cluster), Some(staging), Some(production)) => Some(Ecs {
            client: aws_sdk_ecs::Client::new(&config),
            cluster,
            staging,
            production,
        }),
        (None, None, None) => None,
        _ => anyhow::bail!(
            "ECS services need all three of --cluster, --staging-service and --production-service (or LAMPHP_CLUSTER, LAMPHP_STAGING_SERVICE and LAMPHP_PRODUCTION_SERVICE)"
        ),
    };
    let services = services.as_ref();
    match cli.command {
        Command::Deploy { site, bucket } => {
            deploy::deploy(&function, services, &aws::s3(&config), &bucket, &site)
                .await
                .map(drop)
        }
        Command::Promote { canary, finish } => {
            let how = match (canary, finish) {
                (_, true) => Promotion::Finish,
                (Some(pct), false) => Promotion::Canary(pct),
                (None, false) => Promotion::Now,
            };
            promote::promote(&function, services, how).await
        }
        Command::Rollback => promote::rollback(&function, services).await,
        Command::Status => status::status(&function, services).await,
        Command::Prune => prune::prune(&function, services).await,
    }
}
