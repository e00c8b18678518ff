//! Bring your own data: one `orders` table on PostgreSQL, MariaDB and
//! SQLite, each a configured source of a running service, each added to
//! the catalog by `exporter dataset add` (drafted from the engine's own
//! catalog) and `exporter dataset apply`, then exported through the API
//! in every built-in format and read back by independent readers. The
//! three engines give the same rows, value for value.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection as _, Executor as _};

use exporter::source::demo;
use exporter::source::sources::SourceConfig;
use exporter_tests::databases::ScratchPostgres;
use exporter_tests::python_read;
use exporter_tests::service::TestService;

const ADMIN: &str = "admin@acme.test";
const MARIADB_SOCKET: &str = "/run/mysqld/mysqld.sock";
const MARIADB_USER: &str = "exporter_sources";
const MARIADB_PASSWORD: &str = "exporter-test-pw";

/// The rows, as each engine is given them. 38-digit decimals, ids past
/// 2^53, NULL in every nullable column, JSON, instants with an offset,
/// text in several scripts. Instants are whole milliseconds: the precision
/// SQLite's date functions keep.
struct Order {
    id: i64,
    globex: bool,
    amount: Option<&'static str>,
    note: Option<&'static str>,
    payload: Option<&'static str>,
    /// RFC 3339, UTC.
    placed_at: &'static str,
    due: Option<&'static str>,
    paid: Option<bool>,
}

const ORDERS: &[Order] = &[
    Order {
        id: 9_007_199_254_740_993,
        globex: false,
        amount: Some("1234567890123456789012345678.0123456789"),
        note: Some("Zoë 🦀 \"quoted\", comma"),
        payload: Some(r#"{"a": [1, 2], "b": null}"#),
        placed_at: "2026-01-02T03:04:05.123Z",
        due: Some("2026-02-01"),
        paid: Some(true),
    },
    Order {
        id: 9_223_372_036_854_775_807,
        globex: false,
        amount: Some("-9999999999999999999999999999.9999999999"),
        note: Some("東京\nsecond line"),
        payload: None,
        placed_at: "2026-01-02T03:04:05.124Z",
        due: None,
        paid: Some(false),
    },
    Order {
        id: 1,
        globex: false,
        amount: None,
        note: None,
        payload: Some("[]"),
        placed_at: "1969-12-31T23:59:59.999Z",
        due: Some("1969-12-31"),
        paid: None,
    },
    Order {
        id: 2,
        globex: true,
        amount: Some("0.0000000001"),
        note: Some("globex only"),
        payload: None,
        placed_at: "2026-01-03T00:00:00Z",
        due: None,
        paid: None,
    },
];

fn organization(order: &Order) -> String {
    demo::demo_id("organization", if order.globex { "globex" } else { "acme" })
}

fn text(value: Option<&str>) -> String {
    value.map_or("NULL".to_owned(), |v| {
        format!("'{}'", v.replace('\'', "''"))
    })
}

/// `2026-01-02T03:04:05.123Z` as `2026-01-02 03:04:05.123` (UTC), for
/// MariaDB's DATETIME.
fn naive(instant: &str) -> String {
    instant.trim_end_matches('Z').replace('T', " ")
}

fn rows(render: impl Fn(&Order) -> String) -> String {
    ORDERS.iter().map(render).collect::<Vec<_>>().join(", ")
}

async fn postgres_orders() -> ScratchPostgres {
    let scratch = ScratchPostgres::create().await;
    let mut conn = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    let values = rows(|o| {
        format!(
            "({}, '{}', {}, {}, {}, '{}', {}, {})",
            o.id,
            organization(o),
            o.amount.unwrap_or("NULL"),
            text(o.note),
            text(o.payload),
            o.placed_at,
            text(o.due),
            o.paid.map_or("NULL".to_owned(), |p| p.to_string())
        )
    });
    conn.execute(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE orders (id bigint PRIMARY KEY, org_id text NOT NULL, amount numeric(38, 10), \
         note text, payload jsonb, placed_at timestamptz NOT NULL, due date, paid boolean); \
         INSERT INTO orders VALUES {values}"
    )))
    .await
    .unwrap();
    conn.close().await.unwrap();
    scratch
}

/// A MariaDB database of its own, dropped at the end.
struct MariaOrders {
    name: String,
}

async fn mariadb_admin() -> sqlx::MySqlConnection {
    let options = sqlx::mysql::MySqlConnectOptions::new()
        .socket(MARIADB_SOCKET)
        .username("root");
    sqlx::MySqlConnection::connect_with(&options)
        .await
        .unwrap_or_else(|e| {
            panic!("MariaDB runs on {MARIADB_SOCKET} (scripts/test.sh starts it): {e}")
        })
}

impl MariaOrders {
    async fn create() -> Self {
        let name = format!(
            "exporter_sources_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        );
        let values = rows(|o| {
            format!(
                "({}, '{}', {}, {}, {}, '{}', {}, {})",
                o.id,
                organization(o),
                o.amount.unwrap_or("NULL"),
                text(o.note),
                text(o.payload),
                naive(o.placed_at),
                text(o.due),
                o.paid.map_or("NULL".to_owned(), |p| p.to_string())
            )
        });
        let mut admin = mariadb_admin().await;
        for sql in [
            format!(
                "CREATE USER IF NOT EXISTS '{MARIADB_USER}'@'127.0.0.1' IDENTIFIED BY '{MARIADB_PASSWORD}'"
            ),
            format!("CREATE DATABASE {name} CHARACTER SET utf8mb4"),
            format!("GRANT SELECT ON {name}.* TO '{MARIADB_USER}'@'127.0.0.1'"),
            format!(
                "CREATE TABLE {name}.orders (id BIGINT PRIMARY KEY, org_id VARCHAR(64) NOT NULL, \
                 amount DECIMAL(38, 10), note TEXT, payload JSON, placed_at DATETIME(6) NOT NULL, \
                 due DATE, paid BOOLEAN)"
            ),
            format!("INSERT INTO {name}.orders VALUES {values}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .unwrap();
        }
        MariaOrders { name }
    }

    fn url(&self) -> String {
        format!(
            "mariadb://{MARIADB_USER}:{MARIADB_PASSWORD}@127.0.0.1:3306/{}",
            self.name
        )
    }
}

impl Drop for MariaOrders {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut admin = mariadb_admin().await;
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await;
            });
        })
        .join();
    }
}

/// SQLite keeps exact decimals only as text (a DECIMAL column turns them
/// into doubles), and dates and instants as ISO-8601 text.
async fn sqlite_orders(path: &Path) {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let values = rows(|o| {
        // One instant with an offset: the same moment, written elsewhere.
        let placed_at = match o.id {
            1 => "1970-01-01T01:59:59.999+02:00".to_owned(),
            _ => o.placed_at.to_owned(),
        };
        format!(
            "({}, '{}', {}, {}, {}, '{placed_at}', {}, {})",
            o.id,
            organization(o),
            text(o.amount),
            text(o.note),
            text(o.payload),
            text(o.due),
            o.paid
                .map_or("NULL".to_owned(), |p| i32::from(p).to_string())
        )
    });
    conn.execute(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, org_id TEXT NOT NULL, amount TEXT, \
         note TEXT, payload JSON, placed_at DATETIME NOT NULL, due DATE, paid BOOLEAN); \
         INSERT INTO orders VALUES {values}"
    )))
    .await
    .unwrap();
    conn.close().await.unwrap();
}

/// The binary, as an operator runs it beside the service: its
/// configuration file names the sources.
fn cli(config: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut command = exporter_tests::process::command(dir);
    command
        .current_dir(dir)
        .env("EXPORTER_CONFIG", config)
        .env_remove("EXPORTER_TEST_DATABASE")
        .args(args);
    tokio::task::block_in_place(|| command.output().expect("the exporter binary runs"))
}

fn said(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_table_on_three_engines_exports_the_same_rows() {
    let postgres = postgres_orders().await;
    let mariadb = MariaOrders::create().await;
    let files = tempfile::tempdir().unwrap();
    let sqlite = files.path().join("shop.db");
    sqlite_orders(&sqlite).await;
    let sources = [
        ("pg", postgres.url.clone()),
        ("maria", mariadb.url()),
        ("lite", format!("sqlite://{}", sqlite.display())),
    ];
    let service = TestService::start_with(50, |config| {
        for (name, url) in &sources {
            config
                .sources
                .insert((*name).to_owned(), SourceConfig::new(url.clone()));
        }
    })
    .await;
    let admin = service.token(ADMIN).await;

    // The operator's configuration file, for the CLI.
    let dir = &service.config.data_dir;
    let config = dir.join("exporter.toml");
    let mut toml = format!(
        "data_dir = {:?}\n[database]\nurl = {:?}\n",
        dir.display().to_string(),
        service.config.database.url
    );
    for (name, url) in &sources {
        toml.push_str(&format!("[sources.{name}]\nurl = {url:?}\n"));
    }
    std::fs::write(&config, toml).unwrap();

    for (source, _) in &sources {
        let name = format!("orders_{source}");
        let drafted = cli(
            &config,
            dir,
            &[
                "dataset",
                "add",
                &name,
                "--source",
                source,
                "--table",
                "orders",
                "--tenant-column",
                "org_id",
                "--range-column",
                "placed_at",
                "--key",
                "id",
            ],
        );
        assert!(drafted.status.success(), "{}", said(&drafted));
        let mut entry = String::from_utf8(drafted.stdout).unwrap();
        for column in [
            "id",
            "org_id",
            "amount",
            "note",
            "payload",
            "placed_at",
            "due",
            "paid",
        ] {
            assert!(
                entry.contains(&format!("name = \"{column}\"")),
                "{source}: {column} drafted\n{entry}"
            );
        }
        if *source == "lite" {
            // The reviewer's one change: SQLite's text column holds exact
            // decimals.
            let text = "name = \"amount\"\ntype = \"text\"";
            assert!(entry.contains(text), "{entry}");
            entry = entry.replace(text, "name = \"amount\"\ntype = \"decimal\"");
        }
        let file = dir.join(format!("{name}.toml"));
        std::fs::write(&file, &entry).unwrap();
        let applied = cli(&config, dir, &["dataset", "apply", file.to_str().unwrap()]);
        assert!(applied.status.success(), "{}", said(&applied));
        assert!(
            said(&applied).contains(&format!("installed {name} version 1")),
            "{}",
            said(&applied)
        );
    }
    // The service uses them without a restart.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = service.get_json(&admin, "/api/datasets").await;
        let names: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["name"].as_str())
            .collect();
        if ["orders_lite", "orders_maria", "orders_pg"]
            .iter()
            .all(|n| names.contains(n))
        {
            break;
        }
        assert!(Instant::now() < deadline, "not listed: {listed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let acme: Vec<&Order> = ORDERS.iter().filter(|o| !o.globex).collect();
    for format in ["csv", "json", "ndjson", "xlsx", "pdf"] {
        let mut read = Vec::new();
        for (source, _) in &sources {
            let (job, _, bytes) = service
                .export_and_download(
                    &admin,
                    json!({"dataType": format!("orders_{source}"), "format": format,
                           "columns": ["id", "amount", "note", "payload", "placed_at", "due", "paid"]}),
                )
                .await;
            assert_eq!(
                job["progress"]["rowsWritten"],
                acme.len(),
                "{source} {format}: {job}"
            );
            read.push((source, bytes));
        }
        match format {
            // A document's title names its dataset; its values are checked
            // by the readers of the other formats.
            "pdf" => {
                for (source, bytes) in &read {
                    assert!(bytes.starts_with(b"%PDF-"), "{source}");
                }
            }
            "xlsx" => {
                // The workbook's title names its dataset; the sheets hold
                // the values.
                let first = python_read("xlsx", &read[0].1, &[])["sheets"].clone();
                for (source, bytes) in &read[1..] {
                    let sheets = python_read("xlsx", bytes, &[])["sheets"].clone();
                    assert_eq!(sheets, first, "{source} xlsx");
                }
            }
            // The same bytes, whatever the engine.
            _ => {
                for (source, bytes) in &read[1..] {
                    assert_eq!(
                        String::from_utf8_lossy(bytes),
                        String::from_utf8_lossy(&read[0].1),
                        "{source} {format} differs from PostgreSQL's"
                    );
                }
            }
        }
        if format == "csv" {
            let table = python_read("csv", &read[0].1, &[]);
            let rows = table.as_array().unwrap();
            assert_eq!(
                rows[0],
                json!([
                    "id",
                    "amount",
                    "note",
                    "payload",
                    "placed_at",
                    "due",
                    "paid"
                ])
            );
            // Ordered by placed_at, then id; only acme's rows.
            let by_time = [&acme[2], &acme[0], &acme[1]];
            for (row, order) in rows[1..].iter().zip(by_time) {
                assert_eq!(row[0], order.id.to_string());
                assert_eq!(row[1], order.amount.unwrap_or(""));
                assert_eq!(row[2], order.note.unwrap_or(""));
                // Microseconds, always six digits.
                assert_eq!(row[4], order.placed_at.replace('Z', "000Z"));
                assert_eq!(row[5], order.due.unwrap_or(""));
                assert_eq!(row[6], order.paid.map_or(String::new(), |p| p.to_string()));
            }
        }
        if format == "json" {
            let document: Value = python_read("json", &read[0].1, &[]);
            let first = &document.as_array().unwrap()[1];
            assert_eq!(first["payload"], json!({"a": [1, 2], "b": null}), "{first}");
        }
    }
    service.stop().await;
}
