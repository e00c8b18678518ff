//! MySQL and MariaDB rows, fetched as a stream and decoded into batches.
//!
//! Takes SQL already built and parameters already chosen, so it knows
//! nothing of datasets or tenants. Rows stream (`fetch`, never
//! `fetch_all`): what is held is one batch plus the channel's.
//!
//! Each column is decoded by the contract's type asked for, from whatever
//! the server sends for it (read once from the first row's column
//! metadata), so a `CAST(x AS CHAR)` and a bare column read the same.
//! The session is UTC (`time_zone = '+00:00'`, set when a source's
//! connection opens), so DATETIME and TIMESTAMP are taken as UTC.

use futures::TryStreamExt as _;
use sqlx::mysql::{MySqlRow, MySqlTypeInfo};
use sqlx::{Column as _, Row as _, TypeInfo as _};
use tokio::sync::mpsc;

use exporter_runtime::batch::{BatchBuilder, ColumnBuilder};
use exporter_runtime::{Batch, Column, ColumnType};

/// A bound parameter of a MySQL query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MySqlParam {
    Text(String),
    Int(i64),
    Date(time::Date),
    /// Bound as a UTC DATETIME: the session's time zone is UTC.
    Timestamp(time::OffsetDateTime),
    Bool(bool),
    Float(f64),
}

/// Why rows stopped, with the consumer going away kept apart from a
/// database or decoding failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MySqlRowsError {
    /// The query failed, or a value did not fit its column's type
    /// (`sqlx::Error::ColumnDecode`, naming the column).
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The receiver of the batches was dropped.
    #[error("the consumer of the batches closed")]
    Closed,
}

/// Binds [`MySqlParam`]s to a sqlx query (rows or a scalar): instants as
/// UTC DATETIMEs, the session's time zone.
macro_rules! bind_mysql {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param.clone() {
                $crate::query::mysql::MySqlParam::Text(v) => query.bind(v),
                $crate::query::mysql::MySqlParam::Int(v) => query.bind(v),
                $crate::query::mysql::MySqlParam::Date(v) => query.bind(v),
                $crate::query::mysql::MySqlParam::Bool(v) => query.bind(v),
                $crate::query::mysql::MySqlParam::Float(v) => query.bind(v),
                $crate::query::mysql::MySqlParam::Timestamp(v) => {
                    let utc = v.to_offset(time::UtcOffset::UTC);
                    query.bind(time::PrimitiveDateTime::new(utc.date(), utc.time()))
                }
            };
        }
        query
    }};
}
pub(crate) use bind_mysql;

/// Runs `sql` with `params` on `pool` and sends its rows, decoded by
/// `schema` (one column per selected column, in order), as batches of at
/// most `batch_rows` rows. Returns how many rows were sent.
pub(crate) async fn send_rows(
    pool: &sqlx::MySqlPool,
    sql: &str,
    params: &[MySqlParam],
    schema: &[Column],
    batch_rows: usize,
    tx: mpsc::Sender<Batch>,
) -> Result<u64, MySqlRowsError> {
    let query = bind_mysql!(sqlx::query(sqlx::AssertSqlSafe(sql)), params);
    let mut builder = BatchBuilder::new(schema, batch_rows);
    let mut plan: Option<Vec<Decode>> = None;
    let mut rows = 0u64;
    let mut stream = query.fetch(pool);
    while let Some(row) = stream.try_next().await? {
        let plan = match &mut plan {
            Some(plan) => plan,
            None => plan.insert(decode_plan(&row, schema)?),
        };
        for (index, decode) in plan.iter().enumerate() {
            decode
                .push(&row, index, builder.column(index))
                .map_err(|source| sqlx::Error::ColumnDecode {
                    index: format!("{:?}", schema[index].name),
                    source,
                })?;
        }
        builder.end_row();
        rows += 1;
        if builder.is_full() {
            tx.send(builder.take())
                .await
                .map_err(|_| MySqlRowsError::Closed)?;
        }
    }
    if !builder.is_empty() {
        tx.send(builder.take())
            .await
            .map_err(|_| MySqlRowsError::Closed)?;
    }
    Ok(rows)
}

/// How one column is read: the type asked for and what the server sends.
#[derive(Debug, Clone, Copy)]
struct Decode {
    want: ColumnType,
    sent: Sent,
}

/// What the server sends for a column, by its protocol type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sent {
    Signed,
    Unsigned,
    Float,
    Double,
    Date,
    DateTime,
    /// DECIMAL, strings, JSON, enums: bytes that are text.
    Text,
    Null,
    /// TIME, GEOMETRY: nothing in the contract reads them.
    Other,
}

fn sent(type_info: &MySqlTypeInfo) -> Sent {
    let name = type_info.name();
    match name {
        "NULL" => Sent::Null,
        "FLOAT" => Sent::Float,
        "DOUBLE" => Sent::Double,
        "DATE" => Sent::Date,
        "DATETIME" | "TIMESTAMP" => Sent::DateTime,
        "TIME" | "GEOMETRY" => Sent::Other,
        "BOOLEAN" | "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
            Sent::Signed
        }
        _ if name.ends_with(" UNSIGNED") || name == "BIT" => Sent::Unsigned,
        _ => Sent::Text,
    }
}

fn decode_plan(row: &MySqlRow, schema: &[Column]) -> Result<Vec<Decode>, sqlx::Error> {
    let columns = row.columns();
    if columns.len() != schema.len() {
        return Err(sqlx::Error::Protocol(format!(
            "the query returns {} columns but the schema has {}",
            columns.len(),
            schema.len()
        )));
    }
    Ok(columns
        .iter()
        .zip(schema)
        .map(|(column, want)| Decode {
            want: want.kind,
            sent: sent(column.type_info()),
        })
        .collect())
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl Decode {
    fn push(
        &self,
        row: &MySqlRow,
        index: usize,
        column: &mut ColumnBuilder,
    ) -> Result<(), BoxError> {
        if self.sent == Sent::Null
            || row
                .try_get_raw(index)
                .map(|v| sqlx::ValueRef::is_null(&v))?
        {
            column.push_null();
            return Ok(());
        }
        match self.want {
            ColumnType::Boolean => column.push_bool(Some(match self.sent {
                Sent::Signed => get::<i64>(row, index)? != 0,
                Sent::Unsigned => get::<u64>(row, index)? != 0,
                Sent::Text => parse_bool(text(row, index)?)?,
                _ => return Err(self.cannot()),
            })),
            ColumnType::Int64 => column.push_i64(Some(match self.sent {
                Sent::Signed => get::<i64>(row, index)?,
                Sent::Unsigned => {
                    let value = get::<u64>(row, index)?;
                    i64::try_from(value)
                        .map_err(|_| format!("{value} is past the largest int64"))?
                }
                Sent::Text => text(row, index)?.trim().parse::<i64>()?,
                _ => return Err(self.cannot()),
            })),
            ColumnType::Float64 => column.push_f64(Some(match self.sent {
                Sent::Double => get::<f64>(row, index)?,
                // The shortest text that reads back as the FLOAT, so 0.1
                // stays 0.1 instead of widening to 0.10000000149011612.
                Sent::Float => get::<f32>(row, index)?.to_string().parse::<f64>()?,
                Sent::Signed => get::<i64>(row, index)? as f64,
                Sent::Unsigned => get::<u64>(row, index)? as f64,
                Sent::Text => text(row, index)?.trim().parse::<f64>()?,
                _ => return Err(self.cannot()),
            })),
            ColumnType::Decimal | ColumnType::Text | ColumnType::Json => match self.sent {
                Sent::Text => column.push_str(Some(text(row, index)?)),
                Sent::Signed => column.push_str(Some(&get::<i64>(row, index)?.to_string())),
                Sent::Unsigned => column.push_str(Some(&get::<u64>(row, index)?.to_string())),
                Sent::Double if self.want != ColumnType::Decimal => {
                    column.push_str(Some(&get::<f64>(row, index)?.to_string()))
                }
                _ => return Err(self.cannot()),
            },
            ColumnType::Date => {
                let date = match self.sent {
                    Sent::Date => get::<time::Date>(row, index)?,
                    _ => return Err(self.cannot()),
                };
                column.push_date(Some(days_since_epoch(date)));
            }
            ColumnType::Timestamp => {
                let at = match self.sent {
                    Sent::DateTime => get::<time::PrimitiveDateTime>(row, index)?,
                    _ => return Err(self.cannot()),
                };
                column.push_timestamp(Some(micros_since_epoch(at)?));
            }
        }
        Ok(())
    }

    fn cannot(&self) -> BoxError {
        format!("a {:?} value cannot be read as {:?}", self.sent, self.want).into()
    }
}

/// A value by type, without sqlx's type check: [`sent`] has checked the
/// protocol type already, and sqlx's would refuse, say, an i64 from an
/// UNSIGNED column that is then range-checked here.
fn get<'r, T: sqlx::Decode<'r, sqlx::MySql>>(
    row: &'r MySqlRow,
    index: usize,
) -> Result<T, BoxError> {
    let raw = row.try_get_raw(index)?;
    T::decode(raw)
}

/// The bytes of a text-like value, which must be UTF-8 (the connection's
/// character set is utf8mb4; a binary column is not text).
fn text(row: &MySqlRow, index: usize) -> Result<&str, BoxError> {
    let bytes: &[u8] = get(row, index)?;
    Ok(std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text")?)
}

fn parse_bool(text: &str) -> Result<bool, BoxError> {
    match text.trim() {
        "1" | "true" | "TRUE" => Ok(true),
        "0" | "false" | "FALSE" => Ok(false),
        other => Err(format!("{other:?} is not a boolean").into()),
    }
}

fn days_since_epoch(date: time::Date) -> i32 {
    date.to_julian_day() - time::OffsetDateTime::UNIX_EPOCH.date().to_julian_day()
}

fn micros_since_epoch(at: time::PrimitiveDateTime) -> Result<i64, BoxError> {
    let micros = at.assume_utc().unix_timestamp_nanos() / 1000;
    Ok(i64::try_from(micros)?)
}

/// Against MariaDB on this machine (127.0.0.1:3306, set up as root over
/// its unix socket), each test in a database of its own, through a source
/// opened as the service opens one (read-only session, UTC, ANSI_QUOTES).
#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use exporter_runtime::{ColumnData, ColumnValues};
    use sqlx::Connection as _;

    use super::*;
    use crate::sources::{SourceConfig, SourcePool, Sources};

    const SOCKET: &str = "/run/mysqld/mysqld.sock";
    const USER: &str = "exporter_test";
    const PASSWORD: &str = "exporter_test";
    const START_MARIADB: &str = "MariaDB is not reachable (unix socket /run/mysqld/mysqld.sock, \
        127.0.0.1:3306): start it with `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`";

    async fn admin() -> sqlx::MySqlConnection {
        let options = sqlx::mysql::MySqlConnectOptions::new()
            .socket(SOCKET)
            .username("root");
        match sqlx::MySqlConnection::connect_with(&options).await {
            Ok(conn) => conn,
            Err(e) => panic!("{START_MARIADB} ({e})"),
        }
    }

    /// A fresh database, dropped when this goes out of scope.
    struct Database {
        name: String,
        _service: tempfile::TempDir,
        pool: sqlx::MySqlPool,
    }

    impl Database {
        /// Makes the database, runs `setup` in it as root, and opens it as
        /// a source.
        async fn create(setup: &str) -> Database {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let name = format!(
                "exporter_src_rows_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let mut admin = admin().await;
            let sql = format!(
                "CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; \
                 DROP DATABASE IF EXISTS {name}; \
                 CREATE DATABASE {name} CHARACTER SET utf8mb4; \
                 GRANT ALL ON {name}.* TO '{USER}'@'127.0.0.1'; \
                 USE {name}; {setup}"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .unwrap();
            let service = tempfile::tempdir().unwrap();
            let default = exporter_store::db::Database::connect(&format!(
                "sqlite://{}",
                service.path().join("exporter.db").display()
            ))
            .await
            .unwrap();
            let configured = BTreeMap::from([(
                "shop".to_owned(),
                SourceConfig::new(format!("mysql://{USER}:{PASSWORD}@127.0.0.1:3306/{name}")),
            )]);
            let (sources, unreachable) = Sources::open(&default, &configured).await.unwrap();
            assert!(unreachable.is_empty(), "{:?}", unreachable);
            let SourcePool::MySql(pool) = sources.get("shop").unwrap().pool.clone() else {
                panic!("a MySQL pool")
            };
            Database {
                name,
                _service: service,
                pool,
            }
        }

        /// Writes as root: the source itself is read-only.
        async fn admin_pool(&self) -> sqlx::MySqlPool {
            let options = sqlx::mysql::MySqlConnectOptions::new()
                .socket(SOCKET)
                .username("root")
                .database(&self.name);
            sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .unwrap()
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async move {
                        let mut admin = admin().await;
                        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                            .execute(&mut admin)
                            .await
                    })
            })
            .join();
        }
    }

    const ORDERS: &str = "CREATE TABLE orders (
        id BIGINT PRIMARY KEY,
        amount DECIMAL(38, 10),
        note TEXT,
        payload JSON,
        placed_at DATETIME(6),
        due DATE,
        paid BOOLEAN,
        ratio DOUBLE,
        small FLOAT,
        counter BIGINT UNSIGNED
    )";

    const ROWS: u64 = 3_000;

    /// Row `i`'s values, as the test expects them back. Every tenth row is
    /// NULL in every column but the id.
    struct Expected {
        id: i64,
        amount: Option<String>,
        note: Option<String>,
        payload: Option<String>,
        placed_at: Option<i64>,
        due: Option<i32>,
        paid: Option<bool>,
        ratio: Option<f64>,
        small: Option<f32>,
        counter: Option<u64>,
    }

    fn expected(i: u64) -> Expected {
        let id = (1i64 << 53) + 1 + i as i64 * 7919;
        if i % 10 == 9 {
            return Expected {
                id,
                amount: None,
                note: None,
                payload: None,
                placed_at: None,
                due: None,
                paid: None,
                ratio: None,
                small: None,
                counter: None,
            };
        }
        // 28 integer digits and 10 fraction digits: all 38, none through a float.
        let whole = 10u128.pow(27)
            + (u128::from(i) * 3_141_592_653_589_793_238_462_643) % (9 * 10u128.pow(27));
        let fraction = (u128::from(i) * 2_718_281_828) % 10u128.pow(10);
        let sign = if i % 2 == 1 { "-" } else { "" };
        Expected {
            id,
            amount: Some(format!("{sign}{whole}.{fraction:010}")),
            note: Some(format!("注文 {i} 🚀 «\"quoted\"» \\ ✓")),
            payload: Some(format!(r#"{{"i": {i}, "name": "顧客 🎉"}}"#)),
            // Microseconds that are not round, on both sides of 1970.
            placed_at: Some(-86_400_000_000 + i as i64 * 1_234_567_891_237),
            due: Some(-365 + i as i32 * 7),
            paid: Some(i.is_multiple_of(3)),
            ratio: Some(i as f64 / 7.0),
            small: Some((i % 100) as f32 / 10.0),
            counter: Some(i * 1_000_003),
        }
    }

    fn primitive(micros: i64) -> time::PrimitiveDateTime {
        let at =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).unwrap();
        time::PrimitiveDateTime::new(at.date(), at.time())
    }

    fn date(days: i32) -> time::Date {
        time::Date::from_julian_day(time::OffsetDateTime::UNIX_EPOCH.date().to_julian_day() + days)
            .unwrap()
    }

    async fn fill(db: &Database) {
        let pool = db.admin_pool().await;
        let all: Vec<u64> = (0..ROWS).collect();
        for chunk in all.chunks(500) {
            let mut sql = String::from(
                "INSERT INTO orders (id, amount, note, payload, placed_at, due, paid, ratio, small, counter) VALUES ",
            );
            sql.push_str(&vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", "));
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for &i in chunk {
                let e = expected(i);
                query = query
                    .bind(e.id)
                    .bind(e.amount)
                    .bind(e.note)
                    .bind(e.payload)
                    .bind(e.placed_at.map(primitive))
                    .bind(e.due.map(date))
                    .bind(e.paid)
                    .bind(e.ratio)
                    .bind(e.small)
                    .bind(e.counter);
            }
            query.execute(&pool).await.unwrap();
        }
        pool.close().await;
    }

    fn column(name: &str, kind: ColumnType) -> Column {
        Column {
            name: name.to_owned(),
            kind,
        }
    }

    fn present(data: &ColumnData, row: usize) -> bool {
        data.validity
            .as_ref()
            .is_none_or(|bits| bits[row / 8] & (1 << (row % 8)) != 0)
    }

    fn text(data: &ColumnData, row: usize) -> Option<String> {
        present(data, row).then(|| {
            exporter_runtime::batch::slice::text_at(data, row)
                .unwrap()
                .to_owned()
        })
    }

    fn value<T: Copy>(data: &ColumnData, row: usize, pick: fn(&ColumnValues) -> &[T]) -> Option<T> {
        present(data, row).then(|| pick(&data.values)[row])
    }

    #[tokio::test]
    async fn mysql_rows_stream_in_batches_and_read_back_exactly() {
        let db = Database::create(ORDERS).await;
        fill(&db).await;
        let schema = [
            column("id", ColumnType::Int64),
            column("amount", ColumnType::Decimal),
            column("amount_raw", ColumnType::Decimal),
            column("note", ColumnType::Text),
            column("payload", ColumnType::Json),
            column("placed_at", ColumnType::Timestamp),
            column("due", ColumnType::Date),
            column("paid", ColumnType::Boolean),
            column("ratio", ColumnType::Float64),
            column("small", ColumnType::Float64),
            column("counter", ColumnType::Int64),
        ];
        // Double-quoted identifiers (the session's ANSI_QUOTES), decimal
        // both cast to CHAR as the SQL builder does and bare, and one
        // parameter of every kind, none of which drops a row.
        let sql = r#"SELECT "id", CAST("amount" AS CHAR), "amount", "note", "payload",
                "placed_at", "due", "paid", "ratio", "small", "counter"
            FROM "orders"
            WHERE "id" >= ? AND ("placed_at" IS NULL OR "placed_at" >= ?)
              AND ("due" IS NULL OR "due" >= ?)
              AND COALESCE("note", '') <> ?
            ORDER BY "id""#;
        let earliest = time::OffsetDateTime::UNIX_EPOCH
            .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap())
            - time::Duration::days(2);
        let params = [
            MySqlParam::Int(0),
            MySqlParam::Timestamp(earliest),
            MySqlParam::Date(date(-400)),
            MySqlParam::Text("никогда 🚫".to_owned()),
        ];
        let (tx, mut rx) = mpsc::channel(2);
        let pool = db.pool.clone();
        let sending =
            tokio::spawn(async move { send_rows(&pool, sql, &params, &schema, 100, tx).await });
        let mut i = 0u64;
        let mut batches = 0;
        while let Some(batch) = rx.recv().await {
            batches += 1;
            let rows = batch.rows as usize;
            assert!(rows <= 100 && rows > 0);
            let c = &batch.columns;
            for row in 0..rows {
                let e = expected(i);
                let id = value(&c[0], row, |v| match v {
                    ColumnValues::Int64(v) => v,
                    _ => panic!(),
                });
                assert_eq!(id, Some(e.id), "row {i}");
                assert_eq!(text(&c[1], row), e.amount, "row {i}");
                assert_eq!(text(&c[2], row), e.amount, "row {i}");
                assert_eq!(text(&c[3], row), e.note, "row {i}");
                assert_eq!(text(&c[4], row), e.payload, "row {i}");
                let placed_at = value(&c[5], row, |v| match v {
                    ColumnValues::Timestamp(v) => v,
                    _ => panic!(),
                });
                assert_eq!(placed_at, e.placed_at, "row {i}");
                let due = value(&c[6], row, |v| match v {
                    ColumnValues::Date(v) => v,
                    _ => panic!(),
                });
                assert_eq!(due, e.due, "row {i}");
                let paid = value(&c[7], row, |v| match v {
                    ColumnValues::Boolean(v) => v,
                    _ => panic!(),
                });
                assert_eq!(paid, e.paid, "row {i}");
                let float = |index: usize| {
                    value(&c[index], row, |v| match v {
                        ColumnValues::Float64(v) => v,
                        _ => panic!(),
                    })
                };
                assert_eq!(float(8), e.ratio, "row {i}");
                // FLOAT keeps its shortest text: 0.1 reads 0.1, not 0.100000001…
                assert_eq!(
                    float(9),
                    e.small.map(|f| f.to_string().parse::<f64>().unwrap()),
                    "row {i}"
                );
                if e.small.is_some() {
                    assert_eq!(float(9), Some(f64::from((i % 100) as u32) / 10.0));
                }
                let counter = value(&c[10], row, |v| match v {
                    ColumnValues::Int64(v) => v,
                    _ => panic!(),
                });
                assert_eq!(counter, e.counter.map(|n| n as i64), "row {i}");
                i += 1;
            }
        }
        assert_eq!(sending.await.unwrap().unwrap(), ROWS);
        assert_eq!(i, ROWS);
        assert_eq!(batches, ROWS / 100);
    }

    #[tokio::test]
    async fn mysql_rows_refuse_to_wrap_and_tell_a_closed_consumer_apart() {
        let db = Database::create(
            "CREATE TABLE counters (id INT PRIMARY KEY, counter BIGINT UNSIGNED);
             INSERT INTO counters VALUES (1, 9223372036854775807), (2, 18446744073709551615);",
        )
        .await;
        let schema = [column("counter", ColumnType::Int64)];
        let sql = r#"SELECT "counter" FROM "counters" ORDER BY "id""#;

        // Past i64::MAX: an error naming the column, never a wrapped value.
        let (tx, mut rx) = mpsc::channel(8);
        let failed = send_rows(&db.pool, sql, &[], &schema, 1, tx)
            .await
            .unwrap_err();
        let message = failed.to_string();
        assert!(matches!(
            failed,
            MySqlRowsError::Database(sqlx::Error::ColumnDecode { .. })
        ));
        assert!(
            message.contains("counter") && message.contains("18446744073709551615"),
            "{message}"
        );
        let first = rx.recv().await.unwrap();
        assert_eq!(
            value(&first.columns[0], 0, |v| match v {
                ColumnValues::Int64(v) => v,
                _ => panic!(),
            }),
            Some(i64::MAX)
        );

        // The consumer went away: not a database failure.
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let closed = send_rows(&db.pool, sql, &[], &schema, 1, tx)
            .await
            .unwrap_err();
        assert!(matches!(closed, MySqlRowsError::Closed), "{closed:?}");
    }
}
