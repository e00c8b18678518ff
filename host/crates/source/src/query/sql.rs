//! The SQL of a query, assembled from the static catalog; every value a
//! user supplies is bound ([`bind_params`]).

use exporter_runtime::ColumnType;

use super::{ExportQuery, Keyed, QueryError};

/// Binds a [`Sql`]'s parameters: a day boundary or a timestamp is
/// microseconds on SQLite and a `timestamptz` on PostgreSQL.
macro_rules! bind_params {
    ($query:expr, $sql:expr, sqlite) => {
        bind_params!(@each $query, $sql, |day: i32| i64::from(day).checked_mul(86_400_000_000), Some)
    };
    ($query:expr, $sql:expr, postgres) => {
        bind_params!(@each $query, $sql, $crate::query::sql::day_start, $crate::query::sql::instant)
    };
    (@each $query:expr, $sql:expr, $day:expr, $instant:expr) => {{
        let mut query = $query;
        for param in &$sql.params {
            query = match param {
                $crate::query::sql::Param::Text(text) => query.bind(text.as_str()),
                $crate::query::sql::Param::DayStart(day) => query.bind(
                    $day(*day).ok_or_else(|| $crate::query::QueryError::day_out_of_range("a range bound", *day))?,
                ),
                $crate::query::sql::Param::Instant(micros) => query.bind($instant(*micros).ok_or_else(|| {
                    $crate::query::QueryError::OutOfRange {
                        field: "a row key",
                        value: format!("{micros} µs"),
                    }
                })?),
            };
        }
        query
    }};
}
pub(crate) use bind_params;

/// The SQL text and its parameters, in order.
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) params: Vec<Param>,
}

pub(crate) enum Param {
    Text(String),
    /// A day boundary: the first instant of that day (UTC).
    DayStart(i32),
    /// An instant, in microseconds since the epoch.
    Instant(i64),
}

#[cfg(test)]
fn build_sql(query: &ExportQuery, postgres: bool) -> Result<Sql, QueryError> {
    build(query, postgres, Shape::Rows, None)
}

/// `SELECT COUNT(*)` over the same rows.
pub(super) fn build_count_sql(query: &ExportQuery, postgres: bool) -> Result<Sql, QueryError> {
    build(query, postgres, Shape::Count, None)
}

/// The PostgreSQL select for a binary `COPY`: the same rows, each column
/// cast to the type `pg_copy` decodes for its kind.
pub(super) fn build_copy_select(
    query: &ExportQuery,
    keyed: Option<Keyed>,
) -> Result<Sql, QueryError> {
    build(query, true, Shape::CastRows, keyed)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
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

pub(super) fn build(
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

/// The query text is assembled only from the static catalog (column
/// expressions, table names) and numbered placeholders; every value a user
/// supplies (tenant, user, dates) is bound. Column names from the request
/// are looked up in the catalog, never spliced in.
pub(super) fn audited(sql: &Sql) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.text.clone())
}

/// The first instant of `day`, or `None` past what `time` (and so the
/// PostgreSQL binding) can represent.
pub(crate) fn day_start(day: i32) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::UNIX_EPOCH.checked_add(time::Duration::days(i64::from(day)))
}

pub(crate) fn instant(micros: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::UNIX_EPOCH.checked_add(time::Duration::microseconds(micros))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::DataType;
    use crate::query::{ExportQuery, KEY_COLUMNS, Keyed, QueryError, RowKey, read_schema};

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
