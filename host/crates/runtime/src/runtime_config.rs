//! Settings of the plugin runtime: how much a plugin may use.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Limits applied to every export a plugin runs.
///
/// The defaults are sized for the built-in formats with head-room: CSV and
/// JSON stay under 4 MiB of guest memory, XLSX and PDF under 32 MiB.
///
/// The service's `[sandbox]` settings: sizes are written like `128MiB`,
/// times like `10s` (see `exporter_settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxLimits {
    /// Linear memory a plugin instance may grow to. 128 MiB: a streaming
    /// formatter needs a few MiB; anything near this cap is a leak.
    #[serde(with = "exporter_settings::bytes")]
    pub memory_bytes: usize,
    /// Wall time one guest call (`open`, `write-batch`, `finish`) may take.
    /// A batch of a few thousand rows takes milliseconds; 10 s only trips on
    /// a plugin that is stuck.
    #[serde(with = "exporter_settings::duration")]
    pub call_timeout: Duration,
    /// Wall time all guest calls of one export may take together. Time spent
    /// in the host (the query, the upload) does not count.
    #[serde(with = "exporter_settings::duration")]
    pub export_timeout: Duration,
    /// Bytes a plugin may emit for one export: a runaway plugin cannot fill
    /// the blob store. 64 GiB is far above any legitimate export.
    #[serde(with = "exporter_settings::bytes")]
    pub max_output_bytes: u64,
    /// Largest single chunk a plugin may hand to `sink.write`. Chunks are
    /// copied out of guest memory, so this bounds a host-side allocation.
    #[serde(with = "exporter_settings::bytes")]
    pub max_chunk_bytes: usize,
    /// Bytes of plugin stderr kept per export for the log and for error
    /// messages (a panic message lands there).
    #[serde(with = "exporter_settings::bytes")]
    pub stderr_bytes: usize,
    /// Wall time the writer's destructor may take after `finish`; it counts
    /// against `export_timeout` too. Dropping state takes microseconds.
    #[serde(with = "exporter_settings::duration")]
    pub drop_timeout: Duration,
    /// `sink.log` lines kept per export; later ones are dropped with one
    /// warning.
    pub max_log_lines: u32,
    /// Bytes of `sink.log` text kept per export (after each line is cut to
    /// 4 KiB), so a chatty plugin cannot fill the host's log.
    #[serde(with = "exporter_settings::bytes")]
    pub max_log_bytes: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 128 << 20,
            call_timeout: Duration::from_secs(10),
            export_timeout: Duration::from_secs(30 * 60),
            max_output_bytes: 64 << 30,
            max_chunk_bytes: 16 << 20,
            stderr_bytes: 16 << 10,
            drop_timeout: Duration::from_secs(1),
            max_log_lines: 1_000,
            max_log_bytes: 256 << 10,
        }
    }
}

impl SandboxLimits {
    /// What makes no sense as a limit: a zero memory, time, output or
    /// chunk would fail every export. Zero stderr or log bytes (or lines)
    /// is fine: nothing is kept.
    pub fn validate(&self) -> Result<(), exporter_settings::Invalid> {
        exporter_settings::first_invalid([
            (
                "memory_bytes",
                self.memory_bytes >= 64 << 10,
                "at least 64KiB (one WebAssembly page)",
            ),
            ("call_timeout", !self.call_timeout.is_zero(), "positive"),
            ("export_timeout", !self.export_timeout.is_zero(), "positive"),
            ("max_output_bytes", self.max_output_bytes > 0, "positive"),
            ("max_chunk_bytes", self.max_chunk_bytes > 0, "positive"),
            ("drop_timeout", !self.drop_timeout.is_zero(), "positive"),
        ])
    }
}

/// Settings of the engine shared by every plugin.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where precompiled artifacts are cached (keyed by component hash and
    /// engine). `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Instances that may run at once. With the pooling allocator this
    /// reserves (but does not commit) address space for each slot.
    pub max_concurrent_exports: u32,
    /// Epoch tick: the granularity of timeouts. 10 ms keeps the ticker's
    /// cost invisible while a stuck plugin is stopped promptly.
    pub epoch_tick: Duration,
    /// Use the pooling allocator (fast instantiation). Turn off only on
    /// hosts that limit virtual address space.
    pub pooling: bool,
    /// Default limits for exports; callers may tighten them per export.
    pub limits: SandboxLimits,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_concurrent_exports: 64,
            epoch_tick: Duration::from_millis(10),
            pooling: true,
            limits: SandboxLimits::default(),
        }
    }
}
