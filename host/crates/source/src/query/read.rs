//! Reading a query: dispatched by the engine of the dataset's source, and
//! its rows counted.

use tokio::sync::mpsc;

use super::mask::Masking;
use super::mysql::{MySqlParam, MySqlRowsError, bind_mysql};
use super::sql::{Param, Placeholders, Shape, audited, bind_sqlite, build};
use super::{ExportQuery, Keyed, QueryError, RowKey, read_schema};
use crate::catalog::Dialect;
use crate::sources::{Source, SourcePool};
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

/// The service's own database as a source (the `default` source's pool).
impl From<&Database> for SourcePool {
    fn from(db: &Database) -> Self {
        match db {
            Database::Sqlite(pool) => SourcePool::Sqlite(pool.clone()),
            Database::Postgres(pool) => SourcePool::Postgres(pool.clone()),
        }
    }
}

impl From<&SourcePool> for SourcePool {
    fn from(pool: &SourcePool) -> Self {
        pool.clone()
    }
}

impl From<&Source> for SourcePool {
    fn from(source: &Source) -> Self {
        source.pool.clone()
    }
}

/// Runs `query` and sends its rows as batches of up to `batch_rows` rows.
/// Rows stream from the database: memory holds one batch being built plus
/// the channel's capacity. Returns the number of rows sent.
pub async fn send_batches(
    db: impl Into<SourcePool>,
    query: &ExportQuery,
    batch_rows: usize,
    tx: mpsc::Sender<Batch>,
) -> Result<u64, SourceError> {
    read(db, query, None, batch_rows, tx).await
}

/// [`send_batches`] for an export written in parts: every batch ends with
/// the rows' keys ([`Keyed`]), and the rows start after `after`.
pub async fn send_keyed_batches(
    db: impl Into<SourcePool>,
    query: &ExportQuery,
    after: Option<&RowKey>,
    batch_rows: usize,
    tx: mpsc::Sender<Batch>,
) -> Result<u64, SourceError> {
    read(db, query, Some(Keyed { after }), batch_rows, tx).await
}

async fn read(
    db: impl Into<SourcePool>,
    query: &ExportQuery,
    keyed: Option<Keyed<'_>>,
    batch_rows: usize,
    tx: mpsc::Sender<Batch>,
) -> Result<u64, SourceError> {
    let Some(masking) = Masking::of(query)? else {
        return read_engine(db.into(), query, keyed, batch_rows, tx).await;
    };
    // Masked between the reader and the consumer: whatever the engine, no
    // batch leaves here with a clear value of a masked column.
    let (raw_tx, mut raw_rx) = mpsc::channel::<Batch>(1);
    let forward = async move {
        while let Some(batch) = raw_rx.recv().await {
            if tx.send(masking.apply(batch)).await.is_err() {
                return Err(SourceError::Closed);
            }
        }
        Ok(())
    };
    let (read, forwarded) = tokio::join!(
        read_engine(db.into(), query, keyed, batch_rows, raw_tx),
        forward
    );
    let rows = read?;
    forwarded?;
    Ok(rows)
}

async fn read_engine(
    pool: SourcePool,
    query: &ExportQuery,
    keyed: Option<Keyed<'_>>,
    batch_rows: usize,
    tx: mpsc::Sender<Batch>,
) -> Result<u64, SourceError> {
    match pool {
        SourcePool::Sqlite(pool) => {
            super::sqlite::send_batches(&pool, query, keyed, batch_rows, tx).await
        }
        // Binary COPY: several times faster than fetching row by row.
        SourcePool::Postgres(pool) => {
            super::pg_copy::send_batches(&pool, query, keyed, batch_rows, tx).await
        }
        // Streamed row by row (`fetch`, never the whole result).
        SourcePool::MySql(pool) => {
            let schema = read_schema(query, keyed)?;
            let sql = build(
                query,
                Dialect::MySql,
                Shape::Rows,
                keyed,
                Placeholders::Question,
            )?;
            let params = mysql_params(&sql.params)?;
            super::mysql::send_rows(&pool, &sql.text, &params, &schema, batch_rows, tx)
                .await
                .map_err(|e| match e {
                    MySqlRowsError::Closed => SourceError::Closed,
                    MySqlRowsError::Database(source) => SourceError::Database {
                        dataset: query.dataset.name.clone(),
                        source: source.into(),
                    },
                })
        }
    }
}

/// Parameters as MySQL binds them: days as dates, instants as UTC
/// DATETIMEs (the session's time zone is UTC).
fn mysql_params(params: &[Param]) -> Result<Vec<MySqlParam>, QueryError> {
    params
        .iter()
        .map(|param| {
            Ok(match param {
                Param::Text(text) | Param::Decimal(text) => MySqlParam::Text(text.clone()),
                Param::Bool(b) => MySqlParam::Bool(*b),
                Param::Float(f) => MySqlParam::Float(*f),
                Param::Int(n) => MySqlParam::Int(*n),
                Param::Day(day) => MySqlParam::Date(
                    time::Date::from_julian_day(2_440_588 + *day)
                        .map_err(|_| QueryError::day_out_of_range("a range bound", *day))?,
                ),
                Param::Instant(micros) => MySqlParam::Timestamp(
                    time::OffsetDateTime::UNIX_EPOCH
                        .checked_add(time::Duration::microseconds(*micros))
                        .ok_or_else(|| QueryError::OutOfRange {
                            field: "a row key",
                            value: format!("{micros} µs"),
                        })?,
                ),
            })
        })
        .collect()
}

/// How many rows `query` will export (for progress percentages).
pub async fn count_rows(
    db: impl Into<SourcePool>,
    query: &ExportQuery,
) -> Result<u64, SourceError> {
    let failed = |source: sqlx::Error| SourceError::Database {
        dataset: query.dataset.name.clone(),
        source: source.into(),
    };
    let count: i64 = match db.into() {
        SourcePool::Sqlite(pool) => {
            let sql = build(
                query,
                Dialect::Sqlite,
                Shape::Count,
                None,
                Placeholders::Question,
            )?;
            let q = bind_sqlite!(sqlx::query_scalar(audited(&sql)), sql);
            q.fetch_one(&pool).await.map_err(failed)?
        }
        SourcePool::MySql(pool) => {
            let sql = build(
                query,
                Dialect::MySql,
                Shape::Count,
                None,
                Placeholders::Question,
            )?;
            let params = mysql_params(&sql.params)?;
            let q = bind_mysql!(sqlx::query_scalar(audited(&sql)), &params);
            q.fetch_one(&pool).await.map_err(failed)?
        }
        SourcePool::Postgres(pool) => {
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
                .fetch_one(&pool)
                .await
                .map_err(failed)?
        }
    };
    Ok(count.max(0) as u64)
}
