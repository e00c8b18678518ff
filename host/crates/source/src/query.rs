//! A validated, tenant-scoped query over one dataset, streamed as batches.

use futures::TryStreamExt as _;
use sqlx::Row as _;
use tokio::sync::mpsc;

use super::catalog::{DataType, Dataset, DatasetColumn};
use exporter_runtime::batch::BatchBuilder;
use exporter_runtime::{Batch, Column, ColumnType};
use exporter_store::db::Database;

/// What to export. The tenant is already resolved: `organization_id` is the
/// caller's own organization unless a SuperAdmin asked for another (or for
/// all, `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportQuery {
    pub data_type: DataType,
    pub organization_id: Option<String>,
    pub user_id: Option<String>,
    /// First day included (days since the epoch, UTC).
    pub from: Option<i32>,
    /// Last day included.
    pub to: Option<i32>,
    /// Columns in output order; empty means all, in the dataset's order.
    pub columns: Vec<String>,
}

/// A query that cannot run: always the client's mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unknown column {column:?} for {data_type}; available: {available}")]
    UnknownColumn {
        data_type: &'static str,
        column: String,
        available: String,
    },
    #[error("column {0:?} is listed twice")]
    DuplicateColumn(String),
    #[error("the date range ends before it starts")]
    EmptyRange,
    #[error("{0} cannot be filtered by user")]
    NoUserFilter(&'static str),
    #[error("a filter value contains a NUL character, which PostgreSQL text cannot hold")]
    NulInFilter,
    #[error(
        "{field} {value} is outside the supported range {}",
        exporter_runtime::batch::time::DAY_RANGE
    )]
    OutOfRange { field: &'static str, value: String },
}

impl QueryError {
    fn day_out_of_range(field: &'static str, day: i32) -> Self {
        QueryError::OutOfRange {
            field,
            value: exporter_runtime::batch::time::format_date(day),
        }
    }
}

impl ExportQuery {
    pub fn dataset(&self) -> &'static Dataset {
        self.data_type.dataset()
    }

    /// The selected columns, checked against the dataset.
    pub fn selected(&self) -> Result<Vec<&'static DatasetColumn>, QueryError> {
        let dataset = self.dataset();
        // Also checked where requests are parsed; here so that no query,
        // however it was made, reaches arithmetic or an engine that cannot
        // hold its days.
        for (field, day) in [("from", self.from), ("to", self.to)] {
            if let Some(day) = day
                && !exporter_runtime::batch::time::day_in_range(day)
            {
                return Err(QueryError::day_out_of_range(field, day));
            }
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && to < from
        {
            return Err(QueryError::EmptyRange);
        }
        if self.user_id.is_some() && dataset.user.is_none() {
            return Err(QueryError::NoUserFilter(dataset.data_type.as_str()));
        }
        if self.columns.is_empty() {
            return Ok(dataset.columns.iter().collect());
        }
        let mut selected = Vec::with_capacity(self.columns.len());
        for name in &self.columns {
            let column = dataset
                .column(name)
                .ok_or_else(|| QueryError::UnknownColumn {
                    data_type: dataset.data_type.as_str(),
                    column: name.clone(),
                    available: dataset
                        .columns
                        .iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            if selected
                .iter()
                .any(|c: &&DatasetColumn| c.name == column.name)
            {
                return Err(QueryError::DuplicateColumn(name.clone()));
            }
            selected.push(column);
        }
        Ok(selected)
    }

    /// The export's schema, as the plugin sees it.
    pub fn schema(&self) -> Result<Vec<Column>, QueryError> {
        Ok(self
            .selected()?
            .into_iter()
            .map(|c| Column {
                name: c.name.to_owned(),
                kind: c.kind,
            })
            .collect())
    }
}

/// Binds a [`Sql`]'s parameters: a day boundary or a timestamp is
/// microseconds on SQLite and a `timestamptz` on PostgreSQL.
macro_rules! bind_params {
    ($query:expr, $sql:expr, sqlite) => {
        bind_params!(@each $query, $sql, |day: i32| i64::from(day).checked_mul(86_400_000_000), Some)
    };
    ($query:expr, $sql:expr, postgres) => {
        bind_params!(@each $query, $sql, day_start, instant)
    };
    (@each $query:expr, $sql:expr, $day:expr, $instant:expr) => {{
        let mut query = $query;
        for param in &$sql.params {
            query = match param {
                Param::Text(text) => query.bind(text.as_str()),
                Param::DayStart(day) => query.bind(
                    $day(*day).ok_or_else(|| QueryError::day_out_of_range("a range bound", *day))?,
                ),
                Param::Instant(micros) => query.bind($instant(*micros).ok_or_else(|| {
                    QueryError::OutOfRange {
                        field: "a row key",
                        value: format!("{micros} µs"),
                    }
                })?),
            };
        }
        query
    }};
}

/// The SQL text and its parameters, in order.
pub(super) struct Sql {
    pub(super) text: String,
    pub(super) params: Vec<Param>,
}

pub(super) enum Param {
    Text(String),
    /// A day boundary: the first instant of that day (UTC).
    DayStart(i32),
    /// An instant, in microseconds since the epoch.
    Instant(i64),
}

/// A row's place in an export's order (`ORDER BY range, id`): the last row
/// of a published part, after which a resumed export continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowKey {
    /// The dataset's range column, in microseconds since the epoch.
    pub range: i64,
    pub id: String,
}

/// Rows read with their keys: each batch carries [`KEY_COLUMNS`] trailing
/// columns (the range as a timestamp, the id as text) after the export's
/// own, and reading starts after `after`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keyed<'a> {
    pub after: Option<&'a RowKey>,
}

/// The columns [`Keyed`] reads append to every batch.
pub const KEY_COLUMNS: usize = 2;

/// The columns a read decodes: the export's, then its keys when keyed.
pub(super) fn read_schema(
    query: &ExportQuery,
    keyed: Option<Keyed>,
) -> Result<Vec<Column>, QueryError> {
    let mut schema = query.schema()?;
    if keyed.is_some() {
        schema.push(Column {
            name: "__key_range".to_owned(),
            kind: ColumnType::Timestamp,
        });
        schema.push(Column {
            name: "__key_id".to_owned(),
            kind: ColumnType::Text,
        });
    }
    Ok(schema)
}

#[cfg(test)]
fn build_sql(query: &ExportQuery, postgres: bool) -> Result<Sql, QueryError> {
    build(query, postgres, Shape::Rows, None)
}

/// `SELECT COUNT(*)` over the same rows.
fn build_count_sql(query: &ExportQuery, postgres: bool) -> Result<Sql, QueryError> {
    build(query, postgres, Shape::Count, None)
}

/// The PostgreSQL select for a binary `COPY`: the same rows, each column
/// cast to the type [`pg_copy`](super::pg_copy) decodes for its kind.
pub(super) fn build_copy_select(
    query: &ExportQuery,
    keyed: Option<Keyed>,
) -> Result<Sql, QueryError> {
    build(query, true, Shape::CastRows, keyed)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Rows,
    CastRows,
    Count,
}

/// The PostgreSQL type a column of `kind` is read as through `COPY`.
fn copy_cast(kind: ColumnType) -> &'static str {
    match kind {
        ColumnType::Boolean => "boolean",
        ColumnType::Int64 => "int8",
        ColumnType::Float64 => "float8",
        ColumnType::Decimal | ColumnType::Text | ColumnType::Json => "text",
        ColumnType::Date => "date",
        ColumnType::Timestamp => "timestamptz",
    }
}

fn build(
    query: &ExportQuery,
    postgres: bool,
    shape: Shape,
    keyed: Option<Keyed>,
) -> Result<Sql, QueryError> {
    let dataset = query.dataset();
    let columns = query.selected()?;
    let mut params = Vec::new();
    let placeholder = |param: Param, params: &mut Vec<Param>| {
        params.push(param);
        if postgres {
            format!("${}", params.len())
        } else {
            "?".to_owned()
        }
    };
    let mut select: Vec<String> = columns
        .iter()
        .map(|c| match (postgres, shape) {
            (true, Shape::CastRows) => format!("({})::{}", c.postgres, copy_cast(c.kind)),
            (true, _) => c.postgres.to_owned(),
            (false, _) => c.sqlite.to_owned(),
        })
        .collect();
    let mut conditions = Vec::new();
    if let Some(organization) = &query.organization_id {
        let p = placeholder(Param::Text(organization.clone()), &mut params);
        conditions.push(format!("{} = {p}", dataset.organization));
    }
    let range = match (postgres, dataset.postgres_range) {
        (true, Some(range)) => range,
        _ => dataset.range,
    };
    if keyed.is_some() {
        if shape == Shape::CastRows {
            select.push(format!("({range})::timestamptz"));
            select.push(format!("({})::text", dataset.id));
        } else {
            select.push(range.to_owned());
            select.push(dataset.id.to_owned());
        }
    }
    if let (Some(user), Some(column)) = (&query.user_id, dataset.user) {
        let p = placeholder(Param::Text(user.clone()), &mut params);
        conditions.push(format!("{column} = {p}"));
    }
    if let Some(from) = query.from {
        let p = placeholder(Param::DayStart(from), &mut params);
        conditions.push(format!("{range} >= {p}"));
    }
    if let Some(to) = query.to {
        // Inclusive last day: everything before the next day starts.
        let next = to
            .checked_add(1)
            .ok_or_else(|| QueryError::day_out_of_range("to", to))?;
        let p = placeholder(Param::DayStart(next), &mut params);
        conditions.push(format!("{range} < {p}"));
    }
    if let Some(after) = keyed.and_then(|k| k.after) {
        // The row value is the exact condition; the plain bound lets the
        // (organization, range, id) index start at the key.
        let p = placeholder(Param::Instant(after.range), &mut params);
        let range_again = placeholder(Param::Instant(after.range), &mut params);
        let id = placeholder(Param::Text(after.id.clone()), &mut params);
        conditions.push(format!(
            "{range} >= {p} AND ({range}, {}) > ({range_again}, {id})",
            dataset.id
        ));
    }
    let select = if shape == Shape::Count {
        "COUNT(*)".to_owned()
    } else {
        select.join(", ")
    };
    let from = match (postgres, dataset.postgres_from) {
        (true, Some(from)) => from,
        _ => dataset.from,
    };
    let mut text = format!("SELECT {select} FROM {from}");
    if !conditions.is_empty() {
        text.push_str(" WHERE ");
        text.push_str(&conditions.join(" AND "));
    }
    if shape == Shape::Count {
        return Ok(Sql { text, params });
    }
    // A stable order: the same query always yields the same file, and a
    // resumed export can continue after the last key it wrote.
    text.push_str(&format!(" ORDER BY {range}, {}", dataset.id));
    Ok(Sql { text, params })
}

/// Why streaming stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("reading {data_type} failed: {source:#}")]
    Database {
        data_type: &'static str,
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
        Database::Sqlite(pool) => send_sqlite_batches(pool, query, keyed, batch_rows, tx).await,
        // Binary COPY: several times faster than fetching row by row.
        Database::Postgres(pool) => {
            super::pg_copy::send_batches(pool, query, keyed, batch_rows, tx).await
        }
    }
}

async fn send_sqlite_batches(
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
    let data_type = query.data_type.as_str();
    let failed = |source: sqlx::Error| SourceError::Database {
        data_type,
        source: source.into(),
    };
    let sql = build(query, false, Shape::Rows, keyed)?;
    let q = bind_params!(sqlx::query(audited(&sql)), sql, sqlite);
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

/// How many rows `query` will export (for progress percentages).
pub async fn count_rows(db: &Database, query: &ExportQuery) -> Result<u64, SourceError> {
    let data_type = query.data_type.as_str();
    let failed = |source: sqlx::Error| SourceError::Database {
        data_type,
        source: source.into(),
    };
    let count: i64 = match db {
        Database::Sqlite(pool) => {
            let sql = build_count_sql(query, false)?;
            let q = bind_params!(sqlx::query_scalar(audited(&sql)), sql, sqlite);
            q.fetch_one(pool).await.map_err(failed)?
        }
        Database::Postgres(pool) => {
            let sql = build_count_sql(query, true)?;
            let q = bind_params!(sqlx::query_scalar(audited(&sql)), sql, postgres);
            q.fetch_one(pool).await.map_err(failed)?
        }
    };
    Ok(count.max(0) as u64)
}

/// The query text is assembled only from the static catalog (column
/// expressions, table names) and numbered placeholders; every value a user
/// supplies (tenant, user, dates) is bound. Column names from the request
/// are looked up in the catalog, never spliced in.
fn audited(sql: &Sql) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.text.clone())
}

/// The first instant of `day`, or `None` past what `time` (and so the
/// PostgreSQL binding) can represent.
fn day_start(day: i32) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::UNIX_EPOCH.checked_add(time::Duration::days(i64::from(day)))
}

fn instant(micros: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::UNIX_EPOCH.checked_add(time::Duration::microseconds(micros))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> ExportQuery {
        ExportQuery {
            data_type: DataType::Sessions,
            organization_id: Some("org".into()),
            user_id: None,
            from: Some(20_454),
            to: Some(20_484),
            columns: vec!["id".into(), "started_at".into()],
        }
    }

    #[test]
    fn sql_is_tenant_scoped_ranged_and_ordered() {
        let sql = build_sql(&query(), true).unwrap();
        assert_eq!(
            sql.text,
            "SELECT s.id, s.started_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.organization_id = $1 AND s.started_at >= $2 AND s.started_at < $3 \
             ORDER BY s.started_at, s.id"
        );
        let sql = build_sql(&query(), false).unwrap();
        assert!(sql.text.contains("s.organization_id = ? AND"));
        assert_eq!(sql.params.len(), 3);
        let count = build_count_sql(&query(), false).unwrap();
        assert!(count.text.starts_with("SELECT COUNT(*) FROM sessions s"));
        assert!(!count.text.contains("ORDER BY"));
        assert_eq!(count.params.len(), 3);
    }

    #[test]
    fn keyed_reads_carry_their_keys_and_start_after_one() {
        let key = RowKey {
            range: 1_767_225_600_000_001,
            id: "s'1".into(),
        };
        let keyed = Some(Keyed { after: Some(&key) });
        let sql = build(&query(), false, Shape::Rows, keyed).unwrap();
        assert_eq!(
            sql.text,
            "SELECT s.id, s.started_at, s.started_at, s.id FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.organization_id = ? AND s.started_at >= ? AND s.started_at < ? \
             AND s.started_at >= ? AND (s.started_at, s.id) > (?, ?) ORDER BY s.started_at, s.id"
        );
        assert_eq!(sql.params.len(), 6);
        assert!(matches!(
            sql.params[4],
            Param::Instant(1_767_225_600_000_001)
        ));
        let copy = build(&query(), true, Shape::CastRows, keyed).unwrap();
        assert!(
            copy.text
                .contains("(s.started_at)::timestamptz, (s.id)::text FROM"),
            "{}",
            copy.text
        );
        assert!(
            copy.text
                .contains("AND s.started_at >= $4 AND (s.started_at, s.id) > ($5, $6)")
        );
        let schema = read_schema(&query(), keyed).unwrap();
        assert_eq!(schema.len(), 2 + KEY_COLUMNS);
        assert_eq!(schema[2].kind, ColumnType::Timestamp);
        assert_eq!(schema[3].kind, ColumnType::Text);
        // Unkeyed reads are unchanged.
        assert_eq!(read_schema(&query(), None).unwrap().len(), 2);
        let first = build(&query(), false, Shape::Rows, Some(Keyed::default())).unwrap();
        assert_eq!(first.params.len(), 3, "no key to start after");
    }

    #[test]
    fn columns_are_validated() {
        let mut q = query();
        q.columns = vec!["id".into(), "nope".into()];
        match q.selected().unwrap_err() {
            QueryError::UnknownColumn {
                column, available, ..
            } => {
                assert_eq!(column, "nope");
                assert!(available.starts_with("id, user_id"));
            }
            other => panic!("{other}"),
        }
        q.columns = vec!["id".into(), "id".into()];
        assert_eq!(
            q.selected().unwrap_err(),
            QueryError::DuplicateColumn("id".into())
        );
        q.columns = vec![];
        assert_eq!(
            q.selected().unwrap().len(),
            DataType::Sessions.dataset().columns.len()
        );
        q.to = Some(1);
        assert_eq!(q.selected().unwrap_err(), QueryError::EmptyRange);
    }

    #[test]
    fn days_no_engine_can_hold_are_errors_not_panics() {
        use exporter_runtime::batch::time::{FIRST_DAY, LAST_DAY};
        for (from, to, field) in [
            (None, Some(LAST_DAY + 1), "to"),
            (None, Some(i32::MAX), "to"),
            (Some(FIRST_DAY - 1), None, "from"),
            (Some(i32::MIN), Some(0), "from"),
        ] {
            let q = ExportQuery {
                from,
                to,
                ..query()
            };
            for postgres in [false, true] {
                match build_sql(&q, postgres) {
                    Err(QueryError::OutOfRange { field: f, .. }) => assert_eq!(f, field),
                    Err(other) => panic!("{other}"),
                    Ok(sql) => panic!("built {}", sql.text),
                }
            }
        }
        let q = ExportQuery {
            from: Some(FIRST_DAY),
            to: Some(LAST_DAY),
            ..query()
        };
        let sql = build_sql(&q, true).unwrap();
        for param in &sql.params {
            if let Param::DayStart(day) = param {
                assert!(day_start(*day).is_some(), "{day}");
            }
        }
        assert!(day_start(i32::MAX).is_none());
        assert!(instant(i64::MAX).is_none());
    }
}
