//! The `bootstrap` binary: `serve` runs a site over HTTP.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lamphp::app::{App, Settings};
use lamphp::docroot::FsDocroot;
use lamphp::fastcgi::Client;
use lamphp::fpm::{Fpm, FpmConfig};
use lamphp::origin::TrustedProxies;
use std::net::SocketAddr;
use std::path::PathBuf;
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
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The document root: where index.php and the static files are.
    #[arg(long, env = "LAMPHP_ROOT")]
    root: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "LAMPHP_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    php: PhpArgs,
    /// Believe X-Forwarded-For/-Proto/-Port from peers in this range (repeatable).
    #[arg(
        long = "trust-proxy",
        env = "LAMPHP_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trust_proxy: Vec<ipnet::IpNet>,
}

#[derive(clap::Args)]
struct PhpArgs {
    /// php-fpm workers (pm = static).
    #[arg(long, env = "LAMPHP_FPM_CHILDREN", default_value_t = default_workers())]
    workers: usize,
    /// Recycle a php-fpm worker after this many requests (0: never).
    #[arg(long, env = "LAMPHP_FPM_MAX_REQUESTS", default_value_t = 0)]
    max_requests: u32,
    /// The php-fpm binary (default: searched for).
    #[arg(long, env = "LAMPHP_PHP_FPM")]
    php_fpm: Option<PathBuf>,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, env = "LAMPHP_MAX_BODY", default_value_t = 64 << 20)]
    max_body: u64,
    /// Seconds a PHP request may take; slower ones get 504.
    #[arg(long, env = "LAMPHP_TIMEOUT", default_value_t = 60)]
    timeout: u64,
    /// Private directory for php-fpm's configuration and socket.
    #[arg(long, env = "LAMPHP_RUNTIME_DIR")]
    runtime_dir: Option<PathBuf>,
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

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

fn main() -> Result<()> {
    tune_malloc();
    lamphp::logging::init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let root = std::fs::canonicalize(&args.root).with_context(|| {
        format!(
            "document root {} (--root / LAMPHP_ROOT)",
            args.root.display()
        )
    })?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {} (--listen / LAMPHP_LISTEN)", args.listen))?;
    let (fpm, app) = start_php(root.clone(), &args.php).await?;
    tracing::info!(
        "serving {} on http://{} with {} php-fpm workers",
        root.display(),
        listener.local_addr()?,
        args.php.workers
    );
    let trusted = TrustedProxies::new(args.trust_proxy);
    lamphp::serve::run(app, listener, trusted, lamphp::signals::shutdown()).await;
    fpm.shutdown().await;
    Ok(())
}

async fn start_php(root: PathBuf, php: &PhpArgs) -> Result<(Fpm, Arc<App>)> {
    let runtime_dir = php
        .runtime_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("lamphp-{}", std::process::id())));
    let fpm = Fpm::start(FpmConfig {
        binary: php.php_fpm.clone(),
        children: php.workers,
        max_requests: php.max_requests,
        runtime_dir,
        ini: Vec::new(),
        // We answer 504 at the timeout; php-fpm stops the script a moment later.
        terminate_after: Some(Duration::from_secs(php.timeout + 1)),
    })
    .await?;
    let client = Client::new(fpm.socket(), php.workers);
    let settings = Settings {
        max_body: php.max_body,
        timeout: Duration::from_secs(php.timeout),
    };
    let app = Arc::new(App::new(FsDocroot::new(root), client, settings));
    Ok((fpm, app))
}
