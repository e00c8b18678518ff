//! Tracing set-up: human-readable lines on stderr, filtered by
//! `EXPORTER_LOG` (or `RUST_LOG`), e.g. `EXPORTER_LOG=exporter=debug,plugin=info`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `default` applies when no filter is set.
pub fn init(default: &str) {
    let filter = std::env::var("EXPORTER_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}
