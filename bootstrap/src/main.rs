//! The `bootstrap` binary. With no arguments inside a Lambda sandbox it runs the Runtime
//! API loop (`lambda`); `serve` runs a site over HTTP; `local` emulates an ALB in front
//! of the Lambda loop, for trying a site locally; `container` is the image's entry point,
//! choosing between `lambda` and `serve` as the image is run; `sendmail` is PHP's
//! `sendmail_path` with `LAMPHP_MAIL=ses` ([`lamphp::mail`]), its own sendmail-style
//! command line read without clap.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lamphp::app::{App, Settings};
use lamphp::docroot::FsDocroot;
use lamphp::fpm::{Backend, FpmConfig};
use lamphp::health::Health;
use lamphp::lambda::config::{site, SiteEnv};
use lamphp::lambda::LambdaSettings;
use lamphp::local::{LocalSettings, LocalSite};
use lamphp::origin::TrustedProxies;
use lamphp::php::Php;
use lamphp::serve::Site;
use lamphp::sessions::SessionSettings;
use lamphp::sites::SiteSpec;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    version,
    about = "Runs a PHP site through php-fpm exactly as nginx would"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the site over HTTP/1.1 (the ECS container path, and local use).
    Serve(ServeArgs),
    /// Run the Lambda Runtime API loop (what `bootstrap` does by itself on Lambda).
    Lambda(LambdaArgs),
    /// Emulate an ALB in front of the Lambda loop, locally (no Docker, no AWS).
    Local(LocalArgs),
    /// Ask the `serve` at --listen (on loopback if unspecified) for its health check: exit 0
    /// when healthy (a container's health check command).
    Health(HealthArgs),
    /// A container image's entry point: the Runtime API loop in a Lambda sandbox, whatever
    /// follows (Lambda passes the image's CMD); elsewhere (ECS, `docker run`) the command
    /// that follows, `serve` when none does.
    Container {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<OsString>,
    },
}

/// The arguments a `container` entry point runs with: a Lambda sandbox gets the Runtime
/// API loop (its CMD is only the image's "handler"), anything else the command given.
fn container_args(program: OsString, command: Vec<OsString>, on_lambda: bool) -> Vec<OsString> {
    let command = match command {
        _ if on_lambda => vec!["lambda".into()],
        c if c.is_empty() => vec!["serve".into()],
        c => c,
    };
    std::iter::once(program).chain(command).collect()
}

#[derive(clap::Args)]
struct HealthArgs {
    /// The `serve` to ask (an unspecified address is asked on loopback).
    #[command(flatten)]
    endpoint: Endpoint,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

/// Which site: shared by `serve` and `local`.
#[derive(clap::Args)]
struct SiteArgs {
    /// The document root: where index.php and the static files are [env: LAMPHP_ROOT, where
    /// empty is unset]. A release, when one is named, wins over it, as on Lambda.
    #[arg(long)]
    root: Option<PathBuf>,
    /// The release to serve, from LAMPHP_RELEASES (default /mnt/site/releases): its
    /// directory takes the task root's place.
    #[arg(long, env = "LAMPHP_RELEASE")]
    release: Option<String>,
    /// The front controller relative to the release, like the function's Handler.
    #[arg(long, env = "_HANDLER", default_value = "public/index.php")]
    handler: String,
}

impl SiteArgs {
    /// `--root`, else `LAMPHP_ROOT` unless it is empty: an empty variable is how an ECS task
    /// unsets the container image's default root to serve a release (clap would refuse it).
    fn root(&self) -> Option<PathBuf> {
        self.root.clone().or_else(|| {
            std::env::var_os("LAMPHP_ROOT")
                .filter(|r| !r.is_empty())
                .map(PathBuf::from)
        })
    }
}

#[derive(clap::Args)]
struct LocalArgs {
    #[command(flatten)]
    site: SiteArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Emulate a target group without `lambda.multi_value_headers.enabled`.
    #[arg(long, conflicts_with = "function_url")]
    single_value: bool,
    /// Emulate a Function URL instead of an ALB, in its BUFFERED invoke mode (`buffered`)
    /// or its RESPONSE_STREAM one (`streaming`: the sandboxes run with
    /// LAMPHP_RESPONSE_MODE=streaming, and what PHP flushes reaches the client at once).
    #[arg(
        long = "function-url",
        env = "LAMPHP_LOCAL_FUNCTION_URL",
        value_name = "MODE"
    )]
    function_url: Option<lamphp::lambda::stream::ResponseMode>,
    /// The function's timeout in seconds (each invocation's deadline), 1 to 900 as on Lambda.
    #[arg(long = "function-timeout", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=900))]
    function_timeout: u64,
    /// Lambda sandboxes serving at once, each its own `bootstrap lambda`, php-fpm and /tmp,
    /// one request at a time [default: 4, enough for a page that requests its own site
    /// while it runs, as WordPress's installer and site health do; 1 with --max-concurrency].
    #[arg(long, env = "LAMPHP_LOCAL_SANDBOXES", value_parser = clap::value_parser!(u16).range(1..=64))]
    sandboxes: Option<u16>,
    /// Emulate Lambda Managed Instances: each sandbox takes up to N invocations at once (its
    /// runtime gets AWS_LAMBDA_MAX_CONCURRENCY=N).
    #[arg(long = "max-concurrency", env = "LAMPHP_LOCAL_MAX_CONCURRENCY", value_parser = clap::value_parser!(u16).range(1..=1024))]
    max_concurrency: Option<u16>,
    /// Private directory for the sandboxes: each gets a `sandbox-N` in it, with its runtime
    /// directory and its /tmp [default: a new one in TMPDIR].
    #[arg(long = "runtime-dir", env = "LAMPHP_RUNTIME_DIR")]
    runtime_dir: Option<PathBuf>,
}

impl LocalArgs {
    /// Four sandboxes: a request and its loopback need two, and a browser loading a page
    /// fetches several of its files at once, each of which the loop serves. A waiting
    /// sandbox costs memory (~20 MB with its php-fpm), not CPU, so cores do not decide it.
    /// Managed Instances are one environment unless asked for more.
    fn sandboxes(&self) -> usize {
        match (self.sandboxes, self.max_concurrency) {
            (Some(n), _) => n.into(),
            (None, Some(_)) => 1,
            (None, None) => 4,
        }
    }
}

#[derive(clap::Args)]
struct ServeArgs {
    /// One site: without --root or --release, LAMBDA_TASK_ROOT's (a container image's
    /// /var/task/public).
    #[command(flatten)]
    site: SiteArgs,
    /// One site of several, chosen by the request's host as nginx's server_name does:
    /// `HOST [HOST...] DOCROOT [BASEDIR]` (repeatable; the first is the default).
    #[arg(long = "site")]
    sites: Vec<String>,
    /// A file of sites, one a line as --site takes them (after those), `#` comments.
    #[arg(long = "sites-file", env = "LAMPHP_SITES")]
    sites_file: Option<PathBuf>,
    #[command(flatten)]
    endpoint: Endpoint,
    #[command(flatten)]
    php: PhpArgs,
    /// Believe X-Forwarded-For/-Proto/-Port from peers in this range (repeatable).
    #[arg(
        long = "trust-proxy",
        env = "LAMPHP_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trust_proxy: Vec<ipnet::IpNet>,
    /// Seconds a request's head may take to arrive, idle kept-alive time included
    /// (nginx's client_header_timeout).
    #[arg(
        long = "header-timeout",
        env = "LAMPHP_HEADER_TIMEOUT",
        default_value_t = 60
    )]
    header_timeout: u64,
    /// Seconds requests in flight may run on after SIGTERM (below ECS's 30 s stop timeout).
    #[arg(
        long = "drain-timeout",
        env = "LAMPHP_DRAIN_TIMEOUT",
        default_value_t = 25
    )]
    drain_timeout: u64,
}

/// Where `serve` listens and answers its health check: `serve` and `health` share it.
#[derive(clap::Args)]
struct Endpoint {
    /// Address to listen on.
    #[arg(long, env = "LAMPHP_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// The health check's path, answered without PHP (empty: none).
    #[arg(
        long = "health-path",
        env = "LAMPHP_HEALTH_PATH",
        default_value = "/_lamphp/health"
    )]
    health_path: String,
}

#[derive(clap::Args)]
struct LambdaArgs {
    #[command(flatten)]
    php: PhpArgs,
    /// Milliseconds kept back before the invocation's deadline to answer in time.
    #[arg(long, env = "LAMPHP_DEADLINE_MARGIN_MS", default_value_t = 500)]
    deadline_margin_ms: u64,
    /// S3 bucket for responses too large for the ALB (GET and HEAD only).
    #[arg(long, env = "LAMPHP_OFFLOAD_BUCKET")]
    offload_bucket: Option<String>,
    /// Largest response body kept in memory, bytes.
    #[arg(long, env = "LAMPHP_MAX_RESPONSE", default_value_t = 64 << 20)]
    max_response: usize,
    /// Requests one sandbox serves at once (Lambda Managed Instances); default
    /// AWS_LAMBDA_MAX_CONCURRENCY, which Lambda sets there, else 1.
    #[arg(long, env = "LAMPHP_CONCURRENCY")]
    concurrency: Option<u32>,
    /// `streaming`: answer Function URL and API Gateway REST events as PHP produces the
    /// response (the trigger must be set to stream); ALB events stay buffered.
    #[arg(long, env = "LAMPHP_RESPONSE_MODE", default_value = "buffered")]
    response_mode: lamphp::lambda::stream::ResponseMode,
}

impl LambdaArgs {
    /// `--concurrency`, else what Lambda says (`AWS_LAMBDA_MAX_CONCURRENCY`), else 1.
    fn concurrency(&self) -> u32 {
        self.concurrency
            .or_else(|| {
                std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
                    .ok()?
                    .parse()
                    .ok()
            })
            .unwrap_or(1)
            .max(1)
    }
}

#[derive(clap::Args)]
struct PhpArgs {
    /// PHP workers (php-fpm's pm = static, php-cgi's PHP_FCGI_CHILDREN); default 2 per
    /// core for serve, 1 on Lambda.
    #[arg(long, env = "LAMPHP_FPM_CHILDREN")]
    workers: Option<usize>,
    /// Recycle a PHP worker after this many requests (0: never).
    #[arg(long, env = "LAMPHP_FPM_MAX_REQUESTS", default_value_t = 0)]
    max_requests: u32,
    /// PHP's FastCGI server: fpm (php-fpm's pool) or cgi (php-cgi -b).
    #[arg(long, env = "LAMPHP_PHP_BACKEND", default_value = "fpm")]
    php_backend: Backend,
    /// The php-fpm binary (default: searched for).
    #[arg(long, env = "LAMPHP_PHP_FPM")]
    php_fpm: Option<PathBuf>,
    /// The php-cgi binary (default: searched for).
    #[arg(long, env = "LAMPHP_PHP_CGI")]
    php_cgi: Option<PathBuf>,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, env = "LAMPHP_MAX_BODY", default_value_t = 64 << 20)]
    max_body: u64,
    /// Seconds a PHP request may take (on Lambda: when the invocation's deadline is
    /// unknown); slower ones get 504.
    #[arg(long, env = "LAMPHP_TIMEOUT", default_value_t = 60)]
    timeout: u64,
    /// Private directory for php-fpm's configuration and socket.
    #[arg(long, env = "LAMPHP_RUNTIME_DIR")]
    runtime_dir: Option<PathBuf>,
    /// DynamoDB table for PHP sessions (default: PHP's own handler, files in /tmp).
    #[arg(long, env = "LAMPHP_SESSION_TABLE")]
    session_table: Option<String>,
    /// Lock sessions as PHP's file handler does: on or off.
    #[arg(long, env = "LAMPHP_SESSION_LOCKING")]
    session_locking: Option<String>,
    /// Seconds a request waits for a session another request has locked.
    #[arg(long, env = "LAMPHP_SESSION_LOCK_WAIT", default_value_t = 10)]
    session_lock_wait: u64,
    /// PHP's mail(): `ses` sends through Amazon SES (`bootstrap sendmail` as PHP's
    /// sendmail_path); unset, PHP's own sendmail_path.
    #[arg(long, env = "LAMPHP_MAIL")]
    mail: Option<String>,
}

impl PhpArgs {
    fn fpm(&self, default_workers: usize, terminate_after: Option<Duration>) -> Result<FpmConfig> {
        Ok(FpmConfig {
            backend: self.php_backend,
            binary: match self.php_backend {
                Backend::Fpm => self.php_fpm.clone(),
                Backend::Cgi => self.php_cgi.clone(),
            },
            children: self.workers.unwrap_or(default_workers),
            max_requests: self.max_requests,
            runtime_dir: self.runtime_dir.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("lamphp-{}", std::process::id()))
            }),
            ini: self.mail_ini()?,
            terminate_after,
            kill_timed_out: false,
            startup_ini: Vec::new(),
        })
    }

    /// With `LAMPHP_MAIL=ses`, PHP's sendmail_path is this binary's `sendmail`.
    fn mail_ini(&self) -> Result<Vec<(String, String)>> {
        match self.mail.as_deref().map(str::trim) {
            None | Some("") => Ok(Vec::new()),
            Some("ses") => {
                let exe = std::env::current_exe().context("finding this binary for sendmail_path")?;
                let path = lamphp::mail::sendmail_path(&exe).map_err(anyhow::Error::msg)?;
                Ok(vec![("sendmail_path".to_owned(), path)])
            }
            Some(other) => anyhow::bail!(
                "LAMPHP_MAIL is {other:?}: `ses` (mail() through Amazon SES), or unset for PHP's own"
            ),
        }
    }

    /// The session settings, if a table is configured. A lock's lease, when no deadline
    /// is set, outlasts the script: php-fpm stops it a second after the timeout (and a
    /// one-request Lambda sandbox restarts PHP at its deadline).
    fn sessions(&self) -> Result<Option<SessionSettings>> {
        let Some(table) = self.session_table.clone().filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(SessionSettings {
            table,
            locking: lamphp::sessions::locking_from(self.session_locking.as_deref())?,
            lock_wait: Duration::from_secs(self.session_lock_wait),
            timeout: Duration::from_secs(self.timeout + 2),
            site: None,
        }))
    }

    fn settings(&self) -> Settings {
        Settings {
            max_body: self.max_body,
            timeout: Duration::from_secs(self.timeout),
        }
    }
}

fn main() -> std::process::ExitCode {
    // A short-lived child of a PHP worker: nothing of the rest runs. Its flags (-fsender,
    // -oi, -odb) are not clap's shapes; its own parser reads them.
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "sendmail") {
        return lamphp::mail::main(args.split_off(2));
    }
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // A line like every other one once logging is set up; plain before that
            // (`container container`) and for `health`, whose output a person reads.
            if tracing::dispatcher::has_been_set() {
                tracing::error!("{e:#}");
            } else {
                eprintln!("Error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    tune_malloc();
    raise_fd_limit();
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let mut args: Vec<_> = std::env::args_os().collect();
    if args.len() == 1 && on_lambda {
        args.push("lambda".into());
    }
    let program = args[0].clone();
    let mut cli = Cli::parse_from(args);
    if let Command::Container { command } = cli.command {
        cli = Cli::parse_from(container_args(program, command, on_lambda));
        if let Command::Container { .. } = cli.command {
            anyhow::bail!("`container container` runs nothing: name the command to run");
        }
    }
    if let Command::Health(args) = &cli.command {
        let timeout = Duration::from_secs(args.timeout);
        let Endpoint {
            listen,
            health_path,
        } = &args.endpoint;
        return lamphp::health::probe(*listen, health_path, timeout);
    }
    lamphp::logging::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Lambda(args) => {
            if args.concurrency.is_some() {
                // lambda_runtime runs as many pollers as this says. No other thread that
                // could read the environment runs yet (the runtime's workers idle).
                std::env::set_var("AWS_LAMBDA_MAX_CONCURRENCY", args.concurrency().to_string());
            }
            runtime.block_on(lamphp::lambda::run(lambda_settings(&args)?))
        }
        Command::Local(args) => {
            let site = match (args.site.root(), &args.site.release) {
                (Some(root), None) => {
                    LocalSite::Root(std::fs::canonicalize(&root).with_context(|| {
                        format!("document root {} (--root / LAMPHP_ROOT)", root.display())
                    })?)
                }
                (_, Some(release)) => LocalSite::Release {
                    release: release.clone(),
                    handler: args.site.handler.clone(),
                },
                (None, None) => anyhow::bail!("which site? pass --root DIR or --release ID"),
            };
            let settings = LocalSettings {
                site,
                listen: args.listen,
                multi_value: !args.single_value,
                function_url: args.function_url,
                timeout: Duration::from_secs(args.function_timeout),
                sandboxes: args.sandboxes(),
                max_concurrency: args.max_concurrency.map(usize::from),
                runtime_dir: args.runtime_dir.clone().unwrap_or_else(|| {
                    std::env::temp_dir().join(format!("lamphp-local-{}", std::process::id()))
                }),
            };
            runtime.block_on(lamphp::local::run(settings, lamphp::signals::shutdown()))
        }
        Command::Container { .. } => unreachable!("replaced by the command it runs"),
        Command::Health(_) => unreachable!("answered before the runtime starts"),
    }
}

/// glibc gives the top of a thread's heap back to the kernel (madvise) as soon as more
/// than 128 KiB is free there, and serves allocations over 128 KiB with fresh mmaps:
/// each response body of a few hundred KiB then costs a syscall and a page fault per
/// 4 KiB, every time (measured: a 100 KB static file at half nginx's rate). Keeping up
/// to 1 MiB per arena costs little memory and removes that.
fn tune_malloc() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Every connection is a file descriptor, and the soft limit (often 1024, as in ECS's
/// default) would refuse connections long before memory runs out: take the hard limit,
/// as Go's runtime does for every program.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: get/setrlimit on a struct we own; failure leaves the limit as it was.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn lambda_settings(args: &LambdaArgs) -> Result<LambdaSettings> {
    let concurrency = args.concurrency();
    let timeout = Duration::from_secs(args.php.timeout);
    let fpm = if concurrency == 1 {
        // One worker: Lambda sends a sandbox one request at a time. A stuck one is
        // restarted by the invocation that gave up on it. The session leases follow each
        // invocation's deadline.
        args.php.fpm(1, None)?
    } else {
        // Managed Instances: `serve`'s model behind the Runtime API. A worker per
        // request in flight; a request gets at most LAMPHP_TIMEOUT, its worker killed
        // when it is given up on (php-fpm's own limit a second later catches the rest),
        // so that the leases of sessions, which cannot follow several deadlines, outlast
        // every script.
        let mut fpm = args
            .php
            .fpm(concurrency as usize, Some(timeout + Duration::from_secs(1)))?;
        fpm.kill_timed_out = true;
        fpm
    };
    Ok(LambdaSettings {
        fpm,
        core: args.php.settings(),
        margin: Duration::from_millis(args.deadline_margin_ms),
        offload_bucket: args.offload_bucket.clone(),
        max_response: args.max_response,
        sessions: args.php.sessions()?,
        concurrency,
        response_mode: args.response_mode,
    })
}

async fn serve(args: ServeArgs) -> Result<()> {
    let specs = site_specs(&args)?;
    let listener = tokio::net::TcpListener::bind(args.endpoint.listen)
        .await
        .with_context(|| {
            format!(
                "listening on {} (--listen / LAMPHP_LISTEN)",
                args.endpoint.listen
            )
        })?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // We answer 504 at the timeout; php-fpm stops the script a moment later.
    let terminate_after = Some(Duration::from_secs(args.php.timeout + 1));
    let config = args.php.fpm(2 * cores, terminate_after)?;
    let sessions = args.php.sessions()?;
    let settings = args.php.settings();
    let started = match specs {
        None => vec![Hosted::start_one(&args.site, settings, config.clone(), sessions).await?],
        Some(specs) => {
            let starts = specs.into_iter().enumerate().map(|(i, spec)| {
                let (config, sessions) = (config.clone(), sessions.clone());
                Hosted::start_named(i, spec, settings.clone(), config, sessions)
            });
            futures_util::future::try_join_all(starts).await?
        }
    };
    let health = Health::new(
        &args.endpoint.health_path,
        started.iter().map(|h| h.fpm.pool()).collect(),
    );
    let mut fpms = Vec::new();
    let mut sites = Vec::new();
    for hosted in started {
        tracing::info!(
            site = hosted.site.name,
            "serving {} on http://{} with {} {} workers",
            hosted.docroot.display(),
            listener.local_addr()?,
            config.children,
            args.php.php_backend.name(),
        );
        fpms.push(hosted.fpm);
        sites.push((hosted.names, hosted.site));
    }
    let sites = Arc::new(lamphp::sites::ServerNames::new(sites)?);
    let options = lamphp::serve::Options {
        trusted: TrustedProxies::new(args.trust_proxy),
        header_timeout: Duration::from_secs(args.header_timeout),
        drain_timeout: Duration::from_secs(args.drain_timeout),
        health,
    };
    lamphp::serve::run(sites, listener, options, lamphp::signals::shutdown()).await;
    futures_util::future::join_all(fpms.into_iter().map(|fpm| fpm.shutdown())).await;
    Ok(())
}

/// The sites `--site` and the sites file name, in that order; `None` for one site.
fn site_specs(args: &ServeArgs) -> Result<Option<Vec<SiteSpec>>> {
    let mut specs = args
        .sites
        .iter()
        .map(|spec| lamphp::sites::parse_site(spec))
        .collect::<Result<Vec<_>, _>>()
        .context("--site")?;
    if let Some(file) = args
        .sites_file
        .as_ref()
        .filter(|f| !f.as_os_str().is_empty())
    {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the sites file {}", file.display()))?;
        let listed = lamphp::sites::parse_file(&text)
            .with_context(|| format!("the sites file {}", file.display()))?;
        specs.extend(listed);
    }
    if specs.is_empty() {
        return Ok(None);
    }
    if args.site.root().is_some() || args.site.release.is_some() {
        tracing::info!("the sites are those of --site / LAMPHP_SITES: LAMPHP_ROOT and LAMPHP_RELEASE are not used");
    }
    Ok(Some(specs))
}

/// A site with its PHP running.
struct Hosted {
    names: Vec<String>,
    docroot: PathBuf,
    site: Site,
    fpm: lamphp::fpm::Fpm,
}

impl Hosted {
    /// The one site of --root, --release or the task root, with PHP as nginx's reference
    /// runs it: no server names, no isolation to keep.
    async fn start_one(
        args: &SiteArgs,
        settings: Settings,
        mut config: FpmConfig,
        sessions: Option<SessionSettings>,
    ) -> Result<Hosted> {
        let (docroot, what) = match args.root().filter(|_| args.release.is_none()) {
            Some(root) => (
                root.clone(),
                "document root (--root / LAMPHP_ROOT)".to_owned(),
            ),
            None => {
                let mut env = SiteEnv::from_env();
                env.root = None;
                env.release = args.release.clone();
                env.handler = Some(args.handler.clone());
                let found = site(&env)?;
                let what = match &env.release {
                    Some(id) => {
                        lamphp::release::opcache::serve_from(&mut config, &env.releases_dir(), id);
                        format!("document root of release {id} (LAMPHP_RELEASE)")
                    }
                    None => "document root in LAMBDA_TASK_ROOT (no --root, --site or --release)"
                        .to_owned(),
                };
                (found.docroot, what)
            }
        };
        let docroot = canonical(&docroot, &what)?;
        Self::start(Vec::new(), docroot, settings, config, sessions).await
    }

    /// Site `index` of several: its own PHP (so its own opcache), kept to its own files
    /// ([`lamphp::sites::isolation`]) and its own sessions.
    async fn start_named(
        index: usize,
        spec: SiteSpec,
        settings: Settings,
        mut config: FpmConfig,
        sessions: Option<SessionSettings>,
    ) -> Result<Hosted> {
        let name = spec.names[0].clone();
        let docroot = canonical(&spec.docroot, &format!("document root of site {name}"))?;
        let basedir = canonical(&spec.basedir, &format!("base directory of site {name}"))?;
        config.runtime_dir = config.runtime_dir.join(format!("site{index}"));
        let tmp = lamphp::sites::tmp_dir(&config.runtime_dir);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&tmp)
            .with_context(|| {
                format!(
                    "creating site {name}'s temporary directory {}",
                    tmp.display()
                )
            })?;
        config.ini.extend(lamphp::sites::isolation(
            &docroot,
            &basedir,
            &config.runtime_dir,
        ));
        let sessions = sessions.map(|s| SessionSettings {
            site: Some(name.clone()),
            ..s
        });
        Self::start(spec.names, docroot, settings, config, sessions)
            .await
            .with_context(|| format!("starting PHP for site {name}"))
    }

    async fn start(
        names: Vec<String>,
        docroot: PathBuf,
        settings: Settings,
        config: FpmConfig,
        sessions: Option<SessionSettings>,
    ) -> Result<Hosted> {
        let Php { fpm, client, .. } = Php::start(config, sessions).await?;
        let app = App::new(FsDocroot::new(docroot.clone()), client, settings);
        Ok(Hosted {
            site: Site {
                name: names.first().cloned().unwrap_or_default(),
                app,
            },
            names,
            docroot,
            fpm,
        })
    }
}

fn canonical(path: &Path, what: &str) -> Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("{what} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::container_args;
    use std::ffi::OsString;

    #[test]
    fn a_container_runs_the_loop_on_lambda_and_its_command_elsewhere() {
        let args = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        let table: [(&[&str], bool, &[&str]); 5] = [
            (&[], true, &["b", "lambda"]),
            (&["serve"], true, &["b", "lambda"]),
            (&[], false, &["b", "serve"]),
            (
                &["serve", "--workers", "4"],
                false,
                &["b", "serve", "--workers", "4"],
            ),
            (
                &["local", "--root", "/x"],
                false,
                &["b", "local", "--root", "/x"],
            ),
        ];
        for (command, on_lambda, expected) in table {
            assert_eq!(
                container_args("b".into(), args(command), on_lambda),
                args(expected),
                "{command:?} on_lambda={on_lambda}"
            );
        }
    }

    #[test]
    fn local_takes_a_function_url_mode_and_refuses_a_bad_one_or_single_value_with_it() {
        use super::{Cli, Command};
        use clap::Parser;
        use lamphp::lambda::stream::ResponseMode;
        // (arguments after `local --root /x`, the mode, or what the error says)
        type Row<'a> = (&'a [&'a str], Result<Option<ResponseMode>, &'a str>);
        let table: [Row; 5] = [
            (&[], Ok(None)),
            (
                &["--function-url", "streaming"],
                Ok(Some(ResponseMode::Streaming)),
            ),
            (
                &["--function-url", "buffered"],
                Ok(Some(ResponseMode::Buffered)),
            ),
            (&["--function-url", "stream"], Err("is no response mode")),
            (
                &["--function-url", "buffered", "--single-value"],
                Err("cannot be used with"),
            ),
        ];
        for (args, want) in table {
            let words = [&["bootstrap", "local", "--root", "/x"], args].concat();
            let parsed = Cli::try_parse_from(words).map(|cli| match cli.command {
                Command::Local(local) => local.function_url,
                _ => panic!("not local"),
            });
            match (parsed, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{args:?}"),
                (Err(e), Err(says)) => assert!(e.to_string().contains(says), "{args:?}: {e}"),
                (got, want) => panic!(
                    "{args:?}: {:?}, wanted {want:?}",
                    got.map_err(|e| e.to_string())
                ),
            }
        }
    }
}
