//! Shutdown on SIGTERM (ECS, Lambda extensions) or SIGINT (Ctrl-C).

use tokio::signal::unix::{signal, SignalKind};

/// Resolves at the first SIGTERM or SIGINT.
pub async fn shutdown() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; shut down with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
