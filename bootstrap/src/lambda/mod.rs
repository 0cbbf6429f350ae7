//! Lambda mode: HTTP events (ALB, API Gateway, Function URLs) through the Runtime API,
//! answered by the same core as `serve`.
//!
//! Init resolves the site ([`config`]), starts php-fpm (one worker: Lambda sends one
//! request at a time; on Managed Instances, one per request it may send at once) while it
//! checks the rest, and reports any failure through `/runtime/init/error` ([`init_error`])
//! so the user reads why. Then `lambda_runtime` polls for events (with as many pollers as
//! `AWS_LAMBDA_MAX_CONCURRENCY` says) and [`invocation`] answers each ([`stream`] the ones
//! it streams).

pub mod config;
pub mod deadline;
pub mod event;
pub mod fit;
pub mod init_error;
pub mod invocation;
pub mod offload;
pub mod shrink;
pub mod stream;

use crate::app::{App, Settings};
use crate::docroot::FsDocroot;
use crate::fpm::FpmConfig;
use crate::php::Php;
use crate::release::{opcache, Releases};
use anyhow::{anyhow, bail, Context, Result};
use invocation::Invoker;
use lambda_runtime::tower;
use offload::Offload;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Lambda mode's settings (the binary fills them from flags and `LAMPHP_*`).
#[derive(Debug, Clone)]
pub struct LambdaSettings {
    pub fpm: FpmConfig,
    pub core: Settings,
    /// Time kept back before the invocation's deadline.
    pub margin: Duration,
    pub offload_bucket: Option<String>,
    pub max_response: usize,
    /// PHP sessions in DynamoDB, when a table is configured.
    pub sessions: Option<crate::sessions::SessionSettings>,
    /// Requests the sandbox serves at once: above 1 on Lambda Managed Instances, with as
    /// many pollers and PHP workers.
    pub concurrency: u32,
    /// `LAMPHP_RESPONSE_MODE`: whether Function URL and API Gateway answers stream.
    pub response_mode: stream::ResponseMode,
}

/// Run the Runtime API loop until Lambda stops the sandbox.
pub async fn run(settings: LambdaSettings) -> Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .context("AWS_LAMBDA_RUNTIME_API is not set: this is not a Lambda sandbox (use `bootstrap serve` or `bootstrap local`)")?;
    let mode = settings.response_mode;
    let invoker = match init(settings).await {
        Ok(invoker) => Arc::new(invoker),
        Err(e) => {
            tracing::error!("init failed: {e:#}");
            if let Err(report) = init_error::report(&api, &e).await {
                tracing::error!("reporting the init error failed too: {report:#}");
            }
            return Err(e);
        }
    };
    let streaming = (mode == stream::ResponseMode::Streaming)
        .then(|| stream::StreamLayer::new(invoker.clone(), &api));
    let handler = lambda_runtime::service_fn(move |event| Arc::clone(&invoker).invoke(event));
    // What `lambda_runtime::run_concurrent` does (as many `/next` polls as
    // AWS_LAMBDA_MAX_CONCURRENCY says; one without it), with the streaming layer inside its
    // tracing one.
    lambda_runtime::Runtime::new(handler)
        .layer(tower::util::option_layer(streaming))
        .layer(lambda_runtime::layers::TracingLayer::new())
        .run_concurrent()
        .await
        .map_err(|e| anyhow!("the Runtime API loop stopped: {e}"))
}

async fn init(settings: LambdaSettings) -> Result<Invoker> {
    let env = config::SiteEnv::from_env();
    let mut fpm = settings.fpm.clone();
    if let Some(release) = &env.release {
        opcache::serve_from(&mut fpm, &env.releases_dir(), release);
    }
    // php-fpm's start-up is most of a cold start; the checks below run meanwhile.
    let php = tokio::spawn(Php::start(fpm, settings.sessions.clone()));
    let checked = check(&settings, &env).await;
    let Php {
        fpm,
        client,
        session_deadline,
    } = php.await.context("starting php-fpm")??;
    let (docroot, offload) = match checked {
        Ok(checked) => checked,
        Err(e) => {
            fpm.shutdown().await;
            return Err(e);
        }
    };
    let app =
        docroot.map(|docroot| App::new(FsDocroot::new(docroot), client, settings.core.clone()));
    Ok(Invoker {
        app,
        releases: Releases {
            dir: env.releases_dir(),
            serving: env.release,
            php: settings.fpm.clone(),
        },
        fpm,
        offload,
        margin: settings.margin,
        fallback_timeout: settings.core.timeout,
        max_response: settings.max_response,
        warned_deadline: AtomicBool::new(false),
        // Several requests have several deadlines: the leases follow the timeout then.
        session_deadline: session_deadline.filter(|_| settings.concurrency == 1),
        concurrent: settings.concurrency > 1,
    })
}

/// Everything but php-fpm: the environment `lambda_runtime` insists on, the site (none
/// yet, on a function set up for releases that has not had one), the offload bucket.
async fn check(
    settings: &LambdaSettings,
    env: &config::SiteEnv,
) -> Result<(Option<PathBuf>, Option<Offload>)> {
    // lambda_runtime panics without these; a clear init error is kinder.
    for name in [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
    ] {
        if std::env::var_os(name).is_none() {
            bail!("{name} is not set; Lambda sets it in every sandbox (an emulator must too)");
        }
    }
    let docroot = match docroot(env) {
        Ok(docroot) => Some(docroot),
        // The first `lamphp deploy` needs a running function to unpack its release.
        Err(e) if env.release.is_none() && env.releases.is_some() => {
            tracing::warn!(
                "{e:#}; HTTP requests get 503 until `lamphp deploy` sets LAMPHP_RELEASE"
            );
            None
        }
        Err(e) => return Err(e),
    };
    let offload = settings.offload_bucket.clone().map(Offload::new);
    Ok((docroot, offload))
}

/// The site's document root, checked to exist with its front controller.
fn docroot(env: &config::SiteEnv) -> Result<PathBuf> {
    let site = config::site(env)?;
    if let Some(release) = &site.release {
        if !release.is_dir() {
            bail!(
                "the release {} (LAMPHP_RELEASE) is not in {}: deploy it with `lamphp deploy`, or point LAMPHP_RELEASES at the directory it is in",
                env.release.as_deref().unwrap_or_default(),
                env.releases_dir().display()
            );
        }
    }
    let docroot = std::fs::canonicalize(&site.docroot).with_context(|| {
        format!(
            "the document root {} cannot be used",
            site.docroot.display()
        )
    })?;
    if let Some(front) = &site.front_controller {
        if !front.is_file() {
            bail!(
                "the front controller {} named by the Handler does not exist",
                front.display()
            );
        }
    }
    Ok(docroot)
}
