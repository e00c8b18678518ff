//! A table's columns and keys, read from the engine's own catalog, each
//! column mapped to the contract's column type where one fits.
//!
//! A column no type fits (binary, arrays, geometry, intervals) is listed
//! with `mapped: None`, never dropped: whoever defines a dataset over the
//! table sees it and decides. Table names are bound as parameters in every
//! catalog query (SQLite's through the table-valued `pragma_*` functions),
//! never spliced into SQL.

use exporter_runtime::ColumnType;
use futures::TryStreamExt as _;
use sqlx::Row as _;

use super::{Source, SourceEngine, SourcePool};

/// One column as the catalog describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct IntrospectedColumn {
    pub name: String,
    /// The type as the engine names it: `numeric(38,10)`, `bigint unsigned`,
    /// `timestamp with time zone`, a SQLite declared type (maybe empty).
    pub sql_type: String,
    pub nullable: bool,
    /// The contract's type for it; `None` when none fits.
    pub mapped: Option<ColumnType>,
}

/// A table's columns in order, and its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct IntrospectedTable {
    /// The schema (PostgreSQL), database (MySQL) or attached database
    /// (SQLite) the table was found in.
    pub schema: Option<String>,
    pub table: String,
    pub columns: Vec<IntrospectedColumn>,
    /// The primary key's columns, in key order, if the table has one.
    pub primary_key: Option<Vec<String>>,
    /// Every set of columns known unique: the primary key first, then each
    /// unique index or constraint (not partial, not on expressions), by
    /// name.
    pub unique_keys: Vec<Vec<String>>,
}

/// Why a table could not be introspected.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    #[error("source {source_name:?} has no table {table:?}")]
    NotFound { source_name: String, table: String },
    /// The catalog could not be read; one line naming the source, scrubbed
    /// of its URL's secrets.
    #[error(transparent)]
    Database(anyhow::Error),
}

/// Reads `table` (`orders`, or qualified: `public.orders`, `shop.orders`,
/// `main.orders`) from `source`'s catalog. Names are matched as stored
/// (PostgreSQL folds unquoted names to lower case when a table is created,
/// so `orders`, not `Orders`). An unqualified name is looked up as the
/// engine would resolve it: PostgreSQL's `search_path`, MySQL's current
/// database, SQLite's `main` then attached databases.
pub async fn introspect(
    source: &Source,
    table: &str,
) -> Result<IntrospectedTable, IntrospectError> {
    let (schema, name) = match table.split_once('.') {
        Some((schema, name)) => (Some(schema), name),
        None => (None, table),
    };
    let failed = |e: sqlx::Error| {
        IntrospectError::Database(source.failure("cannot read the catalog of", &e))
    };
    let found = match &source.pool {
        SourcePool::Postgres(pool) => postgres(pool, schema, name).await.map_err(failed)?,
        SourcePool::Sqlite(pool) => sqlite(pool, schema, name).await.map_err(failed)?,
        SourcePool::MySql(pool) => mysql(pool, schema, name).await.map_err(failed)?,
    };
    found.ok_or_else(|| IntrospectError::NotFound {
        source_name: source.name.clone(),
        table: table.to_owned(),
    })
}

async fn postgres(
    pool: &sqlx::PgPool,
    schema: Option<&str>,
    table: &str,
) -> Result<Option<IntrospectedTable>, sqlx::Error> {
    // Visible through search_path when unqualified, as a query would see it.
    let found = sqlx::query(
        "SELECT c.oid::int8, n.nspname::text FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
           AND (($2::text IS NULL AND pg_catalog.pg_table_is_visible(c.oid)) OR n.nspname = $2) \
         LIMIT 1",
    )
    .bind(table)
    .bind(schema)
    .fetch_optional(pool)
    .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    let oid: i64 = found.try_get(0)?;
    let schema: String = found.try_get(1)?;

    let rows = sqlx::query(
        "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
                NOT a.attnotnull, t.typtype::text \
         FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;
    let mut columns = Vec::with_capacity(rows.len());
    for row in rows {
        let sql_type: String = row.try_get(1)?;
        let typtype: String = row.try_get(3)?;
        // A user-defined enum reads as its label.
        let mapped = if typtype == "e" {
            Some(ColumnType::Text)
        } else {
            map_type(SourceEngine::Postgres, &sql_type)
        };
        columns.push(IntrospectedColumn {
            name: row.try_get(0)?,
            sql_type,
            nullable: row.try_get(2)?,
            mapped,
        });
    }

    let keys = sqlx::query(
        "SELECT i.indisprimary, \
                array_agg(a.attname::text ORDER BY k.ord) \
         FROM pg_catalog.pg_index i \
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
         WHERE i.indrelid = $1::int8::oid AND (i.indisprimary OR i.indisunique) \
           AND i.indpred IS NULL AND i.indexprs IS NULL \
         GROUP BY i.indexrelid, i.indisprimary, ic.relname \
         ORDER BY i.indisprimary DESC, ic.relname",
    )
    .bind(oid)
    .fetch_all(pool)
    .await?;
    let mut primary_key = None;
    let mut unique_keys = Vec::new();
    for row in keys {
        let primary: bool = row.try_get(0)?;
        let key: Vec<String> = row.try_get(1)?;
        if primary {
            primary_key = Some(key.clone());
        }
        unique_keys.push(key);
    }
    Ok(Some(IntrospectedTable {
        schema: Some(schema),
        table: table.to_owned(),
        columns,
        primary_key,
        unique_keys,
    }))
}

async fn sqlite(
    pool: &sqlx::SqlitePool,
    schema: Option<&str>,
    table: &str,
) -> Result<Option<IntrospectedTable>, sqlx::Error> {
    let schema = match schema {
        Some(schema) => schema.to_owned(),
        None => {
            // The first database (main, temp, attached…) that has it.
            let databases: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_database_list ORDER BY seq")
                    .fetch_all(pool)
                    .await?;
            let mut found = None;
            for database in databases {
                let count: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM pragma_table_info(?1, ?2)")
                        .bind(table)
                        .bind(&database)
                        .fetch_one(pool)
                        .await?;
                if count > 0 {
                    found = Some(database);
                    break;
                }
            }
            match found {
                Some(database) => database,
                None => return Ok(None),
            }
        }
    };
    let rows = sqlx::query(
        "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1, ?2) ORDER BY cid",
    )
    .bind(table)
    .bind(&schema)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut columns = Vec::with_capacity(rows.len());
    let mut pk: Vec<(i64, String)> = Vec::new();
    for row in rows {
        let name: String = row.try_get(0)?;
        let sql_type: String = row.try_get(1)?;
        let not_null: bool = row.try_get(2)?;
        let pk_position: i64 = row.try_get(3)?;
        if pk_position > 0 {
            pk.push((pk_position, name.clone()));
        }
        columns.push(IntrospectedColumn {
            mapped: map_type(SourceEngine::Sqlite, &sql_type),
            nullable: !not_null,
            name,
            sql_type,
        });
    }
    pk.sort();
    // A primary key column may hold NULL in SQLite unless declared NOT
    // NULL, except the rowid alias (a lone INTEGER PRIMARY KEY).
    if let [(_, only)] = pk.as_slice()
        && let Some(column) = columns.iter_mut().find(|c| c.name == *only)
        && column.sql_type.eq_ignore_ascii_case("integer")
    {
        column.nullable = false;
    }
    let primary_key: Option<Vec<String>> =
        (!pk.is_empty()).then(|| pk.into_iter().map(|(_, name)| name).collect());

    let mut unique_keys: Vec<Vec<String>> = primary_key.iter().cloned().collect();
    let indexes = sqlx::query(
        "SELECT name, origin FROM pragma_index_list(?1, ?2) \
         WHERE \"unique\" = 1 AND partial = 0 ORDER BY name",
    )
    .bind(table)
    .bind(&schema)
    .fetch_all(pool)
    .await?;
    for index in indexes {
        let index_name: String = index.try_get(0)?;
        let origin: String = index.try_get(1)?;
        if origin == "pk" {
            // The primary key, listed first already.
            continue;
        }
        let names: Vec<Option<String>> =
            sqlx::query_scalar("SELECT name FROM pragma_index_info(?1, ?2) ORDER BY seqno")
                .bind(&index_name)
                .bind(&schema)
                .fetch(pool)
                .try_collect()
                .await?;
        // A NULL name is an expression: not a key over columns.
        if let Some(key) = names.into_iter().collect::<Option<Vec<String>>>() {
            unique_keys.push(key);
        }
    }
    Ok(Some(IntrospectedTable {
        schema: Some(schema),
        table: table.to_owned(),
        columns,
        primary_key,
        unique_keys,
    }))
}

async fn mysql(
    pool: &sqlx::MySqlPool,
    schema: Option<&str>,
    table: &str,
) -> Result<Option<IntrospectedTable>, sqlx::Error> {
    // information_schema's text columns are cast to CHAR: MySQL 8 hands
    // some of them out in a binary collation.
    let rows = sqlx::query(
        "SELECT CAST(TABLE_SCHEMA AS CHAR), CAST(COLUMN_NAME AS CHAR), \
                CAST(COLUMN_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR), \
                CAST(DATA_TYPE AS CHAR) \
         FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
         ORDER BY ORDINAL_POSITION",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(pool)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let schema: String = first.try_get(0)?;
    let mut columns = Vec::with_capacity(rows.len());
    let mut longtext = false;
    for row in &rows {
        let sql_type: String = row.try_get(2)?;
        let nullable: String = row.try_get(3)?;
        let data_type: String = row.try_get(4)?;
        longtext |= data_type.eq_ignore_ascii_case("longtext");
        columns.push(IntrospectedColumn {
            name: row.try_get(1)?,
            mapped: map_type(SourceEngine::MySql, &sql_type),
            sql_type,
            nullable: nullable == "YES",
        });
    }
    if longtext {
        mariadb_json(pool, &schema, table, &mut columns).await;
    }

    let keys = sqlx::query(
        "SELECT CAST(INDEX_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) \
         FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 \
         ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
    )
    .bind(&schema)
    .bind(table)
    .fetch_all(pool)
    .await?;
    let mut primary_key = None;
    let mut unique_keys: Vec<Vec<String>> = Vec::new();
    let mut current: Option<(String, Option<Vec<String>>)> = None;
    let mut finish = |index: String, key: Option<Vec<String>>| {
        // A key with an expression part (MySQL 8 functional index) has a
        // NULL column: not a key over columns.
        if let Some(key) = key {
            if index == "PRIMARY" {
                primary_key = Some(key.clone());
            }
            unique_keys.push(key);
        }
    };
    for row in keys {
        let index: String = row.try_get(0)?;
        let column: Option<String> = row.try_get(1)?;
        match &mut current {
            Some((name, key)) if *name == index => {
                if let (Some(key), Some(column)) = (key.as_mut(), column) {
                    key.push(column);
                } else {
                    *key = None;
                }
            }
            _ => {
                if let Some((name, key)) = current.take() {
                    finish(name, key);
                }
                current = Some((index, column.map(|c| vec![c])));
            }
        }
    }
    if let Some((name, key)) = current.take() {
        finish(name, key);
    }
    Ok(Some(IntrospectedTable {
        schema: Some(schema),
        table: table.to_owned(),
        columns,
        primary_key,
        unique_keys,
    }))
}

/// MariaDB's JSON is LONGTEXT with a `json_valid(col)` check constraint:
/// such columns map to json. Best effort: MySQL has a JSON type of its
/// own and no TABLE_NAME in CHECK_CONSTRAINTS, so a failure here changes
/// nothing.
async fn mariadb_json(
    pool: &sqlx::MySqlPool,
    schema: &str,
    table: &str,
    columns: &mut [IntrospectedColumn],
) {
    let checks: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar(
        "SELECT CAST(CHECK_CLAUSE AS CHAR) FROM information_schema.CHECK_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(pool)
    .await;
    let Ok(checks) = checks else { return };
    for column in columns {
        if !column.sql_type.eq_ignore_ascii_case("longtext") {
            continue;
        }
        // Quoted with backticks, or double quotes under ANSI_QUOTES.
        let quoted = [
            format!("json_valid(`{}`)", column.name.replace('`', "``")),
            format!("json_valid(\"{}\")", column.name.replace('"', "\"\"")),
        ];
        if checks
            .iter()
            .any(|check| quoted.iter().any(|q| check.eq_ignore_ascii_case(q)))
        {
            column.mapped = Some(ColumnType::Json);
        }
    }
}

/// The contract's type for a column of type `sql_type` on `engine`, or
/// `None` when none fits (binary, arrays, geometry, intervals, times of
/// day, unknown types).
///
/// - exact numbers (`numeric`, `decimal`) → decimal; integers of any width
///   (`int2`…`int8`, `smallint`…`bigint`, `serial`, MySQL `unsigned`) →
///   int64 (an unsigned value past `i64::MAX` fails when read, it never
///   wraps); `real`, `double`, `float` → float64;
/// - `bool`, MySQL `tinyint(1)` and `bit(1)` → boolean;
/// - `text`, `varchar`, `char`, `citext`, `uuid`, `enum`, `set` → text;
///   `json`, `jsonb` → json; `date` → date; `timestamp`, `timestamptz`,
///   `datetime` → timestamp.
///
/// SQLite's declared types follow its affinity rules where those are
/// clear (a name containing `INT` is an integer, `CHAR`/`CLOB`/`TEXT`
/// text, `REAL`/`FLOA`/`DOUB` float, `BLOB` or no type unmappable), after
/// the names that say more (`BOOLEAN`, `DATE`, `DATETIME`, `TIMESTAMP`,
/// `JSON`, `DECIMAL`/`NUMERIC`).
pub fn map_type(engine: SourceEngine, sql_type: &str) -> Option<ColumnType> {
    let lower = sql_type.trim().to_ascii_lowercase();
    if lower.ends_with("[]") || lower.starts_with('_') {
        // PostgreSQL arrays (format_type's `integer[]`, the `_int4` name).
        return None;
    }
    if engine == SourceEngine::MySql && matches!(lower.as_str(), "tinyint(1)" | "bit(1)") {
        return Some(ColumnType::Boolean);
    }
    // `numeric(38,10)` → `numeric`; `bigint(20) unsigned` → `bigint`;
    // `timestamp(3) with time zone` → `timestamp with time zone`.
    let mut base = String::with_capacity(lower.len());
    let mut depth = 0;
    for c in lower.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => base.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = base
        .split_whitespace()
        .filter(|w| !matches!(*w, "unsigned" | "signed" | "zerofill"))
        .collect();
    let base = words.join(" ");
    if engine == SourceEngine::Sqlite {
        return sqlite_affinity(&base);
    }
    Some(match base.as_str() {
        "numeric" | "decimal" | "dec" | "fixed" => ColumnType::Decimal,
        "smallint" | "integer" | "int" | "bigint" | "int2" | "int4" | "int8" | "tinyint"
        | "mediumint" | "smallserial" | "serial" | "bigserial" | "serial2" | "serial4"
        | "serial8" | "year" => ColumnType::Int64,
        "real" | "double precision" | "double" | "float" | "float4" | "float8" => {
            ColumnType::Float64
        }
        "boolean" | "bool" => ColumnType::Boolean,
        "text" | "character varying" | "varchar" | "character" | "char" | "bpchar" | "citext"
        | "uuid" | "name" | "enum" | "set" | "tinytext" | "mediumtext" | "longtext" | "nchar"
        | "nvarchar" | "national char" | "national varchar" => ColumnType::Text,
        "json" | "jsonb" => ColumnType::Json,
        "date" => ColumnType::Date,
        "timestamp"
        | "timestamp without time zone"
        | "timestamp with time zone"
        | "timestamptz"
        | "datetime" => ColumnType::Timestamp,
        _ => return None,
    })
}

fn sqlite_affinity(base: &str) -> Option<ColumnType> {
    let upper = base.to_ascii_uppercase();
    Some(match upper.as_str() {
        "BOOLEAN" | "BOOL" => ColumnType::Boolean,
        "DATE" => ColumnType::Date,
        "DATETIME" | "TIMESTAMP" | "TIMESTAMPTZ" => ColumnType::Timestamp,
        "JSON" | "JSONB" => ColumnType::Json,
        "NUMERIC" | "DECIMAL" => ColumnType::Decimal,
        "" => return None,
        _ if upper.contains("INT") => ColumnType::Int64,
        _ if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") => {
            ColumnType::Text
        }
        "UUID" => ColumnType::Text,
        _ if upper.contains("BLOB") => return None,
        _ if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") => {
            ColumnType::Float64
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_map_postgres_types() {
        let pg = |t| map_type(SourceEngine::Postgres, t);
        assert_eq!(pg("numeric(38,10)"), Some(ColumnType::Decimal));
        assert_eq!(pg("bigint"), Some(ColumnType::Int64));
        assert_eq!(pg("integer"), Some(ColumnType::Int64));
        assert_eq!(pg("double precision"), Some(ColumnType::Float64));
        assert_eq!(
            pg("timestamp(3) with time zone"),
            Some(ColumnType::Timestamp)
        );
        assert_eq!(
            pg("timestamp without time zone"),
            Some(ColumnType::Timestamp)
        );
        assert_eq!(pg("character varying(20)"), Some(ColumnType::Text));
        assert_eq!(pg("uuid"), Some(ColumnType::Text));
        assert_eq!(pg("jsonb"), Some(ColumnType::Json));
        assert_eq!(pg("boolean"), Some(ColumnType::Boolean));
        assert_eq!(pg("date"), Some(ColumnType::Date));
        for unmappable in [
            "bytea",
            "integer[]",
            "interval",
            "point",
            "time without time zone",
        ] {
            assert_eq!(pg(unmappable), None, "{unmappable}");
        }
    }

    #[test]
    fn sources_map_mysql_types() {
        let my = |t| map_type(SourceEngine::MySql, t);
        assert_eq!(my("tinyint(1)"), Some(ColumnType::Boolean));
        assert_eq!(my("tinyint(4)"), Some(ColumnType::Int64));
        assert_eq!(my("bigint(20) unsigned"), Some(ColumnType::Int64));
        assert_eq!(my("decimal(38,10)"), Some(ColumnType::Decimal));
        assert_eq!(my("float"), Some(ColumnType::Float64));
        assert_eq!(my("datetime(6)"), Some(ColumnType::Timestamp));
        assert_eq!(my("enum('a','b')"), Some(ColumnType::Text));
        assert_eq!(my("longtext"), Some(ColumnType::Text));
        assert_eq!(my("json"), Some(ColumnType::Json));
        for unmappable in ["blob", "varbinary(16)", "geometry", "time(6)", "bit(8)"] {
            assert_eq!(my(unmappable), None, "{unmappable}");
        }
    }

    #[test]
    fn sources_map_sqlite_declared_types() {
        let lite = |t| map_type(SourceEngine::Sqlite, t);
        assert_eq!(lite("INTEGER"), Some(ColumnType::Int64));
        assert_eq!(lite("unsigned big int"), Some(ColumnType::Int64));
        assert_eq!(lite("VARCHAR(20)"), Some(ColumnType::Text));
        assert_eq!(lite("DECIMAL(38,10)"), Some(ColumnType::Decimal));
        assert_eq!(lite("DOUBLE PRECISION"), Some(ColumnType::Float64));
        assert_eq!(lite("BOOLEAN"), Some(ColumnType::Boolean));
        assert_eq!(lite("DATETIME"), Some(ColumnType::Timestamp));
        assert_eq!(lite("DATE"), Some(ColumnType::Date));
        assert_eq!(lite("JSON"), Some(ColumnType::Json));
        assert_eq!(lite("BLOB"), None);
        assert_eq!(lite(""), None);
    }
}
