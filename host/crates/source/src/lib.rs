//! Where export rows come from: the datasets (`catalog`), validated
//! tenant-scoped queries streamed into columnar batches (`query`; PostgreSQL
//! through binary `COPY`, `query::pg_copy`), the deterministic demo data
//! (`demo`), and rows read from NDJSON or CSV files with their schema
//! inferred (`rows`, the command line's input).
//!
//! Imports the runtime (for batches) and the stores (for the database);
//! knows nothing of plugins running, jobs or HTTP.

pub mod catalog;
pub mod demo;
pub mod query;
pub mod rows;

pub use catalog::{DataType, Dataset, DatasetColumn};
pub use query::{
    ExportQuery, KEY_COLUMNS, QueryError, RowKey, SourceError, count_rows, send_batches,
    send_keyed_batches,
};
