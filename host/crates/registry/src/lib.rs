//! The plugin registry: every formatter version installed, which one each
//! format runs, and hot swap.
//!
//! A version is name + semver + sha256 of its component. The component
//! lives in the blob store and its metadata in the database, so every
//! process sees the same registry. Installing validates first
//! ([`validate`]); activating swaps the [`FormatRegistry`]'s set atomically,
//! here at once and in every other process within a poll interval
//! ([`sync`]). An export holds the [`Formatter`] it started with, so it
//! finishes on that version whatever is activated meanwhile.
//!
//! # Layout
//! - `registry`: [`PluginRegistry`], the registry of one process: loaded
//!   versions, activation, canaries, deletion, listing.
//! - `install`: an install, from the bytes to a recorded version.
//! - `views` (who installs, which version, what an install returns),
//!   `error`, `settings`: the types callers use.
//! - `store`: the two tables, SQL for both engines, and
//!   [`VersionStatus`].
//! - `validate`: install-time checks and their report.
//! - `isolated`: runs `validate` in a child process, within a time budget
//!   and a memory limit, one validation at a time.
//! - `sync`: loads what the tables say is active, in the background.
//! - `builtin`: the shipped plugins, registered at start-up.
//! - `inbox`: the watched directory.
//! - `health`: counts exports a version failed; rolls back one that keeps
//!   trapping.
//! - [`formats`]: the versions in use, by format name, swapped atomically.
//!
//! Imports the runtime, the kit, the stores and metrics; never jobs or the
//! API.

mod builtin;
mod error;
pub mod formats;
mod health;
mod inbox;
mod install;
mod isolated;
mod registry;
mod settings;
mod store;
mod sync;
mod validate;
mod views;

pub use error::RegistryError;
pub use inbox::run_inbox;
pub use isolated::Line as IsolatedLine;
pub use registry::PluginRegistry;
pub use settings::RegistrySettings;
pub use store::{ActivationRecord, GLOBAL_SCOPE, RegistryStore, VersionRecord, VersionStatus};
pub use sync::run_sync;
pub use validate::validate as validate_component;
pub use validate::{CONTRACT, ComponentFacts, InstallReport, ValidationSettings};
pub use views::{Installed, Installer, Selector, VersionView};
