//! Where export rows come from: the datasets (`catalog`), validated
//! tenant-scoped queries streamed into columnar batches (`query`; PostgreSQL
//! through binary `COPY`, `pg_copy`), and the
//! deterministic demo data (`demo`).

pub mod catalog;
pub mod demo;
pub mod pg_copy;
pub mod query;

pub use catalog::{DataType, Dataset, DatasetColumn};
pub use query::{
    ExportQuery, KEY_COLUMNS, QueryError, RowKey, SourceError, count_rows, send_batches,
    send_keyed_batches,
};
