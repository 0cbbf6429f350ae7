//! Log output. `serve`: plain lines on stderr, colour only on a terminal. Lambda: one
//! JSON object per line on stdout, no colour, for CloudWatch. The level comes from
//! `LAMPHP_LOG` (tracing's filter syntax, default `info`).

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_env("LAMPHP_LOG").unwrap_or_else(|_| EnvFilter::new("info"))
}

pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

pub fn init_json() {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter())
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .init();
}
