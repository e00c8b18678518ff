//! SQLite rows, fetched as a stream and decoded into batches.

use futures::TryStreamExt as _;
use sqlx::Row as _;
use tokio::sync::mpsc;

use super::read::SourceError;
use super::sql::{Placeholders, Shape, audited, bind_sqlite, build};
use super::{ExportQuery, Keyed, read_schema};
use crate::catalog::Dialect;
use exporter_runtime::batch::BatchBuilder;
use exporter_runtime::{Batch, ColumnType};

pub(super) async fn send_batches(
    pool: &sqlx::SqlitePool,
    query: &ExportQuery,
    keyed: Option<Keyed<'_>>,
    batch_rows: usize,
    tx: mpsc::Sender<Batch>,
) -> Result<u64, SourceError> {
    let schema = read_schema(query, keyed)?;
    let kinds: Vec<ColumnType> = schema.iter().map(|c| c.kind).collect();
    let mut builder = BatchBuilder::new(&schema, batch_rows);
    let mut rows = 0u64;
    let failed = |source: sqlx::Error| SourceError::Database {
        dataset: query.dataset.name.clone(),
        source: source.into(),
    };
    let sql = build(
        query,
        Dialect::Sqlite,
        Shape::Rows,
        keyed,
        Placeholders::Question,
    )?;
    let q = bind_sqlite!(sqlx::query(audited(&sql)), sql);
    let mut stream = q.fetch(pool);
    while let Some(row) = stream.try_next().await.map_err(failed)? {
        decode_sqlite(&row, &kinds, &mut builder).map_err(failed)?;
        rows += 1;
        if builder.is_full() {
            tx.send(builder.take())
                .await
                .map_err(|_| SourceError::Closed)?;
        }
    }
    if !builder.is_empty() {
        tx.send(builder.take())
            .await
            .map_err(|_| SourceError::Closed)?;
    }
    Ok(rows)
}

fn decode_sqlite(
    row: &sqlx::sqlite::SqliteRow,
    kinds: &[ColumnType],
    builder: &mut BatchBuilder,
) -> Result<(), sqlx::Error> {
    for (index, kind) in kinds.iter().enumerate() {
        let column = builder.column(index);
        match kind {
            ColumnType::Boolean => column.push_bool(row.try_get(index)?),
            ColumnType::Int64 => column.push_i64(row.try_get(index)?),
            ColumnType::Float64 => column.push_f64(row.try_get(index)?),
            ColumnType::Decimal | ColumnType::Text | ColumnType::Json => {
                column.push_str(row.try_get::<Option<&str>, _>(index)?)
            }
            ColumnType::Date => column.push_date(
                row.try_get::<Option<i64>, _>(index)?
                    .map(|days| days as i32),
            ),
            ColumnType::Timestamp => column.push_timestamp(row.try_get(index)?),
        }
    }
    builder.end_row();
    Ok(())
}
