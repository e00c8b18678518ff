//! The SQL of a query: the dataset's rows (`d`) wrapped in the host's own
//! SELECT, which picks the columns, applies the tenant, user and date
//! predicates, orders by the range column and the key, and starts after a
//! key. Every value a user supplies is a parameter: bound on SQLite and
//! MySQL, written as an escaped literal for PostgreSQL's `COPY` (which
//! takes none) and nowhere spliced as text.

use exporter_runtime::ColumnType;
use exporter_runtime::batch::time::{format_date, format_timestamp};

use super::filter::Op;
use super::{ExportQuery, KeyValue, Keyed, QueryError};
use crate::catalog::{Dataset, DatasetColumn, Dialect, validate::missing_dialect};

/// Binds a [`Sql`]'s parameters on SQLite: days and instants are whole
/// numbers there (days since the epoch, microseconds since it).
macro_rules! bind_sqlite {
    ($query:expr, $sql:expr) => {{
        let mut query = $query;
        for param in &$sql.params {
            query = match param {
                $crate::query::sql::Param::Text(text) => query.bind(text.as_str()),
                $crate::query::sql::Param::Int(n) => query.bind(*n),
                $crate::query::sql::Param::Day(day) => query.bind(i64::from(*day)),
                $crate::query::sql::Param::Instant(micros) => query.bind(*micros),
                $crate::query::sql::Param::Bool(b) => query.bind(*b),
                $crate::query::sql::Param::Float(f) => query.bind(*f),
                $crate::query::sql::Param::Decimal(text) => query.bind(text.as_str()),
            };
        }
        query
    }};
}
pub(crate) use bind_sqlite;

/// The SQL text and its parameters, in order.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) params: Vec<Param>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    /// A date: days since the epoch.
    Day(i32),
    /// An instant, in microseconds since the epoch.
    Instant(i64),
    Bool(bool),
    /// Finite (JSON has no other numbers).
    Float(f64),
    /// Plain decimal notation, checked: sign, digits, fraction.
    Decimal(String),
}

impl From<&KeyValue> for Param {
    fn from(value: &KeyValue) -> Self {
        match value {
            KeyValue::Int64(n) => Param::Int(*n),
            KeyValue::Text(t) => Param::Text(t.clone()),
            KeyValue::Date(d) => Param::Day(*d),
            KeyValue::Timestamp(t) => Param::Instant(*t),
        }
    }
}

/// How parameters appear in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholders {
    /// `?`, bound in order (SQLite, MySQL).
    Question,
    /// Written in as PostgreSQL literals: `COPY` takes no parameters.
    PgLiterals,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// The selected columns, as the engine holds them.
    Rows,
    /// Each column cast to the type `pg_copy` decodes for its kind.
    CastRows,
    /// `SELECT COUNT(*)` over the same rows.
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

/// How a column is selected on MySQL: exact text for decimals and JSON
/// (the wire's DECIMAL and JSON types would otherwise need their own
/// decoders), the value itself for the rest.
fn mysql_select(kind: ColumnType, sql: &str) -> String {
    match kind {
        ColumnType::Decimal | ColumnType::Json => format!("CAST({sql} AS CHAR)"),
        _ => sql.to_owned(),
    }
}

struct Builder {
    placeholders: Placeholders,
    params: Vec<Param>,
}

impl Builder {
    fn param(&mut self, param: Param) -> Result<String, QueryError> {
        match self.placeholders {
            Placeholders::Question => {
                self.params.push(param);
                Ok("?".to_owned())
            }
            Placeholders::PgLiterals => pg_literal(&param),
        }
    }
}

/// `param` as a PostgreSQL literal. Text is an escape-string literal,
/// untyped so it takes the column's type as a bound parameter would.
pub(crate) fn pg_literal(param: &Param) -> Result<String, QueryError> {
    Ok(match param {
        Param::Text(text) => text_literal(text)?,
        Param::Int(n) => format!("({n})::int8"),
        // Digits and dashes only.
        Param::Day(day) => format!("'{}'::date", format_date(*day)),
        // RFC 3339 with every microsecond: digits, `-`, `:`, `.`, `T`, `Z`.
        Param::Instant(micros) => format!("'{}'::timestamptz", format_timestamp(*micros)),
        Param::Bool(b) => (if *b { "TRUE" } else { "FALSE" }).to_owned(),
        // Rust's shortest round-trip spelling: digits, `.`, `-`, `e`.
        Param::Float(f) => format!("'{f:e}'::float8"),
        // Checked to be digits, a sign and a point.
        Param::Decimal(text) => format!("'{text}'::numeric"),
    })
}

/// `value` as a PostgreSQL escape-string literal. Inside `E'...'` only a
/// quote and a backslash are special, and both are doubled, so the literal
/// reads back as exactly `value` whatever `standard_conforming_strings`
/// says. UTF-8 never uses those two bytes inside a multi-byte character.
pub(crate) fn text_literal(value: &str) -> Result<String, QueryError> {
    if value.contains('\0') {
        // The client's mistake, not a database failure to retry: as a bind
        // parameter it would fail too.
        return Err(QueryError::NulInFilter);
    }
    let mut out = String::with_capacity(value.len() + 3);
    out.push_str("E'");
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

fn dialect_error(dataset: &Dataset, dialect: Dialect) -> QueryError {
    QueryError::Dialect {
        dataset: dataset.name.clone(),
        problem: missing_dialect(dataset, dialect)
            .unwrap_or_else(|| format!("no SQL for {}", dialect.as_str())),
    }
}

fn column_sql(
    dataset: &Dataset,
    column: &DatasetColumn,
    dialect: Dialect,
) -> Result<String, QueryError> {
    column
        .sql(dialect)
        .ok_or_else(|| dialect_error(dataset, dialect))
}

/// The query's SQL on `dialect`.
pub(super) fn build(
    query: &ExportQuery,
    dialect: Dialect,
    shape: Shape,
    keyed: Option<Keyed>,
    placeholders: Placeholders,
) -> Result<Sql, QueryError> {
    let dataset = query.dataset();
    let columns = query.selected()?;
    let mut b = Builder {
        placeholders,
        params: Vec::new(),
    };
    let read = |column: &DatasetColumn| -> Result<String, QueryError> {
        let sql = column_sql(dataset, column, dialect)?;
        Ok(match (dialect, shape) {
            (Dialect::Postgres, Shape::CastRows) => format!("({sql})::{}", copy_cast(column.kind)),
            (Dialect::MySql, _) => mysql_select(column.kind, &sql),
            _ => sql,
        })
    };
    let mut select = columns
        .iter()
        .map(|c| read(c))
        .collect::<Result<Vec<_>, _>>()?;
    // The order: the range column, then the key.
    let order: Vec<&DatasetColumn> = dataset
        .range()
        .into_iter()
        .chain(dataset.key_columns())
        .collect();
    let order_sql = order
        .iter()
        .map(|c| column_sql(dataset, c, dialect))
        .collect::<Result<Vec<_>, _>>()?;
    if keyed.is_some() {
        for column in &order {
            select.push(read(column)?);
        }
    }
    let mut conditions = Vec::new();
    if let Some(organization) = &query.organization_id {
        let p = b.param(Param::Text(organization.clone()))?;
        conditions.push(format!("d.{} = {p}", dialect.quote(&dataset.tenant_column)));
    }
    if let (Some(user), Some(column)) = (&query.user_id, &dataset.user_column) {
        let p = b.param(Param::Text(user.clone()))?;
        conditions.push(format!("d.{} = {p}", dialect.quote(column)));
    }
    if let Some(range) = dataset.range() {
        let range_sql = column_sql(dataset, range, dialect)?;
        // A day boundary as the range column holds it: the day itself for
        // a date, its first instant (UTC) for a timestamp.
        let bound = |day: i32, field: &'static str| -> Result<Param, QueryError> {
            Ok(match range.kind {
                ColumnType::Date => Param::Day(day),
                _ => Param::Instant(
                    i64::from(day)
                        .checked_mul(86_400_000_000)
                        .ok_or_else(|| QueryError::day_out_of_range(field, day))?,
                ),
            })
        };
        if let Some(from) = query.from {
            let p = b.param(bound(from, "from")?)?;
            conditions.push(format!("{range_sql} >= {p}"));
        }
        if let Some(to) = query.to {
            // Inclusive last day: everything before the next day starts.
            let next = to
                .checked_add(1)
                .ok_or_else(|| QueryError::day_out_of_range("to", to))?;
            let p = b.param(bound(next, "to")?)?;
            conditions.push(format!("{range_sql} < {p}"));
        }
    }
    for condition in query.conditions()? {
        let column = column_sql(dataset, condition.column, dialect)?;
        let decimal = condition.column.kind == ColumnType::Decimal;
        // Decimals compare as numbers on every engine: SQLite may hold
        // them as text, and MySQL would compare a string as a double.
        let column = match (decimal, dialect) {
            (true, Dialect::Sqlite) => format!("CAST({column} AS NUMERIC)"),
            _ => column,
        };
        let mut values = Vec::with_capacity(condition.values.len());
        for value in condition.values {
            let p = b.param(value)?;
            values.push(match (decimal, dialect) {
                (true, Dialect::Sqlite) => format!("CAST({p} AS NUMERIC)"),
                (true, Dialect::MySql) => format!("CAST({p} AS DECIMAL(65,30))"),
                _ => p,
            });
        }
        conditions.push(match condition.op {
            Op::In => format!("{column} IN ({})", values.join(", ")),
            op => format!("{column} {} {}", op.sql(), values[0]),
        });
    }
    if let Some(after) = keyed.and_then(|k| k.after) {
        if after.values.len() != order.len() {
            return Err(QueryError::Dialect {
                dataset: dataset.name.clone(),
                problem: format!(
                    "the export resumes after a key of {} values, but the dataset orders by {}",
                    after.values.len(),
                    order.len()
                ),
            });
        }
        // The row value is the exact condition; the plain bound on the
        // first column lets an (organization, range, key) index start at
        // the key.
        // Placeholders in the order they appear in the text: `?` binds by
        // position.
        if order.len() == 1 {
            let value = b.param(Param::from(&after.values[0]))?;
            conditions.push(format!("{} > {value}", order_sql[0]));
        } else {
            let first = b.param(Param::from(&after.values[0]))?;
            let values = after
                .values
                .iter()
                .map(|v| b.param(Param::from(v)))
                .collect::<Result<Vec<_>, _>>()?;
            conditions.push(format!(
                "{} >= {first} AND ({}) > ({})",
                order_sql[0],
                order_sql.join(", "),
                values.join(", ")
            ));
        }
    }
    let select = if shape == Shape::Count {
        "COUNT(*)".to_owned()
    } else {
        select.join(", ")
    };
    let from = dataset
        .from_sql(dialect)
        .ok_or_else(|| dialect_error(dataset, dialect))?;
    let mut text = format!("SELECT {select} FROM {from}");
    if !conditions.is_empty() {
        text.push_str(" WHERE ");
        text.push_str(&conditions.join(" AND "));
    }
    if shape != Shape::Count {
        // A stable order: the same query always yields the same file, and
        // a resumed export can continue after the last key it wrote.
        text.push_str(&format!(" ORDER BY {}", order_sql.join(", ")));
    }
    Ok(Sql {
        text,
        params: b.params,
    })
}

/// The query text is assembled only from the catalog (column expressions,
/// the dataset's SQL, identifiers it validated) and placeholders or
/// escaped literals; every value a user supplies (tenant, user, dates,
/// keys) is a parameter. Column names from the request are looked up in
/// the catalog, never spliced in.
pub(super) fn audited(sql: &Sql) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.text.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::seed::dataset;
    use crate::query::{ExportQuery, KeyValue, Keyed, QueryError, RowKey, read_schema};

    fn query() -> ExportQuery {
        ExportQuery {
            dataset: dataset("sessions"),
            organization_id: Some("org".into()),
            user_id: None,
            from: Some(20_454),
            to: Some(20_484),
            columns: vec!["id".into(), "started_at".into()],
            filters: Default::default(),
            access: crate::query::Access::unkeyed_superadmin(),
        }
    }

    fn sqlite(query: &ExportQuery, shape: Shape, keyed: Option<Keyed>) -> Sql {
        build(query, Dialect::Sqlite, shape, keyed, Placeholders::Question).unwrap()
    }

    #[test]
    fn the_dataset_is_wrapped_tenant_scoped_ranged_and_ordered() {
        let sql = sqlite(&query(), Shape::Rows, None);
        assert!(
            sql.text
                .starts_with("SELECT d.\"id\", d.\"started_at\" FROM (SELECT s.id,"),
            "{}",
            sql.text
        );
        assert!(
            sql.text.ends_with(
                "FROM sessions s JOIN users u ON u.id = s.user_id) AS d \
                 WHERE d.\"organization_id\" = ? AND d.\"started_at\" >= ? AND d.\"started_at\" < ? \
                 ORDER BY d.\"started_at\", d.\"id\""
            ),
            "{}",
            sql.text
        );
        assert_eq!(
            sql.params,
            [
                Param::Text("org".into()),
                Param::Instant(20_454 * 86_400_000_000),
                Param::Instant(20_485 * 86_400_000_000)
            ]
        );
        let count = sqlite(&query(), Shape::Count, None);
        assert!(count.text.starts_with("SELECT COUNT(*) FROM (SELECT"));
        assert!(!count.text.contains("ORDER BY"));
        assert_eq!(count.params.len(), 3);
    }

    #[test]
    fn a_date_range_column_is_bounded_by_days() {
        let q = ExportQuery {
            dataset: dataset("dashboard"),
            columns: vec![],
            ..query()
        };
        let sql = sqlite(&q, Shape::Rows, None);
        assert!(
            sql.text.contains("d.\"day\" >= ? AND d.\"day\" < ?"),
            "{}",
            sql.text
        );
        assert_eq!(sql.params[1..], [Param::Day(20_454), Param::Day(20_485)]);
        assert!(sql.text.ends_with("ORDER BY d.\"day\", d.\"organization\""));
        let pg = build(
            &q,
            Dialect::Postgres,
            Shape::CastRows,
            None,
            Placeholders::PgLiterals,
        )
        .unwrap();
        assert!(
            pg.text.contains("d.\"day\" >= '2026-01-01'::date"),
            "{}",
            pg.text
        );
    }

    #[test]
    fn keyed_reads_carry_their_keys_and_start_after_one() {
        let key = RowKey {
            values: vec![
                KeyValue::Timestamp(1_767_225_600_000_001),
                KeyValue::Text("s'1".into()),
            ],
        };
        let keyed = Some(Keyed { after: Some(&key) });
        let sql = sqlite(&query(), Shape::Rows, keyed);
        assert!(
            sql.text.starts_with(
                "SELECT d.\"id\", d.\"started_at\", d.\"started_at\", d.\"id\" FROM (SELECT"
            ),
            "{}",
            sql.text
        );
        assert!(sql.text.ends_with(
            "AND d.\"started_at\" >= ? AND (d.\"started_at\", d.\"id\") > (?, ?) \
             ORDER BY d.\"started_at\", d.\"id\""
        ));
        assert_eq!(sql.params.len(), 6);
        assert_eq!(sql.params[4], Param::Instant(1_767_225_600_000_001));
        let schema = read_schema(&query(), keyed).unwrap();
        assert_eq!(schema.len(), 4);
        assert_eq!(schema[2].kind, ColumnType::Timestamp);
        assert_eq!(schema[3].kind, ColumnType::Text);
        // Unkeyed reads are unchanged.
        assert_eq!(read_schema(&query(), None).unwrap().len(), 2);
        let first = sqlite(&query(), Shape::Rows, Some(Keyed::default()));
        assert_eq!(first.params.len(), 3, "no key to start after");
        // A key that does not fit the dataset is refused, not misread.
        let short = RowKey {
            values: vec![KeyValue::Text("x".into())],
        };
        assert!(matches!(
            build(
                &query(),
                Dialect::Sqlite,
                Shape::Rows,
                Some(Keyed {
                    after: Some(&short)
                }),
                Placeholders::Question
            ),
            Err(QueryError::Dialect { .. })
        ));
    }

    #[test]
    fn a_dataset_without_a_range_resumes_after_its_key_alone() {
        let mut dataset = (*dataset("analytics")).clone();
        dataset.range_column = None;
        let q = ExportQuery {
            dataset: std::sync::Arc::new(dataset),
            from: None,
            to: None,
            columns: vec!["id".into()],
            ..query()
        };
        let key = RowKey {
            values: vec![KeyValue::Text("e9".into())],
        };
        let sql = sqlite(&q, Shape::Rows, Some(Keyed { after: Some(&key) }));
        assert!(
            sql.text.ends_with("AND d.\"id\" > ? ORDER BY d.\"id\""),
            "{}",
            sql.text
        );
        // One placeholder per parameter, in order: the tenant, the key.
        assert_eq!(sql.text.matches('?').count(), sql.params.len());
        assert_eq!(sql.params[1], Param::Text("e9".into()));
        // A date range on it is refused, not ignored.
        let ranged = ExportQuery {
            from: Some(1),
            ..q.clone()
        };
        assert!(matches!(ranged.selected(), Err(QueryError::NoRange(_))));
    }

    #[test]
    fn a_key_read_back_from_a_batch_is_typed_and_round_trips() {
        use exporter_runtime::Column;
        use exporter_runtime::batch::BatchBuilder;
        let schema = crate::query::key_schema(&dataset("sessions"));
        assert_eq!(schema.len(), 2);
        let mut builder = BatchBuilder::new(&schema, 4);
        builder.column(0).push_timestamp(Some(7));
        builder.column(1).push_str(Some("a"));
        builder.end_row();
        let batch = builder.take();
        let key = RowKey::at(&batch.columns, 0).unwrap();
        assert_eq!(
            key.values,
            [KeyValue::Timestamp(7), KeyValue::Text("a".into())]
        );
        assert_eq!(RowKey::from_json(&key.to_json()), Some(key));
        // A legacy key of the dashboard is a day, not an instant.
        let legacy = RowKey::legacy(2 * 86_400_000_000, "acme".into(), &dataset("dashboard"));
        assert_eq!(legacy.values[0], KeyValue::Date(2));
        let _ = Column {
            name: String::new(),
            kind: ColumnType::Text,
        };
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
        assert_eq!(q.selected().unwrap().len(), q.dataset.columns.len());
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
            for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
                match build(&q, dialect, Shape::Rows, None, Placeholders::Question) {
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
        build(
            &q,
            Dialect::Postgres,
            Shape::CastRows,
            None,
            Placeholders::PgLiterals,
        )
        .unwrap();
    }
}
