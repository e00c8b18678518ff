//! The datasets against both engines: migrations, demo data, tenant-scoped
//! streaming queries, and whole exports through real plugins, read back by
//! Python. SQLite and PostgreSQL must produce byte-identical files.

use exporter::batch::time::parse_date;
use exporter::export::{Export, ExportError, Headings};
use exporter::source::demo::{self, Seeded};
use std::sync::Arc;

use exporter::source::catalog::seed;
use exporter::source::query::Access;
use exporter::source::{Dataset, ExportQuery, QueryError};
use exporter_tests::databases::TestDatabase;
use exporter_tests::{MemorySink, context, load, python_read};

const ROWS: u64 = 600;

async fn seeded(db: &TestDatabase) {
    match demo::seed(&db.db, ROWS).await.unwrap() {
        Seeded::Inserted {
            sessions, events, ..
        } => {
            assert_eq!(sessions, ROWS);
            assert_eq!(events, 2 * ROWS);
        }
        Seeded::AlreadyPresent => panic!("fresh database"),
    }
}

fn acme() -> String {
    demo::demo_id("organization", "acme")
}

fn january(dataset: Arc<Dataset>, columns: &[&str]) -> ExportQuery {
    ExportQuery {
        dataset,
        organization_id: Some(acme()),
        user_id: None,
        from: parse_date("2026-01-01"),
        to: parse_date("2026-01-31"),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        filters: Default::default(),
        access: Access::unkeyed_superadmin(),
    }
}

async fn export(db: &TestDatabase, query: &ExportQuery, format: &str) -> (Vec<u8>, u64) {
    let sink = MemorySink::default();
    let stats = Export {
        source: (&db.db).into(),
        query,
        formatter: &load(format),
        options: vec![],
        headings: Headings::Names,
        context: context(),
        batch_rows: 100,
        progress: None,
    }
    .to_sink(Box::new(sink.clone()))
    .await
    .unwrap();
    (sink.take(), stats.rows)
}

async fn the_whole_story(db: TestDatabase) -> Vec<Vec<u8>> {
    // Migrations are idempotent; seeding is idempotent.
    db.db.migrate().await.unwrap();
    seeded(&db).await;
    assert_eq!(
        demo::seed(&db.db, ROWS).await.unwrap(),
        Seeded::AlreadyPresent
    );

    let mut files = Vec::new();

    // Sessions of acme in January, as CSV, read by Python.
    let query = january(seed::dataset("sessions"), &[]);
    let (csv, rows) = export(&db, &query, "csv").await;
    assert!(rows > 10, "January has sessions: {rows}");
    let table: Vec<Vec<String>> = serde_json::from_value(python_read("csv", &csv, &[])).unwrap();
    assert_eq!(table.len() as u64, rows + 1);
    let header = &table[0];
    assert_eq!(header[0], "id");
    let email = header.iter().position(|h| h == "user_email").unwrap();
    let started = header.iter().position(|h| h == "started_at").unwrap();
    let day = header.iter().position(|h| h == "session_date").unwrap();
    for record in &table[1..] {
        assert!(
            record[email].ends_with("@acme.test") || record[email] == "super@exporter.test",
            "tenant scoping: {}",
            record[email]
        );
        assert!(
            record[started].starts_with("2026-01-"),
            "date range: {}",
            record[started]
        );
        assert_eq!(
            record[day],
            record[started][..10],
            "session_date is the start's UTC day"
        );
    }
    let mut sorted = table[1..].to_vec();
    sorted.sort_by(|a, b| a[started].cmp(&b[started]).then(a[0].cmp(&b[0])));
    assert_eq!(sorted, table[1..], "stable order: by start, then id");
    files.push(csv);

    // Globex never sees acme's rows, and vice versa.
    let mut globex = january(seed::dataset("sessions"), &["user_email"]);
    globex.organization_id = Some(demo::demo_id("organization", "globex"));
    let (bytes, globex_rows) = export(&db, &globex, "ndjson").await;
    assert!(globex_rows > 0);
    for line in String::from_utf8(bytes.clone()).unwrap().lines() {
        assert!(line.contains("@globex.test"), "{line}");
    }
    files.push(bytes);

    // Analytics as JSON: decimals exact, properties are objects.
    let query = january(
        seed::dataset("analytics"),
        &["id", "event_type", "value", "properties", "occurred_at"],
    );
    let (json, rows) = export(&db, &query, "json").await;
    let items = python_read("json", &json, &[]);
    let items = items.as_array().unwrap();
    assert_eq!(items.len() as u64, rows);
    let keys: Vec<&String> = items[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["id", "event_type", "value", "properties", "occurred_at"],
        "columns in the asked order"
    );
    for item in items {
        assert!(item["properties"].is_object());
        match item["event_type"].as_str().unwrap() {
            "purchase" => assert!(item["value"].is_number(), "{item}"),
            _ => assert!(item["value"].is_null(), "{item}"),
        }
    }
    files.push(json);

    // All organizations (a SuperAdmin's view), every user.
    let everyone = ExportQuery {
        dataset: seed::dataset("users"),
        organization_id: None,
        user_id: None,
        from: None,
        to: None,
        columns: vec![
            "email".into(),
            "role".into(),
            "active".into(),
            "organization".into(),
        ],
        filters: Default::default(),
        access: Access::unkeyed_superadmin(),
    };
    let (users, rows) = export(&db, &everyone, "csv").await;
    assert_eq!(rows as usize, demo::ACCOUNTS.len() + 20);
    let text = String::from_utf8(users.clone()).unwrap();
    assert!(text.contains("super@exporter.test,SuperAdmin,"), "{text}");
    assert!(text.contains(",globex"));
    files.push(users);

    // A bad column is the client's error, before anything runs.
    let mut bad = january(seed::dataset("sessions"), &["id", "password"]);
    bad.user_id = None;
    match (Export {
        source: (&db.db).into(),
        query: &bad,
        formatter: &load("csv"),
        options: vec![],
        headings: Headings::Names,
        context: context(),
        batch_rows: 100,
        progress: None,
    })
    .to_sink(Box::new(MemorySink::default()))
    .await
    {
        Err(ExportError::Query(QueryError::UnknownColumn { column, .. })) => {
            assert_eq!(column, "password")
        }
        other => panic!("expected an unknown column, got {other:?}"),
    }
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_and_postgres_export_identical_files() {
    let sqlite = the_whole_story(TestDatabase::sqlite().await).await;
    let postgres = the_whole_story(TestDatabase::postgres().await).await;
    assert_eq!(sqlite.len(), postgres.len());
    for (index, (a, b)) in sqlite.iter().zip(&postgres).enumerate() {
        if index == 2 {
            // The analytics export embeds a JSON column. PostgreSQL's jsonb
            // stores documents normalized (key order, spacing), so the text
            // differs while the documents are equal.
            let a: serde_json::Value = serde_json::from_slice(a).unwrap();
            let b: serde_json::Value = serde_json::from_slice(b).unwrap();
            assert_eq!(a, b, "the analytics documents are equal");
            assert!(a.as_array().is_some_and(|items| !items.is_empty()));
            continue;
        }
        assert!(
            a == b,
            "export {index} differs between SQLite and PostgreSQL:\n{}\n---\n{}",
            String::from_utf8_lossy(&a[..a.len().min(600)]),
            String::from_utf8_lossy(&b[..b.len().min(600)])
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_filter_narrows_to_that_user() {
    let db = TestDatabase::sqlite().await;
    seeded(&db).await;
    let user = demo::demo_id("user", "manager@acme.test");
    let mut query = january(seed::dataset("sessions"), &["user_id"]);
    query.from = None;
    query.to = None;
    query.user_id = Some(user.clone());
    let (bytes, rows) = export(&db, &query, "csv").await;
    assert!(rows > 0);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.lines().skip(1).all(|l| l == user), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn session_dates_before_1970_floor_to_the_right_day() {
    let db = TestDatabase::sqlite().await;
    let exporter::db::Database::Sqlite(pool) = &db.db else {
        unreachable!()
    };
    // 1969-12-31T23:00:00Z: -3,600 s. Truncating division would say 1970-01-01.
    for statement in [
        "INSERT INTO organizations (id, slug, name, created_at) VALUES ('o', 'old', 'Old Co', 0)",
        "INSERT INTO users (id, organization_id, email, name, role, created_at) VALUES ('u', 'o', 'u@old.test', 'U', 'Admin', 0)",
        "INSERT INTO sessions (id, organization_id, user_id, started_at, status) VALUES ('s', 'o', 'u', -3600000000, 'completed')",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
    let query = ExportQuery {
        dataset: seed::dataset("sessions"),
        organization_id: Some("o".into()),
        user_id: None,
        from: None,
        to: None,
        columns: vec!["started_at".into(), "session_date".into()],
        filters: Default::default(),
        access: Access::unkeyed_superadmin(),
    };
    let (bytes, rows) = export(&db, &query, "csv").await;
    assert_eq!(rows, 1);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "started_at,session_date\r\n1969-12-31T23:00:00Z,1969-12-31\r\n"
    );
}

/// PostgreSQL rows come through binary `COPY`, which takes no bind
/// parameters: filter values are written into the statement as literals.
/// Quotes and backslashes must match themselves and nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_filter_values_are_literals_not_sql() {
    let db = TestDatabase::postgres().await;
    let exporter::db::Database::Postgres(pool) = &db.db else {
        unreachable!()
    };
    let awkward = r"it's a \' user\";
    for statement in [
        "INSERT INTO organizations (id, slug, name, created_at) VALUES ('o', 'o', 'O', now())",
        "INSERT INTO users (id, organization_id, email, name, role, created_at) VALUES ('plain', 'o', 'p@o.test', 'P', 'Admin', now())",
        "INSERT INTO sessions (id, organization_id, user_id, started_at, status) VALUES ('s-plain', 'o', 'plain', now(), 'completed')",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
    sqlx::query("INSERT INTO users (id, organization_id, email, name, role, created_at) VALUES ($1, 'o', 'a@o.test', 'A', 'Admin', now())")
        .bind(awkward)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO sessions (id, organization_id, user_id, started_at, status) VALUES ('s-awkward', 'o', $1, now(), 'completed')")
        .bind(awkward)
        .execute(pool)
        .await
        .unwrap();

    let by_user = |user: &str| ExportQuery {
        dataset: seed::dataset("sessions"),
        organization_id: Some("o".into()),
        user_id: Some(user.into()),
        from: None,
        to: None,
        columns: vec!["id".into(), "user_id".into()],
        filters: Default::default(),
        access: Access::unkeyed_superadmin(),
    };
    let (bytes, rows) = export(&db, &by_user(awkward), "csv").await;
    assert_eq!(rows, 1);
    let rows_read = python_read("csv", &bytes, &[]);
    assert_eq!(
        rows_read[1],
        serde_json::json!(["s-awkward", awkward]),
        "{rows_read:?}"
    );
    for injection in [
        "$1",
        "x' OR '1'='1",
        r"x\' OR 1=1 --",
        "plain' OR user_id <> 'plain",
    ] {
        let (_, rows) = export(&db, &by_user(injection), "csv").await;
        assert_eq!(rows, 0, "{injection:?} must match no user");
    }
}

/// A `COPY` stopped midway leaves its connection mid-stream; it must be
/// closed, not handed to the next query, which would first have to drain
/// every remaining row (or fail).
#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_export_stopped_midway_leaves_the_pool_usable() {
    let db = TestDatabase::postgres().await;
    seeded(&db).await;
    // One connection, so the next query would get the abandoned one.
    let single = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    let single_db = exporter::db::Database::Postgres(single.clone());
    let query = ExportQuery {
        dataset: seed::dataset("sessions"),
        organization_id: None,
        user_id: None,
        from: None,
        to: None,
        columns: vec![],
        filters: Default::default(),
        access: Access::unkeyed_superadmin(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let source = tokio::spawn({
        let single_db = single_db.clone();
        let query = query.clone();
        async move { exporter::source::send_batches(&single_db, &query, 10, tx).await }
    });
    // Take one batch, then stop consuming: the export failed or was cancelled.
    assert!(rx.recv().await.is_some());
    drop(rx);
    let stopped = source.await.unwrap();
    assert!(
        matches!(stopped, Err(exporter::source::SourceError::Closed)),
        "{stopped:?}"
    );
    // Closed, not returned to the pool.
    for _ in 0..50 {
        if single.size() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(single.size(), 0, "the abandoned COPY connection is closed");
    let count: i64 = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions").fetch_one(&single),
    )
    .await
    .expect("the pool answers at once")
    .unwrap();
    assert_eq!(count as u64, ROWS);
    // And the next export through it reads every row.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<exporter::plugins::Batch>(4);
    let reader = tokio::spawn(async move {
        let mut rows = 0u64;
        while let Some(batch) = rx.recv().await {
            rows += u64::from(batch.rows);
        }
        rows
    });
    let sent = exporter::source::send_batches(&single_db, &query, 10, tx)
        .await
        .unwrap();
    assert_eq!((sent, reader.await.unwrap()), (ROWS, ROWS));
    single.close().await;
}

/// Issue 15, finding 4: PostgreSQL's own errors, sorted by what they mean.
/// Bad values (a NUL, a missing foreign key) are the request's and never
/// retried; a connection the server ended is transient. Days past what the
/// engines hold are a query error, not a panic in the date arithmetic.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_errors_are_sorted_by_what_they_mean() {
    use exporter::batch::time::{FIRST_DAY, LAST_DAY};
    use exporter::db::{DbFailure, classify};
    use exporter::source::count_rows;

    let db = TestDatabase::postgres().await;
    seeded(&db).await;
    let exporter::db::Database::Postgres(pool) = &db.db else {
        unreachable!()
    };
    let nul = sqlx::query("SELECT $1::text")
        .bind("a\0b")
        .execute(pool)
        .await
        .unwrap_err();
    assert_eq!(classify(&nul), DbFailure::Request, "{nul}");
    let orphan = sqlx::query(
        "INSERT INTO users (id, organization_id, email, name, role, created_at) \
         VALUES ('u', 'no-such-organization', 'u@x.test', 'U', 'Admin', now())",
    )
    .execute(pool)
    .await
    .unwrap_err();
    assert_eq!(classify(&orphan), DbFailure::Request, "{orphan}");
    let ended = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
        .execute(pool)
        .await
        .unwrap_err();
    assert_eq!(classify(&ended), DbFailure::Transient, "{ended}");
    let typo = sqlx::query("SELEC 1").execute(pool).await.unwrap_err();
    assert_eq!(classify(&typo), DbFailure::Internal, "{typo}");
    let refused = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect("postgres://postgres@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert_eq!(classify(&refused), DbFailure::Transient, "{refused}");

    // A filter PostgreSQL cannot store fails the query for good.
    let mut query = january(seed::dataset("sessions"), &["id"]);
    query.user_id = Some("a\0b".into());
    let error = count_rows(&db.db, &query).await.unwrap_err();
    assert!(!error.is_transient(), "{error}");

    // The widest range exports; one day more is refused, not a panic.
    let mut query = january(seed::dataset("sessions"), &["id"]);
    query.organization_id = None;
    (query.from, query.to) = (Some(FIRST_DAY), Some(LAST_DAY));
    assert_eq!(count_rows(&db.db, &query).await.unwrap(), ROWS);
    let (_, rows) = export(&db, &query, "csv").await;
    assert_eq!(rows, ROWS);
    for (from, to) in [(None, Some(LAST_DAY + 1)), (Some(FIRST_DAY - 1), None)] {
        (query.from, query.to) = (from, to);
        match count_rows(&db.db, &query).await {
            Err(exporter::source::SourceError::Query(QueryError::OutOfRange { .. })) => {}
            other => panic!("{from:?}..{to:?}: {other:?}"),
        }
    }
}
