//! The `lamphp` binary: deploy, promote, rollback, status, prune.

use clap::{Parser, Subcommand};
use lamphp_release::function::Function;
use lamphp_release::promote::Promotion;
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bundle a site, unpack it on EFS as a new release, point $LATEST (staging) at it.
    Deploy {
        /// The site directory (with the front controller the Handler names, e.g. public/index.php).
        #[arg(long)]
        site: PathBuf,
        /// The S3 bucket bundles are uploaded to (releases/<id>.tar.gz).
        #[arg(long, env = "LAMPHP_RELEASE_BUCKET")]
        bucket: String,
    },
    /// Publish what $LATEST serves as a version and move `live` (production) to it.
    Promote {
        /// Send only this percentage of production's requests to it (1-99).
        #[arg(long, conflicts_with = "finish")]
        canary: Option<u8>,
        /// Move all of `live` to the canary.
        #[arg(long)]
        finish: bool,
    },
    /// Move `live` back to the version it served before (or drop a canary).
    Rollback,
    /// Show the version and release staging and production serve.
    Status,
    /// Delete the releases on EFS that neither $LATEST nor any version refers to.
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
    match cli.command {
        Command::Deploy { site, bucket } => {
            deploy::deploy(&function, &aws::s3(&config), &bucket, &site)
                .await
                .map(drop)
        }
        Command::Promote { canary, finish } => {
            let how = match (canary, finish) {
                (_, true) => Promotion::Finish,
                (Some(pct), false) => Promotion::Canary(pct),
                (None, false) => Promotion::Now,
            };
            promote::promote(&function, how).await
        }
        Command::Rollback => promote::rollback(&function).await,
        Command::Status => status::status(&function).await,
        Command::Prune => prune::prune(&function).await,
    }
}
