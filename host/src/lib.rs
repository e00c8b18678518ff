//! Exporter: turns a company's data into downloadable files, where every
//! output format is a sandboxed WebAssembly component.
//!
//! # Layout
//! - [`plugins`]: the formatter plugin runtime (wasmtime, sandbox, limits).
//! - [`batch`]: builds the columnar row batches plugins receive.
//! - [`rows`]: reads rows from NDJSON or CSV files (the CLI's input) and
//!   infers their schema.
//! - [`conformance`]: the conformance kit that certifies a plugin.
//! - [`db`]: the application database (SQLite or PostgreSQL) and migrations.
//! - [`source`]: the datasets, their tenant-scoped streaming queries, and
//!   the demo data.
//! - [`pipeline`]: one export end to end (query -> plugin -> sink).
//! - [`parts`]: exports written as several files plus a manifest, and
//!   where a retried one continues.
//! - [`config`]: layered service configuration.
//! - [`auth`]: bearer tokens and roles.
//! - [`blob`]: the blob store (object_store), uploads and signed links.
//! - [`formats`]: the formatter versions in use, by format name.
//! - [`registry`]: the plugin registry: install, validate, activate, hot
//!   swap, automatic rollback.
//! - [`jobs`]: the export job lifecycle: records, queue, worker, retention.
//! - [`api`]: the REST API.
//! - [`metrics`]: Prometheus metrics.
//! - [`service`]: everything assembled and started.
//! - [`cli`]: the `exporter` command line.
//! - [`telemetry`]: tracing set-up.

pub mod api;
pub mod auth;
pub mod batch;
pub mod blob;
pub mod callbacks;
pub mod cli;
pub mod config;
pub mod conformance;
pub mod db;
pub mod formats;
pub mod jobs;
pub mod metrics;
pub mod parts;
pub mod pipeline;
pub mod plugins;
pub mod registry;
pub mod rows;
pub mod service;
pub mod source;
pub mod telemetry;
