//! What can go wrong when the host runs a plugin, sorted by who is at fault.

use std::fmt;
use std::time::Duration;

/// A plugin version as users see it: `csv@1.0.0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PluginId {
    pub name: String,
    pub version: String,
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// The guest call that was running when something went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Instantiate,
    Info,
    Open,
    WriteBatch,
    Finish,
    /// Dropping the writer after `finish`: the guest's destructor.
    Drop,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Call::Instantiate => "instantiate",
            Call::Info => "info",
            Call::Open => "open",
            Call::WriteBatch => "write-batch",
            Call::Finish => "finish",
            Call::Drop => "the writer's destructor",
        })
    }
}

/// Why a plugin refused an export: the `format-error` it returned on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    InvalidOption,
    UnsupportedSchema,
    InvalidData,
    Other,
}

impl fmt::Display for RefusalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefusalKind::InvalidOption => "invalid option",
            RefusalKind::UnsupportedSchema => "unsupported schema",
            RefusalKind::InvalidData => "invalid data",
            RefusalKind::Other => "error",
        })
    }
}

/// Which time limit a plugin ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLimit {
    /// One guest call took longer than `SandboxLimits::call_timeout`.
    Call,
    /// The guest calls of one export together took longer than
    /// `SandboxLimits::export_timeout`.
    Export,
}

/// An export that a plugin could not complete.
///
/// A refusal (the plugin returned a `format-error`) and a trap (the plugin
/// crashed or was stopped) are different things and stay apart: a refusal's
/// message is the plugin author's, meant for the user; a trap is a fault of
/// the plugin. Neither is worth retrying. Only [`PluginError::Sink`] and
/// [`PluginError::Capacity`] are the host's side and may succeed later.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a component implementing `exporter:formatter/plugin`.
    #[error("{plugin}: not a formatter plugin: {reason}")]
    InvalidComponent { plugin: String, reason: String },

    /// `info()` returned something the host cannot use.
    #[error("{plugin}: invalid format info: {reason}")]
    InvalidInfo { plugin: String, reason: String },

    /// The plugin returned a `format-error`.
    #[error("{plugin} refused the export ({kind}): {message}")]
    Refused {
        plugin: PluginId,
        call: Call,
        kind: RefusalKind,
        message: String,
    },

    /// The plugin trapped: a panic, an `unreachable`, a bad memory access.
    #[error("{plugin} crashed during {call}: {message}")]
    Trapped {
        plugin: PluginId,
        call: Call,
        message: String,
    },

    /// The plugin asked for more memory than its sandbox allows.
    #[error(
        "{plugin} ran out of memory during {call}: it asked for {requested} bytes, the limit is {limit} bytes"
    )]
    OutOfMemory {
        plugin: PluginId,
        call: Call,
        requested: usize,
        limit: usize,
    },

    /// The plugin ran out of time and was stopped.
    #[error("{plugin} was stopped during {call}: it exceeded the {} time limit of {limit:?}", match .scope { TimeLimit::Call => "per-call", TimeLimit::Export => "per-export" })]
    Timeout {
        plugin: PluginId,
        call: Call,
        scope: TimeLimit,
        limit: Duration,
    },

    /// The plugin wrote more bytes than one export may produce.
    #[error("{plugin} was stopped during {call}: its output exceeded the limit of {limit} bytes")]
    OutputLimit {
        plugin: PluginId,
        call: Call,
        limit: u64,
    },

    /// The plugin broke the contract in a way the host detected.
    #[error("{plugin} produced invalid output during {call}: {reason}")]
    InvalidOutput {
        plugin: PluginId,
        call: Call,
        reason: String,
    },

    /// The destination of the bytes failed (upload, file, cancelled export).
    /// Not the plugin's fault.
    #[error("writing {plugin}'s output failed during {call}: {source:#}")]
    Sink {
        plugin: PluginId,
        call: Call,
        source: anyhow::Error,
    },

    /// Every instance slot is busy; try again shortly.
    #[error("no sandbox slot free for {plugin}: {reason}")]
    Capacity { plugin: PluginId, reason: String },

    /// A fault of the host itself.
    #[error("runtime failure while running {plugin}: {source:#}")]
    Host {
        plugin: String,
        source: anyhow::Error,
    },
}

impl PluginError {
    /// Whether running the same export again could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PluginError::Sink { .. } | PluginError::Capacity { .. }
        )
    }

    /// A short stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::InvalidComponent { .. } => "invalid-component",
            PluginError::InvalidInfo { .. } => "invalid-info",
            PluginError::Refused { .. } => "refused",
            PluginError::Trapped { .. } => "trapped",
            PluginError::OutOfMemory { .. } => "out-of-memory",
            PluginError::Timeout { .. } => "timeout",
            PluginError::OutputLimit { .. } => "output-limit",
            PluginError::InvalidOutput { .. } => "invalid-output",
            PluginError::Sink { .. } => "sink",
            PluginError::Capacity { .. } => "capacity",
            PluginError::Host { .. } => "host",
        }
    }
}
