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
//! - [`cli`]: the `exporter` command line.
//! - [`telemetry`]: tracing set-up.

pub mod batch;
pub mod cli;
pub mod conformance;
pub mod db;
pub mod pipeline;
pub mod plugins;
pub mod rows;
pub mod source;
pub mod telemetry;
