//! The plugin runtime: format plugins are WebAssembly components that
//! implement the `exporter:formatter` WIT world (`wit/formatter.wit`).
//!
//! Imports no other crate of the host: the stores, the sources, jobs and
//! the API all build on it, never the other way round. The contract's
//! vocabulary (column and option types, the format description, civil-date
//! arithmetic) is `exporter-wit`'s, shared with the plugin SDK.
//!
//! # Layout
//! - `engine`: the shared wasmtime engine, instance pool, epoch ticker and
//!   linker; [`PluginEngine::load`] turns component bytes into a [`Formatter`].
//! - `cache`: compiled artifacts keyed by component hash and engine.
//! - `formatter`: a loaded plugin version and one export running through it
//!   ([`FormatterRun`]).
//! - `sandbox`: what an instance may see (nothing) and use (bounded memory,
//!   fixed clock, seeded randomness, captured stdio).
//! - `wasi_io`: the sandbox's virtual monotonic clock and a `wasi:io/poll`
//!   that never waits, so deadlines hold whatever the guest calls.
//! - `shape`: caps on what a component declares (memories, tables,
//!   instances), checked at load.
//! - `host`: the host side of the `sink` import: output caps and the log.
//! - `info`: the plugin's self-description, bounded, validated and
//!   converted to the shared vocabulary's [`FormatInfo`].
//! - `runtime_config`: limits and engine settings.
//! - [`warnings`]: what a plugin reports changing in the data, counted per
//!   code, bounded.
//! - `text`: [`text::sanitize_guest_text`], the one way guest-supplied text
//!   (messages, logs, descriptions) reaches logs, errors and responses.
//! - `error`: [`PluginError`], sorted by who is at fault.
//! - `bindings`: generated code, private to this crate, and its conversions
//!   to and from the shared vocabulary.
//! - [`batch`]: builds the columnar batches plugins receive, and parses and
//!   formats the contract's date and timestamp columns.

pub mod batch;
mod bindings;
mod cache;
mod engine;
mod error;
mod formatter;
mod host;
mod info;
mod runtime_config;
mod sandbox;
mod shape;
pub mod text;
pub mod warnings;
mod wasi_io;

pub use bindings::{
    Batch, Column, ColumnData, ColumnType, ColumnValues, ExportContext, TextValues,
};
pub use cache::component_digest;
pub use engine::{CONTRACT, PluginEngine, contract_supported};
pub use error::{Call, PluginError, PluginId, RefusalKind, TimeLimit};
/// The shared vocabulary's format description (`exporter-wit`), as the
/// runtime checks and hands it out.
pub use exporter_wit::{FormatInfo, OptionSpec, OptionType};
pub use formatter::{Formatter, FormatterRun, RunStats};
pub use host::{ChunkSink, MemorySink, WriteSink};
pub use runtime_config::{RuntimeConfig, SandboxLimits};
pub use warnings::{Warning, Warnings};

use std::path::{Path, PathBuf};

/// Where the build step (`cargo xtask plugins`) puts the built-in plugins:
/// `$EXPORTER_PLUGINS_DIR`, else `target/plugins` under `$CARGO_TARGET_DIR`
/// or the nearest ancestor of the working directory that has one.
pub fn default_plugins_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EXPORTER_PLUGINS_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Path::new(&target).join("plugins");
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .map(|dir| dir.join("target").join("plugins"))
        .find(|candidate| candidate.is_dir())
        .unwrap_or_else(|| cwd.join("target").join("plugins"))
}
