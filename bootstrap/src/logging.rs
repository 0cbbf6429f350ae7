//! Log output: one JSON object per line on stdout, in every mode, for CloudWatch (Lambda,
//! and ECS's awslogs driver) and for anything else that reads logs by field.
//! `LAMPHP_LOG_FORMAT=text` gives plain lines on stderr instead, for a person at a terminal
//! (colour only there). The level comes from `LAMPHP_LOG` (tracing's filter syntax, default
//! `info`).

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("LAMPHP_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if std::env::var("LAMPHP_LOG_FORMAT").is_ok_and(|f| f == "text") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    } else {
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter(filter)
            .with_writer(std::io::stdout)
            .with_ansi(false)
            .init();
    }
}
