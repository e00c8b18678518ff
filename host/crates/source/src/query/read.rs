//! Reading a query: dispatched by engine, and its rows counted.

use tokio::sync::mpsc;

use super::sql::{Placeholders, Shape, audited, bind_sqlite, build};
use super::{ExportQuery, Keyed, QueryError, RowKey};
use crate::catalog::Dialect;
use exporter_runtime::Batch;
use exporter_store::db::Database;

/// Why streaming stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("reading {dataset} failed: {source:#}")]
    Database {
        dataset: String,
        source: anyhow::Error,
    },
    /// The consumer went away (the export failed or was cancelled).
    #[error("the export stopped consuming rows")]
    Closed,
}

impl SourceError {
    /// Whether reading again could succeed. Only what the database calls
    /// the request's fault (a value it cannot store or compare) and a bad
    /// query are not; anything else may be an outage, and is retried.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Query(_) => false,
            SourceError::Database { source, .. } => {
                exporter_store::db::classify_chain(source)
                    != Some(exporter_store::db::DbFailure::Request)
            }
            SourceError::Closed => true,
        }
    }
}

/// Runs `query` and sends its rows as batches of up to `batch_rows` rows.
/// Rows stream from the database: memory holds one batch being built plus
/// the channel's capacity. Returns the number of rows sent.
pub async fn send_batches(
    db: &Database,
    query: &ExportQuery,
    batch_rows: usize,
    tx: mpsc::Sender<Batch>,
) -> Result<u64, SourceError> {
    read(db, query, None, batch_rows, tx).await
}

/// [`send_batches`] for an export written in parts: every batch ends with
/// the rows' keys ([`Keyed`]), and the rows start after `after`.
pub async fn send_keyed_batches(
    db: &Database,
    query: &ExportQuery,
    after: Option<&RowKey>,
    batch_rows: usize,
    tx: mpsc::Sender<Batch>,
) -> Result<u64, SourceError> {
    read(db, query, Some(Keyed { after }), batch_rows, tx).await
}

async fn read(
    db: &Database,
    query: &ExportQuery,
    keyed: Option<Keyed<'_>>,
    batch_rows: usize,
    tx: mpsc::Sender<Batch>,
) -> Result<u64, SourceError> {
    match db {
        Database::Sqlite(pool) => {
            super::sqlite::send_batches(pool, query, keyed, batch_rows, tx).await
        }
        // Binary COPY: several times faster than fetching row by row.
        Database::Postgres(pool) => {
            super::pg_copy::send_batches(pool, query, keyed, batch_rows, tx).await
        }
    }
}

/// How many rows `query` will export (for progress percentages).
pub async fn count_rows(db: &Database, query: &ExportQuery) -> Result<u64, SourceError> {
    let failed = |source: sqlx::Error| SourceError::Database {
        dataset: query.dataset.name.clone(),
        source: source.into(),
    };
    let count: i64 = match db {
        Database::Sqlite(pool) => {
            let sql = build(
                query,
                Dialect::Sqlite,
                Shape::Count,
                None,
                Placeholders::Question,
            )?;
            let q = bind_sqlite!(sqlx::query_scalar(audited(&sql)), sql);
            q.fetch_one(pool).await.map_err(failed)?
        }
        Database::Postgres(pool) => {
            // Literals, as `COPY` reads them: an untyped literal takes the
            // column's type, where a bound text would not compare with a
            // numeric tenant column.
            let sql = build(
                query,
                Dialect::Postgres,
                Shape::Count,
                None,
                Placeholders::PgLiterals,
            )?;
            sqlx::query_scalar(audited(&sql))
                .fetch_one(pool)
                .await
                .map_err(failed)?
        }
    };
    Ok(count.max(0) as u64)
}
