//! Named sources against real databases: PostgreSQL on 127.0.0.1:5432
//! (trust auth, user postgres), MariaDB on 127.0.0.1:3306 (set up as root
//! over its unix socket; the sources connect over TCP as a user with a
//! password), and SQLite files. Each test makes its own database and drops
//! it afterwards, even when it fails.
//!
//! The same `orders` table is made on each engine: 64-bit ids past 2^53,
//! DECIMAL(38, 10) values with 38 digits, NULL in every nullable column,
//! JSON, timestamps, dates, booleans, emoji and CJK text, and one column
//! no contract type fits (bytea / BLOB).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use exporter_runtime::ColumnType;
use exporter_source::sources::{
    IntrospectError, IntrospectedTable, SourceConfig, SourceEngine, SourceOpenError, SourcePool,
    Sources, introspect,
};
use sqlx::Connection as _;

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const MARIADB_SOCKET: &str = "/run/mysqld/mysqld.sock";
const MARIADB_USER: &str = "exporter_test";
const MARIADB_PASSWORD: &str = "exporter_test";
const START_MARIADB: &str = "MariaDB is not reachable (unix socket /run/mysqld/mysqld.sock, \
    127.0.0.1:3306): start it with `start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`";

fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "exporter_src_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The service's own database, for `default`.
async fn service_database(dir: &tempfile::TempDir) -> exporter_store::db::Database {
    let url = format!("sqlite://{}", dir.path().join("exporter.db").display());
    exporter_store::db::Database::connect(&url)
        .await
        .expect("the service's SQLite database opens")
}

/// Opens `configured` beside a throwaway service database and expects
/// every source to be reachable.
async fn open(configured: &[(&str, SourceConfig)]) -> (Sources, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let default = service_database(&dir).await;
    let configured: BTreeMap<String, SourceConfig> = configured
        .iter()
        .map(|(name, config)| (name.to_string(), config.clone()))
        .collect();
    let (sources, unreachable) = Sources::open(&default, &configured)
        .await
        .expect("the configuration is valid");
    assert!(
        unreachable.is_empty(),
        "unreachable: {:?}",
        unreachable
            .iter()
            .map(|(name, e)| format!("{name}: {e:#}"))
            .collect::<Vec<_>>()
    );
    (sources, dir)
}

// ---------------------------------------------------------------- PostgreSQL

/// A fresh PostgreSQL database, dropped when this goes out of scope.
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    async fn create() -> PgDatabase {
        let name = unique_name();
        let mut admin = sqlx::PgConnection::connect(PG_ADMIN)
            .await
            .expect("PostgreSQL runs on 127.0.0.1:5432 with trust auth");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        PgDatabase { name }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    /// A read-write connection, to make the table the source then reads.
    async fn connect(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url()).await.unwrap()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        on_own_runtime(async move {
            let mut admin = sqlx::PgConnection::connect(PG_ADMIN).await?;
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await?;
            Ok(())
        });
    }
}

/// Runs cleanup from `Drop`, inside or outside a runtime.
fn on_own_runtime(cleanup: impl Future<Output = Result<(), sqlx::Error>> + Send + 'static) {
    let outcome = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(cleanup)
    })
    .join();
    if let Ok(Err(e)) = outcome {
        eprintln!("cleanup failed: {e}");
    }
}

const PG_ORDERS: &str = "
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    amount numeric(38, 10),
    note text,
    payload jsonb,
    placed_at timestamptz,
    due date,
    paid boolean,
    ratio double precision,
    quantity integer,
    code varchar(20) UNIQUE,
    reference uuid,
    photo bytea,
    tags text[]
);
INSERT INTO orders VALUES
    (9007199254740993, 1234567890123456789012345678.0123456789, '注文 🚀 ok', '{\"a\": [1, 2]}',
     '2024-02-29 23:59:59.123456+00', '2024-02-29', true, 0.1, 7, 'A-1',
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff', '{x,y}'),
    (9223372036854775807, -9999999999999999999999999999.9999999999, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
";

#[tokio::test]
async fn postgres_introspection_maps_every_column() {
    let db = PgDatabase::create().await;
    sqlx::raw_sql(PG_ORDERS)
        .execute(&mut db.connect().await)
        .await
        .unwrap();
    let (sources, _dir) = open(&[("warehouse", SourceConfig::new(db.url()))]).await;
    let source = sources.get("warehouse").unwrap();
    assert_eq!(source.engine(), SourceEngine::Postgres);

    let table = introspect(&source, "orders").await.unwrap();
    let qualified = introspect(&source, "public.orders").await.unwrap();
    assert_eq!(table, qualified);
    assert_eq!(table.schema.as_deref(), Some("public"));
    assert_columns(
        &table,
        &[
            ("id", "bigint", false, Some(ColumnType::Int64)),
            ("amount", "numeric(38,10)", true, Some(ColumnType::Decimal)),
            ("note", "text", true, Some(ColumnType::Text)),
            ("payload", "jsonb", true, Some(ColumnType::Json)),
            (
                "placed_at",
                "timestamp with time zone",
                true,
                Some(ColumnType::Timestamp),
            ),
            ("due", "date", true, Some(ColumnType::Date)),
            ("paid", "boolean", true, Some(ColumnType::Boolean)),
            ("ratio", "double precision", true, Some(ColumnType::Float64)),
            ("quantity", "integer", true, Some(ColumnType::Int64)),
            (
                "code",
                "character varying(20)",
                true,
                Some(ColumnType::Text),
            ),
            ("reference", "uuid", true, Some(ColumnType::Text)),
            ("photo", "bytea", true, None),
            ("tags", "text[]", true, None),
        ],
    );
    assert_eq!(table.primary_key, Some(vec!["id".to_owned()]));
    assert_eq!(
        table.unique_keys,
        vec![vec!["id".to_owned()], vec!["code".to_owned()]]
    );

    assert_missing_table(&source, "public.nope").await;
    assert_missing_table(&source, "elsewhere.orders").await;
}

#[tokio::test]
async fn postgres_source_refuses_writes_and_times_out() {
    let db = PgDatabase::create().await;
    sqlx::raw_sql(PG_ORDERS)
        .execute(&mut db.connect().await)
        .await
        .unwrap();
    let mut config = SourceConfig::new(db.url());
    config.statement_timeout = std::time::Duration::from_secs(1);
    let (sources, _dir) = open(&[("warehouse", config)]).await;
    let source = sources.get("warehouse").unwrap();
    let SourcePool::Postgres(pool) = &source.pool else {
        panic!("a PostgreSQL pool")
    };
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(count, 2);
    for write in [
        "INSERT INTO orders (id) VALUES (1)",
        "UPDATE orders SET note = 'x'",
        "CREATE TABLE sneaky (id int)",
    ] {
        let refused = sqlx::query(write).execute(pool).await.unwrap_err();
        assert!(
            refused.to_string().contains("read-only transaction"),
            "{write}: {refused}"
        );
    }
    let timed_out = sqlx::query("SELECT pg_sleep(3)")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(
        timed_out.to_string().contains("statement timeout"),
        "{timed_out}"
    );
    source.ping().await.unwrap();
}

// -------------------------------------------------------------------- SQLite

const SQLITE_ORDERS: &str = "
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    amount DECIMAL(38, 10),
    note TEXT,
    payload JSON,
    placed_at DATETIME,
    due DATE,
    paid BOOLEAN,
    ratio REAL,
    quantity INT NOT NULL DEFAULT 0,
    code VARCHAR(20) UNIQUE,
    photo BLOB,
    anything
);
CREATE UNIQUE INDEX orders_note_due ON orders (note, due);
CREATE UNIQUE INDEX orders_partial ON orders (ratio) WHERE ratio > 0;
INSERT INTO orders VALUES
    (9007199254740993, '1234567890123456789012345678.0123456789', '注文 🚀 ok', '{\"a\": [1, 2]}',
     '2024-02-29 23:59:59.123456', '2024-02-29', 1, 0.1, 7, 'A-1', x'00ff', 1),
    (9223372036854775807, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL);
";

async fn sqlite_orders(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("shop.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(SQLITE_ORDERS)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    format!("sqlite://{}", path.display())
}

#[tokio::test]
async fn sqlite_introspection_maps_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_orders(&dir).await;
    let (sources, _service) = open(&[("shop", SourceConfig::new(url))]).await;
    let source = sources.get("shop").unwrap();
    assert_eq!(source.engine(), SourceEngine::Sqlite);

    let table = introspect(&source, "orders").await.unwrap();
    assert_eq!(table, introspect(&source, "main.orders").await.unwrap());
    assert_eq!(table.schema.as_deref(), Some("main"));
    assert_columns(
        &table,
        &[
            ("id", "INTEGER", false, Some(ColumnType::Int64)),
            ("amount", "DECIMAL(38, 10)", true, Some(ColumnType::Decimal)),
            ("note", "TEXT", true, Some(ColumnType::Text)),
            ("payload", "JSON", true, Some(ColumnType::Json)),
            ("placed_at", "DATETIME", true, Some(ColumnType::Timestamp)),
            ("due", "DATE", true, Some(ColumnType::Date)),
            ("paid", "BOOLEAN", true, Some(ColumnType::Boolean)),
            ("ratio", "REAL", true, Some(ColumnType::Float64)),
            ("quantity", "INT", false, Some(ColumnType::Int64)),
            ("code", "VARCHAR(20)", true, Some(ColumnType::Text)),
            ("photo", "BLOB", true, None),
            ("anything", "", true, None),
        ],
    );
    assert_eq!(table.primary_key, Some(vec!["id".to_owned()]));
    // Not the partial index: it says nothing of the whole table.
    assert_eq!(
        table.unique_keys,
        vec![
            vec!["id".to_owned()],
            vec!["note".to_owned(), "due".to_owned()],
            vec!["code".to_owned()],
        ]
    );
    assert_missing_table(&source, "nope").await;
}

#[tokio::test]
async fn sqlite_source_refuses_writes_and_is_never_created() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_orders(&dir).await;
    let (sources, _service) = open(&[("shop", SourceConfig::new(url))]).await;
    let source = sources.get("shop").unwrap();
    let SourcePool::Sqlite(pool) = &source.pool else {
        panic!("a SQLite pool")
    };
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(count, 2);
    let refused = sqlx::query("INSERT INTO orders (id) VALUES (1)")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("readonly"), "{refused}");

    // A missing file is reported by path, and not created.
    let missing = dir.path().join("missing.db");
    let service = tempfile::tempdir().unwrap();
    let default = service_database(&service).await;
    let configured = BTreeMap::from([(
        "gone".to_owned(),
        SourceConfig::new(format!("sqlite://{}", missing.display())),
    )]);
    let (sources, unreachable) = Sources::open(&default, &configured).await.unwrap();
    assert_eq!(unreachable.len(), 1, "{unreachable:?}");
    let message = format!("{:#}", unreachable[0].1);
    assert!(
        message.contains(&missing.display().to_string()) && message.contains("gone"),
        "{message}"
    );
    assert!(sources.get("gone").is_some(), "registered all the same");
    assert!(!missing.exists());
}

#[tokio::test]
async fn the_default_source_reads_the_service_database_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("exporter.db").display());
    let service = exporter_store::db::Database::connect(&url).await.unwrap();
    service.migrate().await.unwrap();
    let (sources, _) = Sources::open(&service, &BTreeMap::new()).await.unwrap();
    let sources = sources.with_read_only_default(&url).unwrap();
    let source = sources.get("default").unwrap();
    let SourcePool::Sqlite(pool) = &source.pool else {
        panic!("a SQLite pool")
    };
    // It reads what the service writes, and writes nothing itself.
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM export_jobs")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    let refused = sqlx::query("DELETE FROM export_jobs")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("readonly"), "{refused}");
    sources.close().await;
    // The service's own pool is the service's: still open.
    let exporter_store::db::Database::Sqlite(own) = &service else {
        panic!("SQLite")
    };
    sqlx::query("DELETE FROM export_jobs")
        .execute(own)
        .await
        .unwrap();
}

// ------------------------------------------------------------------- MariaDB

/// A fresh MariaDB database, dropped when this goes out of scope.
struct MariaDatabase {
    name: String,
}

async fn mariadb_admin() -> sqlx::MySqlConnection {
    let options = sqlx::mysql::MySqlConnectOptions::new()
        .socket(MARIADB_SOCKET)
        .username("root");
    match sqlx::MySqlConnection::connect_with(&options).await {
        Ok(conn) => conn,
        Err(e) => panic!("{START_MARIADB} ({e})"),
    }
}

impl MariaDatabase {
    async fn create() -> MariaDatabase {
        let name = unique_name();
        let mut admin = mariadb_admin().await;
        for sql in [
            format!(
                "CREATE USER IF NOT EXISTS '{MARIADB_USER}'@'127.0.0.1' \
                 IDENTIFIED BY '{MARIADB_PASSWORD}'"
            ),
            format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
            format!("GRANT ALL ON {name}.* TO '{MARIADB_USER}'@'127.0.0.1'"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .unwrap();
        }
        MariaDatabase { name }
    }

    /// Over TCP, with a password: what an operator would write.
    fn url(&self) -> String {
        format!(
            "mariadb://{MARIADB_USER}:{MARIADB_PASSWORD}@127.0.0.1:3306/{}",
            self.name
        )
    }

    async fn run(&self, sql: &str) {
        let mut admin = mariadb_admin().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("USE {}; {sql}", self.name)))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

impl Drop for MariaDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
        on_own_runtime(async move {
            let mut admin = mariadb_admin().await;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await?;
            Ok(())
        });
    }
}

const MARIADB_ORDERS: &str = "
CREATE TABLE orders (
    id BIGINT PRIMARY KEY,
    amount DECIMAL(38, 10),
    note TEXT,
    payload JSON,
    placed_at DATETIME(6),
    due DATE,
    paid BOOLEAN,
    ratio DOUBLE,
    small FLOAT,
    quantity INT NOT NULL DEFAULT 0,
    counter BIGINT UNSIGNED,
    code VARCHAR(20),
    status ENUM('new', 'paid'),
    photo BLOB,
    UNIQUE KEY orders_code (code),
    UNIQUE KEY orders_note_due (note(50), due)
);
INSERT INTO orders VALUES
    (9007199254740993, 1234567890123456789012345678.0123456789, '注文 🚀 ok', '{\"a\": [1, 2]}',
     '2024-02-29 23:59:59.123456', '2024-02-29', TRUE, 0.1, 0.1, 7, 18446744073709551615,
     'A-1', 'paid', x'00ff'),
    (9223372036854775807, -9999999999999999999999999999.9999999999, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL);
";

#[tokio::test]
async fn mariadb_introspection_maps_every_column() {
    let db = MariaDatabase::create().await;
    db.run(MARIADB_ORDERS).await;
    let (sources, _dir) = open(&[("shop", SourceConfig::new(db.url()))]).await;
    let source = sources.get("shop").unwrap();
    assert_eq!(source.engine(), SourceEngine::MySql);

    let table = introspect(&source, "orders").await.unwrap();
    assert_eq!(
        table,
        introspect(&source, &format!("{}.orders", db.name))
            .await
            .unwrap()
    );
    assert_eq!(table.schema.as_deref(), Some(db.name.as_str()));
    assert_columns(
        &table,
        &[
            ("id", "bigint(20)", false, Some(ColumnType::Int64)),
            ("amount", "decimal(38,10)", true, Some(ColumnType::Decimal)),
            ("note", "text", true, Some(ColumnType::Text)),
            // MariaDB's JSON is LONGTEXT checked by json_valid.
            ("payload", "longtext", true, Some(ColumnType::Json)),
            (
                "placed_at",
                "datetime(6)",
                true,
                Some(ColumnType::Timestamp),
            ),
            ("due", "date", true, Some(ColumnType::Date)),
            ("paid", "tinyint(1)", true, Some(ColumnType::Boolean)),
            ("ratio", "double", true, Some(ColumnType::Float64)),
            ("small", "float", true, Some(ColumnType::Float64)),
            ("quantity", "int(11)", false, Some(ColumnType::Int64)),
            (
                "counter",
                "bigint(20) unsigned",
                true,
                Some(ColumnType::Int64),
            ),
            ("code", "varchar(20)", true, Some(ColumnType::Text)),
            ("status", "enum('new','paid')", true, Some(ColumnType::Text)),
            ("photo", "blob", true, None),
        ],
    );
    assert_eq!(table.primary_key, Some(vec!["id".to_owned()]));
    assert_eq!(
        table.unique_keys,
        vec![
            vec!["id".to_owned()],
            vec!["code".to_owned()],
            vec!["note".to_owned(), "due".to_owned()],
        ]
    );
    assert_missing_table(&source, "nope").await;
    assert_missing_table(&source, "mysql.orders").await;
}

#[tokio::test]
async fn mariadb_source_refuses_writes_and_times_out() {
    let db = MariaDatabase::create().await;
    db.run(MARIADB_ORDERS).await;
    let mut config = SourceConfig::new(db.url());
    config.statement_timeout = std::time::Duration::from_secs(1);
    let (sources, _dir) = open(&[("shop", config)]).await;
    let source = sources.get("shop").unwrap();
    let SourcePool::MySql(pool) = &source.pool else {
        panic!("a MySQL pool")
    };
    // The session's ANSI_QUOTES: double quotes name columns, as elsewhere.
    let count: i64 = sqlx::query_scalar("SELECT count(\"id\") FROM \"orders\"")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(count, 2);
    let zone: String = sqlx::query_scalar("SELECT CAST(@@session.time_zone AS CHAR)")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(zone, "+00:00");
    for write in [
        "INSERT INTO orders (id) VALUES (1)",
        "UPDATE orders SET note = 'x'",
        "DELETE FROM orders",
    ] {
        let refused = sqlx::query(write).execute(pool).await.unwrap_err();
        assert!(
            refused.to_string().contains("READ ONLY"),
            "{write}: {refused}"
        );
    }
    let timed_out = sqlx::query("SELECT SLEEP(3) FROM orders")
        .fetch_all(pool)
        .await
        .unwrap_err();
    assert!(
        timed_out.to_string().contains("max_statement_time"),
        "{timed_out}"
    );
    source.ping().await.unwrap();
}

// --------------------------------------------------- configuration, secrets

#[tokio::test]
async fn passwords_never_reach_an_error() {
    let secret = "s3cret-Pa55";
    let service = tempfile::tempdir().unwrap();
    let default = service_database(&service).await;

    // Refused outright: a URL that does not parse.
    let bad = BTreeMap::from([(
        "warehouse".to_owned(),
        SourceConfig::new(format!("postgres://reader:{secret}@replica:notaport/app")),
    )]);
    let refused = Sources::open(&default, &bad).await.unwrap_err();
    assert!(
        matches!(refused, SourceOpenError::Url { .. }),
        "{refused:?}"
    );
    for text in [refused.to_string(), format!("{refused:?}")] {
        assert!(
            !text.contains(secret) && text.contains("warehouse"),
            "{text}"
        );
    }

    // Registered but unreachable: nothing listens, a wrong password.
    let _maria = MariaDatabase::create().await;
    let down = BTreeMap::from([
        (
            "replica".to_owned(),
            SourceConfig::new(format!("postgres://reader:{secret}@127.0.0.1:1/app")),
        ),
        (
            "shop".to_owned(),
            SourceConfig::new(format!(
                "mysql://{MARIADB_USER}:{secret}@127.0.0.1:3306/{}",
                _maria.name
            )),
        ),
    ]);
    let (sources, unreachable) = Sources::open(&default, &down).await.unwrap();
    assert_eq!(
        unreachable
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["replica", "shop"]
    );
    for (name, error) in &unreachable {
        for text in [format!("{error:#}"), format!("{error:?}")] {
            assert!(!text.contains(secret), "{text}");
            assert!(
                text.contains(name.as_str()) && text.contains("***"),
                "{text}"
            );
        }
    }
    assert!(format!("{:#}", unreachable[1].1).contains("Access denied"));
    assert_eq!(
        sources.names().collect::<Vec<_>>(),
        ["default", "replica", "shop"]
    );
    for name in ["replica", "shop"] {
        let source = sources.get(name).unwrap();
        let printed = format!("{source:?} {}", source.redacted_url());
        assert!(!printed.contains(secret), "{printed}");
    }
    let ping = sources.get("shop").unwrap().ping().await.unwrap_err();
    assert!(!format!("{ping:#}").contains(secret));

    // `default` is the service's own and cannot be configured.
    let reserved = BTreeMap::from([("default".to_owned(), SourceConfig::new("sqlite://x.db"))]);
    let refused = Sources::open(&default, &reserved).await.unwrap_err();
    assert!(refused.to_string().contains("own database"), "{refused}");
}

// ------------------------------------------------------------------- helpers

fn assert_columns(table: &IntrospectedTable, expected: &[(&str, &str, bool, Option<ColumnType>)]) {
    let got: Vec<(&str, &str, bool, Option<ColumnType>)> = table
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.sql_type.as_str(), c.nullable, c.mapped))
        .collect();
    assert_eq!(got, expected);
}

async fn assert_missing_table(source: &exporter_source::sources::Source, table: &str) {
    match introspect(source, table).await {
        Err(e @ IntrospectError::NotFound { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains(&source.name) && message.contains(table),
                "{message}"
            );
        }
        other => panic!("{table}: {other:?}"),
    }
}
