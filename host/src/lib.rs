//! Exporter: turns a company's data into downloadable files, where every
//! output format is a sandboxed WebAssembly component.
//!
//! # Layout
//! This crate is the product: the `exporter` binary (its command line and
//! the service assembled from the crates below) and the one library the
//! tests, benchmarks and embedders use. The work is done in the crates
//! under `host/crates/`, bottom to top (each imports only crates above it
//! in this list; `docs/architecture.md` draws the graph):
//! - `exporter-settings`: durations and sizes as the settings read them.
//! - `exporter-wit` ([`wit`], in `wit/vocabulary/`): the WIT contract's
//!   vocabulary, shared with the plugin SDK: column and option types, the
//!   format description, civil-date arithmetic.
//! - `exporter-runtime` ([`plugins`], [`batch`]): the formatter plugin
//!   runtime (wasmtime, sandbox limits, cache) and the batches plugins read.
//! - `exporter-kit` ([`conformance`]): the conformance kit.
//! - `exporter-store` ([`db`], [`blob`]): database and migrations, blob
//!   store, uploads, signed links.
//! - `exporter-auth` ([`auth`]): tokens, users, roles, who sees which job.
//! - `exporter-metrics` ([`metrics`]): Prometheus metrics.
//! - `exporter-source` ([`source`], [`rows`]): datasets and their queries,
//!   demo data, NDJSON/CSV files.
//! - `exporter-export` ([`driver`], [`parts`], [`compress`]): the export
//!   driver, from rows to a published file or parts.
//! - `exporter-registry` ([`registry`], [`formats`]): the plugin registry.
//! - `exporter-jobs` ([`jobs`], [`callbacks`]): the job lifecycle.
//! - `exporter-api` ([`api`]): the REST API.
//!
//! Here: [`config`] (layered configuration in sections, each the settings
//! type of the crate that uses it), [`service`] (everything
//! assembled and started), [`cli`], [`telemetry`]. Nothing below imports
//! this crate.

pub mod cli;
pub mod config;
pub mod service;
pub mod telemetry;

pub use exporter_api as api;
pub use exporter_auth as auth;
pub use exporter_export as export;
pub use exporter_export::{compress, driver, parts, progress};
pub use exporter_jobs as jobs;
pub use exporter_jobs::callbacks;
pub use exporter_kit as conformance;
pub use exporter_metrics as metrics;
pub use exporter_registry as registry;
pub use exporter_registry::formats;
pub use exporter_runtime as plugins;
pub use exporter_runtime::batch;
pub use exporter_source as source;
pub use exporter_source::rows;
pub use exporter_store::{blob, db};
pub use exporter_wit as wit;
