//! Tracing set-up: lines on stderr, filtered by `EXPORTER_LOG` (or
//! `RUST_LOG`), e.g. `EXPORTER_LOG=exporter=debug,plugin=info`.
//! `EXPORTER_LOG_FORMAT=json` writes one JSON object per line (with the
//! fields of every enclosing span: a request's id, a job run's job,
//! organization and plugin) for log shippers; `text` (the default) is for
//! people.

use std::io::IsTerminal as _;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// From `EXPORTER_LOG_FORMAT`: `text` (or unset) or `json`.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("EXPORTER_LOG_FORMAT") {
            Err(_) => Ok(LogFormat::Text),
            Ok(value) => match value.trim().to_ascii_lowercase().as_str() {
                "" | "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                other => Err(format!(
                    "EXPORTER_LOG_FORMAT={other:?} is not a log format; use text or json"
                )),
            },
        }
    }
}

/// Installs the global subscriber. `default` applies when no filter is set.
pub fn init(default: &str) {
    let filter = std::env::var("EXPORTER_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let format = LogFormat::from_env().unwrap_or_else(|message| {
        eprintln!("warning: {message}; writing text");
        LogFormat::Text
    });
    // Colours only for a person at a terminal: escape codes in a file or a
    // log shipper's input are noise (and hide guest text that was cleaned
    // of its own escapes).
    let ansi = std::io::stderr().is_terminal();
    // `try_init` also routes the `log` records of dependencies (wasmtime,
    // cranelift) into the subscriber.
    let _ = subscriber(format, filter, ansi, std::io::stderr).try_init();
}

/// The subscriber [`init`] installs, writing to `writer`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    ansi: bool,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(true);
    match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        // Every enclosing span's fields, so a line of a job's run names the
        // job without each event repeating it.
        LogFormat::Json => Box::new(
            builder
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .finish(),
        ),
    }
}
