//! Column access by role: a `customers` dataset with a hidden column and
//! masked ones, exported by a Manager, an Admin and a SuperAdmin of a real
//! `exporter serve` process. A column hidden from a role is refused by
//! name; a masked value never appears in any file of any format, in any
//! job the API shows, nor in any line the service logs. Runs on SQLite,
//! and on PostgreSQL with `EXPORTER_TEST_DATABASE=postgres`.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection as _, Executor as _};

use exporter::source::demo::demo_id;
use exporter_tests::databases::ScratchPostgres;
use exporter_tests::process::{self, Client, ended};
use exporter_tests::python_read;
use exporter_tests::service::on_postgres;

const SUPER: &str = "super@exporter.test";
const ADMIN: &str = "admin@acme.test";
const MANAGER: &str = "manager@acme.test";

/// The values a Manager must never receive in clear: the local parts of
/// the addresses, the full card numbers, the hidden SSNs, the tokens and
/// the salaries (acme's and globex's).
const SECRETS: &[&str] = &[
    "alice.liddell",
    "bob.builder",
    "4111111111111111",
    "5500005555555559",
    "078-05-1120",
    "219-09-9999",
    "tok-7f3a-alice",
    "123456.78",
    "98765.43",
    "gina.globex",
    "6011000990139424",
];

/// The table, in the service's own database (the `default` source):
/// SQLite's file, or the scratch PostgreSQL database.
async fn customers(database_url: &str) {
    let acme = demo_id("organization", "acme");
    let globex = demo_id("organization", "globex");
    // Instants as each engine's demo tables hold them: microseconds since
    // the epoch on SQLite, timestamptz on PostgreSQL. SQLite keeps the
    // salaries as text, PostgreSQL as numeric.
    let (salary, instant) = match on_postgres() {
        true => ("NUMERIC(12, 2)", "TIMESTAMPTZ"),
        false => ("TEXT", "INTEGER"),
    };
    let day = |n: i64| match on_postgres() {
        true => format!("'2026-01-{n:02}T00:00:00Z'"),
        false => (1_767_139_200_000_000 + n * 86_400_000_000).to_string(),
    };
    let rows = format!(
        "(1, '{acme}', 'Alice', 'alice.liddell@example.com', '4111111111111111', '078-05-1120', 'tok-7f3a-alice', '123456.78', {}), \
         (2, '{acme}', 'Bob', 'bob.builder@corp.example', '5500005555555559', '219-09-9999', 'tok-7f3a-alice', '98765.43', {}), \
         (3, '{acme}', 'Nobody', NULL, NULL, NULL, NULL, NULL, {}), \
         (4, '{globex}', 'Gina', 'gina.globex@globex.example', '6011000990139424', '123-45-6789', 'tok-globex', '5.00', {})",
        day(1),
        day(2),
        day(3),
        day(1)
    );
    let sql = format!(
        "CREATE TABLE customers (id BIGINT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT, \
         email TEXT, card TEXT, ssn TEXT, token TEXT, salary {salary}, joined_at {instant} NOT NULL); \
         INSERT INTO customers VALUES {rows}"
    );
    if on_postgres() {
        let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
        conn.close().await.unwrap();
    }
}

fn dataset() -> Value {
    json!({
        "description": "The shop's customers, one row each",
        "table": "customers",
        "tenantColumn": "org_id",
        "rangeColumn": "joined_at",
        "key": ["id"],
        "columns": [
            {"name": "id", "type": "int64"},
            {"name": "name", "type": "text"},
            {"name": "email", "type": "text", "mask": "email-domain", "unmaskedFrom": "Admin", "filterable": true},
            {"name": "card", "type": "text", "mask": "last4"},
            {"name": "ssn", "type": "text", "label": "SSN", "visibleFrom": "Admin", "filterable": true},
            {"name": "token", "type": "text", "mask": "hash", "unmaskedFrom": "SuperAdmin"},
            {"name": "salary", "type": "decimal", "mask": "redact", "unmaskedFrom": "Admin", "filterable": true},
            {"name": "joined_at", "type": "timestamp"}
        ]
    })
}

/// The service process, killed if the test fails before stopping it: a
/// failing test must not leave a server running.
struct Service(Option<Child>);

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `exporter serve --demo` on `database_url`, everything it prints going
/// to `log`.
fn serve(dir: &Path, database_url: &str, log: &Path) -> (Service, String) {
    let file = std::fs::File::create(log).unwrap();
    let child = process::command(dir)
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("EXPORTER_DATABASE_URL", database_url)
        .env("EXPORTER_LOG", "info,exporter=debug")
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .expect("the service starts");
    let mut service = Service(Some(child));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let printed = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(line) = printed
            .lines()
            .find_map(|l| l.strip_prefix("Exporter is listening on "))
        {
            return (service, line.trim().to_owned());
        }
        let exited = service.0.as_mut().expect("running").try_wait().unwrap();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "serve did not start ({exited:?}):\n{printed}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn client(dir: &Path, database_url: &str, url: &str, email: &str) -> Client {
    let out = process::run(
        process::command(dir)
            .env("EXPORTER_DATABASE_URL", database_url)
            .args(["token", "--user", email]),
    );
    assert!(out.status.success(), "{out:?}");
    Client {
        http: reqwest::Client::new(),
        url: url.to_owned(),
        token: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
    }
}

async fn request(
    client: &Client,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client
        .http
        .request(method, format!("{}{path}", client.url))
        .bearer_auth(&client.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Everything a file says, as text: a workbook's XML parts, a PDF's text.
fn readable(format: &str, bytes: &[u8], dir: &Path) -> String {
    let raw = String::from_utf8_lossy(bytes).into_owned();
    let path = dir.join(format!("file.{format}"));
    std::fs::write(&path, bytes).unwrap();
    let extra = match format {
        "xlsx" => std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
                 print(''.join(z.read(n).decode('utf-8', 'replace') for n in z.namelist()))",
            ])
            .arg(&path)
            .output()
            .unwrap(),
        "pdf" => std::process::Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .unwrap(),
        _ => return raw,
    };
    assert!(extra.status.success(), "{extra:?}");
    format!("{raw}\n{}", String::from_utf8_lossy(&extra.stdout))
}

async fn export(client: &Client, body: Value) -> (Value, Vec<u8>) {
    let id = client.create(body).await;
    let job = client.wait(&id, Duration::from_secs(120), ended).await;
    assert_eq!(job["status"], "Completed", "{job}");
    (job, client.download(&id).await)
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} holds {secret:?}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_columns_are_refused_and_masked_values_never_leave_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = match on_postgres() {
        true => Some(ScratchPostgres::create().await),
        false => None,
    };
    let database_url = match &postgres {
        Some(scratch) => scratch.url.clone(),
        None => format!("sqlite://{}", dir.path().join("exporter.db").display()),
    };
    let log = dir.path().join("service.log");
    let (mut service, url) = tokio::task::block_in_place(|| serve(dir.path(), &database_url, &log));
    customers(&database_url).await;
    let (superadmin, admin, manager) = tokio::task::block_in_place(|| {
        (
            client(dir.path(), &database_url, &url, SUPER),
            client(dir.path(), &database_url, &url, ADMIN),
            client(dir.path(), &database_url, &url, MANAGER),
        )
    });
    let (status, installed) = request(
        &superadmin,
        reqwest::Method::PUT,
        "/api/admin/datasets/customers",
        Some(dataset()),
    )
    .await;
    assert_eq!(status, 201, "{installed}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let (status, listed) = request(
            &manager,
            reqwest::Method::GET,
            "/api/datasets/customers",
            None,
        )
        .await;
        if status == 200 {
            break listed;
        }
        assert!(Instant::now() < deadline, "never listed: {listed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // What a Manager is told: no SSN at all; masked columns are text.
    let columns: Vec<&Value> = listed["columns"].as_array().unwrap().iter().collect();
    let names: Vec<&str> = columns.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "name",
            "email",
            "card",
            "token",
            "salary",
            "joined_at"
        ],
        "{listed}"
    );
    let column = |name: &str| *columns.iter().find(|c| c["name"] == name).unwrap();
    assert_eq!(column("email")["masked"], "email-domain");
    assert_eq!(column("card")["masked"], "last4");
    assert_eq!(column("token")["masked"], "hash");
    assert_eq!(column("salary")["masked"], "redact");
    assert_eq!(column("salary")["type"], "text", "a masked column is text");
    assert!(column("name").get("masked").is_none());
    // An Admin sees the SSN, and email and salary in clear.
    let (_, for_admin) = request(
        &admin,
        reqwest::Method::GET,
        "/api/datasets/customers",
        None,
    )
    .await;
    let admin_columns = for_admin["columns"].as_array().unwrap();
    assert!(
        admin_columns.iter().any(|c| c["name"] == "ssn"),
        "{for_admin}"
    );
    assert!(
        admin_columns
            .iter()
            .any(|c| c["name"] == "salary" && c["type"] == "decimal" && c.get("masked").is_none()),
        "{for_admin}"
    );

    // Asking for the hidden column: 403, naming it.
    let (status, refused) = request(
        &manager,
        reqwest::Method::POST,
        "/api/export-jobs",
        Some(json!({"dataType": "customers", "format": "csv", "columns": ["id", "ssn"]})),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("\"ssn\""),
        "{refused}"
    );
    // A mistaken column's refusal lists what they may use, not the hidden one.
    let (status, unknown) = request(
        &manager,
        reqwest::Method::POST,
        "/api/export-jobs",
        Some(json!({"dataType": "customers", "format": "csv", "columns": ["id", "nope"]})),
    )
    .await;
    assert_eq!(status, 422, "{unknown}");
    let detail = unknown["detail"].as_str().unwrap();
    assert!(
        detail.contains("token") && !detail.contains("ssn"),
        "{detail}"
    );

    // Filtering on what they may not read would read it a row count at a
    // time: refused, for a hidden column and for a masked one.
    for (column, says) in [
        ("ssn", "not visible to Managers"),
        ("email", "masked for Managers"),
    ] {
        let (status, refused) = request(
            &manager,
            reqwest::Method::POST,
            "/api/export-jobs",
            Some(json!({"dataType": "customers", "format": "csv",
                        "filters": {"columns": {column: {"eq": "alice.liddell@example.com"}}}})),
        )
        .await;
        assert_eq!(status, 403, "{refused}");
        let detail = refused["detail"].as_str().unwrap();
        assert!(detail.contains(says) && detail.contains(column), "{detail}");
    }

    // Every format: masked values only.
    for format in ["csv", "json", "ndjson", "xlsx", "pdf"] {
        let (job, bytes) =
            export(&manager, json!({"dataType": "customers", "format": format})).await;
        assert_eq!(job["progress"]["rowsWritten"], 3, "{job}");
        assert_no_secret(&format!("the Manager's {format} job"), &job.to_string());
        let text = readable(format, &bytes, dir.path());
        assert_no_secret(&format!("the Manager's {format} file"), &text);
        assert!(!text.contains("SSN"), "{format}: the hidden column's label");
        if format != "pdf" {
            // (A PDF's narrow columns may wrap a long value.)
            assert!(text.contains("***@example.com"), "{format}:\n{text}");
            assert!(text.contains("****1111"), "{format}:\n{text}");
            assert!(text.contains("[redacted]"), "{format}:\n{text}");
        }
    }
    let (_, csv) = export(&manager, json!({"dataType": "customers", "format": "csv"})).await;
    let rows = python_read("csv", &csv, &[]);
    let rows = rows.as_array().unwrap();
    assert_eq!(
        rows[0],
        json!([
            "id",
            "name",
            "email",
            "card",
            "token",
            "salary",
            "joined_at"
        ])
    );
    let (alice, bob, nobody) = (&rows[1], &rows[2], &rows[3]);
    assert_eq!(alice[2], "***@example.com");
    assert_eq!(bob[2], "***@corp.example");
    assert_eq!(alice[3], "****1111");
    let hash = alice[4].as_str().unwrap();
    assert_eq!(hash.len(), 32, "{alice}");
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{hash}");
    assert_eq!(bob[4], alice[4], "one token, one hash");
    assert_eq!(alice[5], "[redacted]");
    // A NULL stays empty: a mask hides values, not their absence.
    assert_eq!(nobody[2], "");
    assert_eq!(nobody[5], "");

    // The manifest of an export in parts says which columns were masked.
    let id = manager
        .create(json!({"dataType": "customers", "format": "csv", "partMaxRows": 2}))
        .await;
    let job = manager.wait(&id, Duration::from_secs(120), ended).await;
    assert_eq!(job["status"], "Completed", "{job}");
    let manifest: Value = serde_json::from_slice(
        &manager
            .http
            .get(format!("{url}/api/export-jobs/{id}/manifest"))
            .bearer_auth(&manager.token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let schema = manifest["schema"].as_array().unwrap();
    let masked: Vec<(&str, &str)> = schema
        .iter()
        .filter_map(|c| Some((c["name"].as_str()?, c["masked"].as_str()?)))
        .collect();
    assert_eq!(
        masked,
        [
            ("email", "email-domain"),
            ("card", "last4"),
            ("token", "hash"),
            ("salary", "redact")
        ],
        "{manifest}"
    );
    for part in 1..=2 {
        let bytes = manager.download_part(&id, part).await;
        assert_no_secret("a part", &String::from_utf8_lossy(&bytes));
    }

    // An Admin: the SSN and clear addresses and salaries; the token still
    // hashed (clear from SuperAdmin), the card masked for everyone.
    let (_, csv) = export(&admin, json!({"dataType": "customers", "format": "csv"})).await;
    let rows = python_read("csv", &csv, &[]);
    let rows = rows.as_array().unwrap();
    assert_eq!(
        rows[0],
        json!([
            "id",
            "name",
            "email",
            "card",
            "ssn",
            "token",
            "salary",
            "joined_at"
        ])
    );
    assert_eq!(rows[1][2], "alice.liddell@example.com");
    assert_eq!(rows[1][4], "078-05-1120");
    assert_eq!(rows[1][5], hash, "the same organization, the same hash");
    assert_eq!(rows[1][6], "123456.78");
    assert_eq!(rows[1][3], "****1111");
    // The Admin filters on the salary they see: as numbers, on an engine
    // that holds them as text ("98765.43" > "100000" as text).
    let (_, csv) = export(
        &admin,
        json!({"dataType": "customers", "format": "csv", "columns": ["id", "salary"],
               "filters": {"columns": {"salary": {"gte": "100000"}}}}),
    )
    .await;
    assert_eq!(
        python_read("csv", &csv, &[]),
        json!([["id", "salary"], ["1", "123456.78"]])
    );
    // A SuperAdmin's export of acme: the token in clear.
    let (_, csv) = export(
        &superadmin,
        json!({"dataType": "customers", "format": "csv", "columns": ["id", "token"],
               "filters": {"organizationId": demo_id("organization", "acme")}}),
    )
    .await;
    let rows = python_read("csv", &csv, &[]);
    assert_eq!(rows[1][1], "tok-7f3a-alice");

    process::stop(service.0.take().expect("still running"));
    // The Manager's secrets were in the table all along, and in the
    // Admin's and SuperAdmin's files; never in a line the service wrote.
    let printed = std::fs::read_to_string(&log).unwrap();
    assert!(printed.contains("Exporter is listening"), "{printed}");
    assert_no_secret("the service's log", &printed);
}
