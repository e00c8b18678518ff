//! The dataset catalog: versions in the service's database, installed
//! through the API and the CLI, seen by every process, pinned per job.
//! Runs on SQLite, and on PostgreSQL with `EXPORTER_TEST_DATABASE=postgres`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use exporter::source::catalog::store::{Installed, ORIGIN_OPERATOR};
use exporter::source::catalog::{CatalogStore, seed};
use exporter::source::{Catalog, Dataset};
use exporter_tests::databases::TestDatabase;
use exporter_tests::service::{TestService, on_postgres};

const SUPER: &str = "super@exporter.test";
const ADMIN: &str = "admin@acme.test";
const MEMBER: &str = "member@acme.test";

async fn database() -> TestDatabase {
    match on_postgres() {
        true => TestDatabase::postgres().await,
        false => TestDatabase::sqlite().await,
    }
}

/// `sessions` with one column fewer: a second version.
fn without_notes() -> Dataset {
    let mut dataset = (*seed::dataset("sessions")).clone();
    dataset.columns.retain(|c| c.name != "notes");
    dataset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_kept_and_every_catalog_sees_a_change() {
    let db = database().await;
    let store = CatalogStore::new(db.db.clone());
    let installed = store.install_defaults().await.unwrap();
    assert_eq!(installed.len(), 4, "{installed:?}");
    assert!(
        store.install_defaults().await.unwrap().is_empty(),
        "a second start installs nothing"
    );
    let here = Catalog::load(db.db.clone()).await.unwrap();
    let there = Catalog::load(db.db.clone()).await.unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    there.spawn_sync(Duration::from_millis(100), cancel.clone());
    assert_eq!(here.get("sessions").unwrap().version, 1);

    // An operator's version: new jobs read it, every process sees it.
    let store = here.store();
    assert_eq!(
        store
            .install(&without_notes(), ORIGIN_OPERATOR, "test")
            .await
            .unwrap(),
        Installed::New {
            version: 2,
            previous: 1
        }
    );
    assert_eq!(
        store
            .install(&without_notes(), ORIGIN_OPERATOR, "test")
            .await
            .unwrap(),
        Installed::Unchanged { version: 2 },
        "the same definition again is no new version"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while there.get("sessions").unwrap().version != 2 {
        assert!(Instant::now() < deadline, "the other catalog never saw v2");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(there.get("sessions").unwrap().column("notes").is_none());
    // A job created on version 1 still reads version 1.
    let first = there.version("sessions", Some(1)).await.unwrap().unwrap();
    assert!(first.column("notes").is_some());
    assert_eq!(first.version, 1);

    // The shipped file does not overwrite an operator's version, nor bring
    // back a dataset they removed.
    assert!(store.remove("users", "test").await.unwrap());
    assert!(
        !store.remove("users", "test").await.unwrap(),
        "removed once"
    );
    assert!(store.install_defaults().await.unwrap().is_empty());
    here.refresh().await.unwrap();
    assert!(here.get("users").is_none());
    assert_eq!(here.get("sessions").unwrap().version, 2);
    let history = store.history("users").await.unwrap();
    assert_eq!(history.len(), 2);
    assert!(history[1].definition.is_none());
    // A removed dataset's versions stay readable for the jobs made on them.
    assert!(here.version("users", Some(1)).await.unwrap().is_some());
    cancel.cancel();
}

/// The acme sessions of one device, as an operator would declare a view.
fn desktop_sessions(columns: &[&str]) -> Value {
    let all = [
        ("id", "text"),
        ("user_id", "text"),
        ("started_at", "timestamp"),
        ("device", "text"),
        ("pages_viewed", "int64"),
    ];
    json!({
        "description": "Sessions on desktops",
        "query": "SELECT id, organization_id, user_id, started_at, device, pages_viewed FROM sessions WHERE device = 'Desktop'",
        "tenantColumn": "organization_id",
        "rangeColumn": "started_at",
        "key": ["id"],
        "userColumn": "user_id",
        "columns": all
            .iter()
            .filter(|(name, _)| columns.contains(name))
            .map(|(name, kind)| json!({"name": name, "type": kind}))
            .collect::<Vec<_>>(),
    })
}

async fn put(service: &TestService, token: &str, name: &str, body: &Value) -> (u16, Value) {
    let response = service
        .put(token, &format!("/api/admin/datasets/{name}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_adds_a_dataset_and_clients_export_it() {
    let service = TestService::start().await;
    let superadmin = service.token(SUPER).await;
    let admin = service.token(ADMIN).await;
    let member = service.token(MEMBER).await;

    let listed = service.get_json(&admin, "/api/datasets").await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["analytics", "dashboard", "sessions", "users"]);
    let sessions = &listed[2];
    assert_eq!(sessions["rangeColumn"], "started_at");
    assert_eq!(sessions["columns"][3]["label"], "Started at");
    assert_eq!(
        service.get_json(&member, "/api/datasets").await,
        json!([]),
        "a Member exports nothing"
    );

    // Only a SuperAdmin changes the catalog.
    let body = desktop_sessions(&["id", "started_at", "device", "pages_viewed"]);
    let (status, problem) = put(&service, &admin, "desktop", &body).await;
    assert_eq!(status, 403, "{problem}");
    let (status, installed) = put(&service, &superadmin, "desktop", &body).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["version"], 1);
    assert!(
        installed["sampledRows"].as_u64().unwrap() > 0,
        "{installed}"
    );

    // An Admin exports it; the job records the version it read.
    let (job, _, bytes) = service
        .export_and_download(
            &admin,
            json!({"dataType": "desktop", "format": "csv", "columns": ["id", "device"]}),
        )
        .await;
    assert_eq!(job["datasetVersion"], 1, "{job}");
    let text = String::from_utf8(bytes).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,device"));
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|row| row.ends_with(",Desktop")), "{text}");

    // A second version drops a column: new jobs see it, and asking for the
    // column now names what there is.
    let (status, installed) = put(
        &service,
        &superadmin,
        "desktop",
        &desktop_sessions(&["id", "started_at", "device"]),
    )
    .await;
    assert_eq!(status, 200, "{installed}");
    assert_eq!(installed["previousVersion"], 1);
    assert_eq!(installed["version"], 2);
    let response = service
        .post(&admin, "/api/export-jobs")
        .json(&json!({"dataType": "desktop", "format": "csv", "columns": ["pages_viewed"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("pages_viewed"),
        "{problem}"
    );

    // An unknown dataset is refused with the caller's valid names.
    let response = service
        .post(&admin, "/api/export-jobs")
        .json(&json!({"dataType": "orders", "format": "csv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:exporter:problem:unknown-dataset");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("\"orders\"") && detail.contains("dashboard, desktop, sessions, users"),
        "{detail}"
    );

    // Removed: gone for new jobs.
    let response = service
        .delete(&superadmin, "/api/admin/datasets/desktop")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let response = service
        .get(&admin, "/api/datasets/desktop")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_that_write_or_do_not_run_are_refused_with_the_reason() {
    let service = TestService::start().await;
    let superadmin = service.token(SUPER).await;
    let mut writes = desktop_sessions(&["id", "started_at"]);
    writes["query"] = json!(
        "WITH gone AS (DELETE FROM sessions RETURNING *) SELECT id, organization_id, user_id, started_at FROM gone"
    );
    let (status, problem) = put(&service, &superadmin, "evil", &writes).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "urn:exporter:problem:invalid-dataset");
    assert!(
        problem["detail"].as_str().unwrap().contains("DELETE"),
        "{problem}"
    );

    let mut no_tenant = desktop_sessions(&["id", "started_at"]);
    no_tenant["tenantColumn"] = json!("org");
    let (status, problem) = put(&service, &superadmin, "broken", &no_tenant).await;
    assert_eq!(status, 422, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("dataset \"broken\"") && detail.contains("tenant column \"org\""),
        "{detail}"
    );

    let mut wrong_type = desktop_sessions(&["id", "started_at"]);
    wrong_type["columns"][1]["type"] = json!("money");
    let (status, problem) = put(&service, &superadmin, "typo", &wrong_type).await;
    assert_eq!(status, 422, "{problem}");

    let mut elsewhere = desktop_sessions(&["id", "started_at"]);
    elsewhere["source"] = json!("warehouse");
    let (status, problem) = put(&service, &superadmin, "far", &elsewhere).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("[sources.warehouse]"),
        "{problem}"
    );
    // Nothing refused was installed.
    let listed = service
        .get_json(&service.token(ADMIN).await, "/api/datasets")
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 4);
    service.stop().await;
}

/// A job made on one version runs that version, even when a new one is
/// installed before a worker picks it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_on_the_version_it_was_created_on() {
    let mut service = TestService::start_with(300, |config| config.worker.enabled = false).await;
    let superadmin = service.token(SUPER).await;
    let admin = service.token(ADMIN).await;
    let body = desktop_sessions(&["id", "device", "pages_viewed", "started_at"]);
    assert_eq!(put(&service, &superadmin, "desktop", &body).await.0, 201);
    let job = service
        .create(&admin, json!({"dataType": "desktop", "format": "csv"}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["datasetVersion"], 1);
    assert_eq!(
        put(
            &service,
            &superadmin,
            "desktop",
            &desktop_sessions(&["id", "started_at"])
        )
        .await
        .0,
        200
    );
    // Now a worker on the same database runs the job.
    let mut worker_config = service.config.clone();
    worker_config.worker.enabled = true;
    worker_config.serve_api = false;
    worker_config.server.listen = "127.0.0.1:0".parse().unwrap();
    let worker = exporter::service::start(worker_config).await.unwrap();
    let done = service.wait(&admin, &id).await;
    assert_eq!(done["status"], "Completed", "{done}");
    let file = service.client.get(done["downloadUrl"].as_str().unwrap());
    let text = file.send().await.unwrap().text().await.unwrap();
    assert_eq!(
        text.lines().next(),
        Some("id,started_at,device,pages_viewed"),
        "version 1's columns"
    );
    worker.shutdown().await.unwrap();
    service.shut_down().await;
}

const DESKTOP_FILE: &str = r#"
[datasets.desktop]
description = "Sessions on desktops"
query = "SELECT id, organization_id, user_id, started_at, device FROM sessions WHERE device = 'Desktop'"
tenantColumn = "organization_id"
rangeColumn = "started_at"
key = ["id"]

[[datasets.desktop.columns]]
name = "id"
type = "text"

[[datasets.desktop.columns]]
name = "started_at"
type = "timestamp"
label = "Started"
"#;

fn cli(service: &TestService, args: &[&str]) -> std::process::Output {
    let mut command = exporter_tests::process::command(&service.config.data_dir);
    command
        .current_dir(&service.config.data_dir)
        .env_remove("EXPORTER_CONFIG")
        .env_remove("EXPORTER_TEST_DATABASE")
        .args(["--data-dir"])
        .arg(&service.config.data_dir)
        .args(args)
        .args(["--database-url", &service.config.database.url]);
    tokio::task::block_in_place(|| command.output().expect("the exporter binary runs"))
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `exporter dataset apply`: validated and checked, shown as a diff,
/// installed, and used by the running service without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_file_applies_and_the_service_picks_it_up() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let file = service.config.data_dir.join("catalog.toml");
    std::fs::write(&file, DESKTOP_FILE).unwrap();
    let file = file.to_str().unwrap();

    let dry = cli(&service, &["dataset", "apply", file, "--dry-run"]);
    let said = stdout(&dry);
    assert!(
        dry.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(said.contains("+ desktop (new)"), "{said}");
    assert!(said.contains("+ label = \"Started\""), "{said}");
    assert!(
        said.contains("dry run: 1 dataset(s) would change"),
        "{said}"
    );
    assert!(service.get_json(&admin, "/api/datasets/desktop").await["name"].is_null());

    let applied = cli(&service, &["dataset", "apply", file]);
    let said = stdout(&applied);
    assert!(applied.status.success(), "{said}");
    assert!(said.contains("installed desktop version 1"), "{said}");
    // The running service sees it without a restart.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let dataset = service.get_json(&admin, "/api/datasets/desktop").await;
        if dataset["version"] == 1 {
            assert_eq!(dataset["columns"][1]["label"], "Started");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the service never saw it: {dataset}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, _, bytes) = service
        .export_and_download(&admin, json!({"dataType": "desktop", "format": "csv"}))
        .await;
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(text.lines().next(), Some("id,started_at"), "{text}");

    let again = cli(&service, &["dataset", "apply", file]);
    assert!(
        stdout(&again).contains("= desktop (unchanged, version 1)"),
        "{}",
        stdout(&again)
    );
    let listed = cli(&service, &["dataset", "list"]);
    assert!(
        stdout(&listed).contains("desktop v1 (Sessions on desktops"),
        "{}",
        stdout(&listed)
    );
    let shown = cli(&service, &["dataset", "show", "desktop"]);
    assert!(
        stdout(&shown).contains("[datasets.desktop]"),
        "{}",
        stdout(&shown)
    );
    let checked = cli(&service, &["dataset", "check"]);
    assert!(checked.status.success(), "{}", stdout(&checked));
    assert!(
        stdout(&checked).contains("ok      desktop (version 1)"),
        "{}",
        stdout(&checked)
    );

    // A file with a mistake installs nothing and says where.
    std::fs::write(
        service.config.data_dir.join("bad.toml"),
        DESKTOP_FILE.replace("key = [\"id\"]", "key = [\"uuid\"]"),
    )
    .unwrap();
    let bad = service.config.data_dir.join("bad.toml");
    let refused = cli(&service, &["dataset", "apply", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("dataset \"desktop\"") && error.contains("\"uuid\""),
        "{error}"
    );
    service.stop().await;
}

/// The tenant predicate is the host's, around the dataset's SQL: a query
/// that selects every organization's rows still gives each caller only
/// their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_scopes_every_dataset_to_the_callers_organization() {
    let service = TestService::start().await;
    let superadmin = service.token(SUPER).await;
    let body = json!({
        "description": "Every session, as the SQL sees them",
        "query": "SELECT id, organization_id, started_at FROM sessions",
        "tenantColumn": "organization_id",
        "rangeColumn": "started_at",
        "key": ["id"],
        "columns": [
            {"name": "id", "type": "text"},
            {"name": "started_at", "type": "timestamp"},
            {"name": "organization_id", "type": "text"},
        ],
    });
    assert_eq!(put(&service, &superadmin, "everyone", &body).await.0, 201);
    let mut seen = 0;
    for (email, organization, other) in [
        (ADMIN, "acme", "globex"),
        ("admin@globex.test", "globex", "acme"),
    ] {
        let token = service.token(email).await;
        // Naming the other organization: only a SuperAdmin may.
        let response = service
            .post(&token, "/api/export-jobs")
            .json(&json!({"dataType": "everyone", "format": "csv",
                "filters": {"organizationId": exporter::source::demo::demo_id("organization", other)}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 403);
        let (_, _, bytes) = service
            .export_and_download(&token, json!({"dataType": "everyone", "format": "csv"}))
            .await;
        let text = String::from_utf8(bytes).unwrap();
        let own = exporter::source::demo::demo_id("organization", organization);
        let rows: Vec<&str> = text.lines().skip(1).collect();
        assert!(!rows.is_empty(), "{organization} has sessions");
        assert!(
            rows.iter().all(|row| row.ends_with(&format!(",{own}"))),
            "{organization} sees only its own rows:\n{text}"
        );
        seen += rows.len();
    }
    // The SuperAdmin, unfiltered, sees both: each saw exactly its share.
    let (_, _, bytes) = service
        .export_and_download(
            &superadmin,
            json!({"dataType": "everyone", "format": "csv"}),
        )
        .await;
    let all = String::from_utf8(bytes).unwrap().lines().count() - 1;
    assert_eq!(all, seen);
    service.stop().await;
}

/// A job's file, read as CSV rows (the header first).
async fn csv_rows(service: &TestService, token: &str, body: Value) -> Vec<Vec<String>> {
    let (_, _, bytes) = service.export_and_download(token, body).await;
    let rows = exporter_tests::python_read("csv", &bytes, &[]);
    serde_json::from_value(rows).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_filters_select_rows_by_typed_values() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let listed = service.get_json(&admin, "/api/datasets/sessions").await;
    let column = |name: &str| {
        listed["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        column("device")["filter"],
        json!(["eq", "in", "gt", "gte", "lt", "lte"])
    );
    assert!(column("notes").get("filter").is_none(), "{listed}");

    let all = csv_rows(
        &service,
        &admin,
        json!({"dataType": "sessions", "format": "csv",
               "columns": ["id", "device", "duration_seconds", "status"]}),
    )
    .await;
    let filtered = csv_rows(
        &service,
        &admin,
        json!({"dataType": "sessions", "format": "csv",
               "columns": ["id", "device", "duration_seconds", "status"],
               "filters": {"columns": {
                   "device": {"in": ["Desktop", "iPad, 10th gen"]},
                   "duration_seconds": {"gte": 60, "lt": "1800"},
                   "status": {"eq": "completed"}}}}),
    )
    .await;
    // The same rows as filtering the whole export here.
    let expected: Vec<&Vec<String>> = all[1..]
        .iter()
        .filter(|row| {
            let duration: Option<i64> = row[2].parse().ok();
            ["Desktop", "iPad, 10th gen"].contains(&row[1].as_str())
                && duration.is_some_and(|d| (60..1800).contains(&d))
                && row[3] == "completed"
        })
        .collect();
    assert!(!expected.is_empty() && expected.len() < all.len() - 1);
    assert_eq!(filtered[1..].iter().collect::<Vec<_>>(), expected);

    // A boolean, on both engines' spelling of one.
    let users = csv_rows(
        &service,
        &admin,
        json!({"dataType": "users", "format": "csv", "columns": ["email", "active"],
               "filters": {"columns": {"active": {"eq": false}}}}),
    )
    .await;
    assert!(users[1..].iter().all(|row| row[1] == "false"), "{users:?}");

    // Refusals name the column and what it takes.
    for (filters, says) in [
        (
            json!({"notes": {"eq": "x"}}),
            "does not declare it filterable",
        ),
        (json!({"nope": {"eq": "x"}}), "has no such column"),
        (
            json!({"duration_seconds": {"eq": "ten"}}),
            "\"ten\" is not a 64-bit integer",
        ),
        (json!({"device": {"in": []}}), "1 to 1000 values"),
        (json!({"device": {"like": "d%"}}), "like"),
    ] {
        let response = service
            .post(&admin, "/api/export-jobs")
            .json(&json!({"dataType": "sessions", "format": "csv",
                          "filters": {"columns": filters}}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let problem: Value = response.json().await.unwrap();
        assert_eq!(status, 422, "{filters}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says)
                || problem["errors"].to_string().contains(says),
            "{filters}: {problem}"
        );
    }
    let response = service
        .post(&admin, "/api/export-jobs")
        .json(&json!({"dataType": "users", "format": "csv",
                      "filters": {"columns": {"active": {"gt": true}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("`gt` does not apply to a boolean column"),
        "{problem}"
    );
    service.stop().await;
}

/// `PATCH /api/organization`, as `token`.
async fn set_time_zone(service: &TestService, token: &str, zone: Value) -> (u16, Value) {
    let response = service
        .client
        .patch(format!("{}/api/organization", service.url))
        .bearer_auth(token)
        .json(&json!({ "timeZone": zone }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_for_people_show_labels_local_time_and_the_organization_name() {
    let service = TestService::start().await;
    let admin = service.token(ADMIN).await;
    let member = service.token(MEMBER).await;

    // The organization's default zone: set by its Admin, read by anyone in it.
    let (status, organization) = set_time_zone(&service, &admin, json!("europe/paris")).await;
    assert_eq!(status, 200, "{organization}");
    assert_eq!(
        organization["timeZone"], "Europe/Paris",
        "canonical spelling"
    );
    assert_eq!(organization["name"], "Acme Corporation");
    let (status, refused) = set_time_zone(&service, &admin, json!("Mars/Olympus")).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("IANA name"),
        "{refused}"
    );
    let (status, _) = set_time_zone(&service, &member, json!("UTC")).await;
    assert_eq!(status, 403, "a Member changes no settings");
    assert_eq!(
        service.get_json(&member, "/api/organization").await["timeZone"],
        "Europe/Paris"
    );

    // One winter and one summer session: instants an hour and two hours
    // from UTC in Paris.
    let body = |format: &str, extra: Value| {
        let mut body = json!({"dataType": "sessions", "format": format,
                              "columns": ["id", "started_at"],
                              "dateRange": {"from": "2026-01-10", "to": "2026-01-10"}});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    // CSV for programs: names and UTC, whatever the organization's zone;
    // the job records the zone it was created with.
    let (job, _, utc) = service
        .export_and_download(&admin, body("csv", json!({})))
        .await;
    assert_eq!(job["timeZone"], "Europe/Paris", "{job}");
    let utc: Vec<Vec<String>> =
        serde_json::from_value(exporter_tests::python_read("csv", &utc, &[])).unwrap();
    assert_eq!(utc[0], ["id", "started_at"]);
    assert!(utc.len() > 1, "a session on 2026-01-10: {utc:?}");
    assert!(utc[1][1].ends_with('Z'), "{utc:?}");

    // Asked for: labels, and local time with its offset, the same instant.
    let (_, _, local) = service
        .export_and_download(
            &admin,
            body(
                "csv",
                json!({"options": {"header": "labels", "local-time": true}}),
            ),
        )
        .await;
    let local: Vec<Vec<String>> =
        serde_json::from_value(exporter_tests::python_read("csv", &local, &[])).unwrap();
    assert_eq!(local[0], ["Id", "Started at"]);
    assert_eq!(local.len(), utc.len());
    for (utc, local) in utc[1..].iter().zip(&local[1..]) {
        assert!(local[1].ends_with("+01:00"), "January in Paris: {local:?}");
        assert_eq!(
            same_instant(&utc[1], &local[1], 0.0),
            "True",
            "{utc:?} {local:?}"
        );
    }
    // A zone named in the request wins over the organization's.
    let (job, _, kolkata) = service
        .export_and_download(
            &admin,
            body(
                "csv",
                json!({"timeZone": "Asia/Kolkata", "options": {"local-time": true}}),
            ),
        )
        .await;
    assert_eq!(job["timeZone"], "Asia/Kolkata");
    assert!(String::from_utf8_lossy(&kolkata).contains("+05:30"));
    let response = service
        .post(&admin, "/api/export-jobs")
        .json(&body("csv", json!({"timeZone": "Europe/Pariss"})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);

    // JSON keeps UTC; with labels, the keys are the labels.
    let (_, _, document) = service
        .export_and_download(
            &admin,
            body("json", json!({"options": {"header": "labels"}})),
        )
        .await;
    let document = exporter_tests::python_read("json", &document, &[]);
    let first = &document.as_array().unwrap()[0];
    assert_eq!(first["Started at"], utc[1][1].as_str(), "{first}");

    // The spreadsheet, for people by default: labels, Paris wall-clock time.
    let (_, _, workbook) = service
        .export_and_download(&admin, body("xlsx", json!({})))
        .await;
    let sheets = exporter_tests::python_read("xlsx", &workbook, &[]);
    let rows = sheets["sheets"][0]["rows"].as_array().unwrap();
    assert_eq!(
        rows[0],
        json!(["Id", "Started at (Europe/Paris)"]),
        "{sheets}"
    );
    let wall_clock = rows[1][1]["datetime"].as_str().unwrap();
    assert_eq!(
        // A spreadsheet's serial numbers keep milliseconds.
        same_instant(&utc[1][1], &format!("{wall_clock}+01:00"), 0.0005),
        "True",
        "{utc:?} {wall_clock}"
    );

    // The PDF names the organization (not its id) and the zone.
    let (_, _, pdf) = service
        .export_and_download(&admin, body("pdf", json!({})))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let text = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Acme Corporation"), "{text}");
    assert!(text.contains("Europe/Paris"), "{text}");
    assert!(text.contains("+01:00"), "{text}");
    assert!(
        !text.contains(&exporter::source::demo::demo_id("organization", "acme")),
        "{text}"
    );
    service.stop().await;
}

/// Whether two RFC 3339 instants are the same moment, to within
/// `seconds`, as Python reads them.
fn same_instant(a: &str, b: &str, seconds: f64) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, datetime as d; p = lambda s: d.datetime.fromisoformat(s.replace('Z', '+00:00')); \
             print(abs((p(sys.argv[1]) - p(sys.argv[2])).total_seconds()) <= float(sys.argv[3]))",
            a,
            b,
            &seconds.to_string(),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
