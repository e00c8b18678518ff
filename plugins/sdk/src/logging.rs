//! The host's log.

use std::fmt;

use crate::bindings::exporter::formatter::types as wit;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Step-by-step detail.
    Trace,
    /// Detail for debugging.
    Debug,
    /// Normal operation worth noting.
    Info,
    /// Something unexpected the format worked around.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// The level's name, e.g. `warn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Level> for wit::Level {
    fn from(level: Level) -> Self {
        match level {
            Level::Trace => wit::Level::Trace,
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
        }
    }
}

/// Send a line to the host's log, tagged with the export, tenant and
/// plugin. The host may rate-limit or truncate lines, so log per export or
/// per batch, not per row.
///
/// Outside a component (native unit tests) the line goes to stderr.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::exporter::formatter::sink::log(level.into(), message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level}] {message}");
}
