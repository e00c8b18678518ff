//! Where export rows come from: the dataset catalog, datasets as data in
//! the service's database (`catalog`), validated
//! tenant-scoped queries streamed into columnar batches (`query`; PostgreSQL
//! through binary `COPY`, `query::pg_copy`), the deterministic demo data
//! (`demo`), and rows read from NDJSON or CSV files with their schema
//! inferred (`rows`, the command line's input); named `sources` (the
//! databases datasets read, read-only) and `check`, a dataset run against
//! its source before it is installed.
//!
//! Imports the runtime (for batches), the stores (for the database) and
//! the roles (`exporter-auth`, for who sees which column); knows nothing of
//! plugins running, jobs or HTTP.

pub mod catalog;
pub mod check;
pub mod demo;
pub mod query;
pub mod rows;
pub mod sources;

pub use catalog::{Catalog, Dataset, DatasetColumn};
pub use query::{
    ExportQuery, KeyValue, QueryError, RowKey, SourceError, count_rows, key_schema, send_batches,
    send_keyed_batches,
};
