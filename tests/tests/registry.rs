//! The plugin registry through the API: install, activate, roll back,
//! delete; refused installs with their reports; hot swap under load;
//! canaries; automatic rollback of a crashing version; the watched
//! directory; two registries on one PostgreSQL database.
//!
//! The `stamp` test guest writes `stamp <version>` on its first line, so
//! every file says which version wrote it (tests/guests/stamp).

use std::time::{Duration, Instant};

use exporter::config::Config;
use exporter_tests::service::TestService;
use exporter_tests::test_plugin_path;
use serde_json::{Value, json};

const SUPER: &str = "super@exporter.test";
const ADMIN: &str = "admin@acme.test";
const GLOBEX_ADMIN: &str = "admin@globex.test";

/// Install-time checks sized for tests: the kit's large export smaller,
/// and a slow plugin found out in 2 s rather than 10.
fn quick_checks(config: &mut Config) {
    config.registry.validation.check_rows = 20_000;
    config.registry.validation.call_timeout = Duration::from_secs(2);
}

fn component(name: &str) -> Vec<u8> {
    std::fs::read(test_plugin_path(name)).unwrap()
}

async fn install(
    service: &TestService,
    token: &str,
    name: &str,
    file: &str,
    query: &str,
) -> (u16, Value) {
    let response = service
        .put(token, &format!("/api/admin/formatters/{name}{query}"))
        .header("content-type", "application/wasm")
        .body(component(file))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn activate(service: &TestService, token: &str, name: &str, body: Value) -> (u16, Value) {
    let response = service
        .post(token, &format!("/api/admin/formatters/{name}/activate"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn versions(service: &TestService, token: &str) -> Vec<Value> {
    let response = service
        .get(token, "/api/admin/formatters")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Vec<Value>>().await.unwrap()
}

fn find<'a>(versions: &'a [Value], name: &str, version: &str) -> &'a Value {
    versions
        .iter()
        .find(|v| v["name"] == name && v["version"] == version)
        .unwrap_or_else(|| panic!("{name} {version} is not listed: {versions:#?}"))
}

async fn stamp_version_in_use(service: &TestService, token: &str) -> Option<String> {
    let formats: Vec<Value> = service
        .get(token, "/api/formats")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    formats
        .iter()
        .find(|f| f["name"] == "stamp")
        .map(|f| f["version"].as_str().unwrap().to_owned())
}

fn users_export() -> Value {
    json!({"dataType": "users", "format": "stamp"})
}

fn sessions_export() -> Value {
    json!({"dataType": "sessions", "format": "stamp"})
}

/// Runs an export to the end; returns the job and the file's first line.
async fn export(service: &TestService, token: &str, body: Value) -> (Value, String) {
    let created = service.create(token, body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let job = service.wait(token, &id).await;
    let stamp = if job["status"] == "Completed" {
        first_line(service, token, &id).await
    } else {
        String::new()
    };
    (job, stamp)
}

async fn first_line(service: &TestService, token: &str, id: &str) -> String {
    let response = service
        .get(token, &format!("/api/export-jobs/{id}/download"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    body.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn install_activate_roll_back_and_delete_through_the_api() {
    let service = TestService::start_with(300, quick_checks).await;
    let superadmin = service.token(SUPER).await;
    let admin = service.token(ADMIN).await;

    // Built-ins are registered like any other version.
    let listed = versions(&service, &superadmin).await;
    let csv = listed
        .iter()
        .find(|v| v["name"] == "csv")
        .expect("csv listed");
    assert_eq!(csv["source"], "builtin");
    assert_eq!(csv["active"], true);
    assert_eq!(csv["contract"], "exporter:formatter/formatter@1.1.0");

    // Only SuperAdmins manage plugins.
    let (status, body) = install(&service, &admin, "stamp", "stamp", "").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["type"], "urn:exporter:problem:forbidden");

    let (status, v1) = install(&service, &superadmin, "stamp", "stamp", "").await;
    assert_eq!(status, 201, "{v1}");
    assert_eq!(v1["version"], "1.0.0");
    assert_eq!(v1["status"], "Ready");
    assert_eq!(v1["activated"], true);
    assert!(v1["report"]["passed"].as_bool().unwrap(), "{v1}");
    let kit_cases = v1["report"]["conformance"].as_array().unwrap();
    assert!(kit_cases.len() >= 10, "the conformance kit ran: {v1}");
    assert_eq!(
        stamp_version_in_use(&service, &admin).await.as_deref(),
        Some("1.0.0")
    );
    let (job, stamp) = export(&service, &admin, users_export()).await;
    assert_eq!(job["status"], "Completed", "{job}");
    assert_eq!(stamp, "stamp 1.0.0");
    assert_eq!(job["file"]["plugin"]["version"], "1.0.0");
    assert_eq!(job["file"]["plugin"]["sha256"], v1["sha256"]);

    // The same bytes again: nothing new, except that a component the blob
    // store lost is put back.
    let v1_file = service
        .blobs_dir
        .join("plugins/stamp")
        .join(format!("{}.wasm", v1["sha256"].as_str().unwrap()));
    std::fs::remove_file(&v1_file).unwrap();
    let (status, again) = install(&service, &superadmin, "stamp", "stamp", "").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["alreadyInstalled"], true);
    assert_eq!(std::fs::read(&v1_file).unwrap(), component("stamp"));

    // A new version, installed without activating, then activated.
    let (status, v2) = install(
        &service,
        &superadmin,
        "stamp",
        "stamp-v2",
        "?activate=false",
    )
    .await;
    assert_eq!(status, 201, "{v2}");
    assert_eq!(v2["activated"], false);
    assert_eq!(
        stamp_version_in_use(&service, &admin).await.as_deref(),
        Some("1.0.0")
    );
    let (status, body) =
        activate(&service, &superadmin, "stamp", json!({"version": "2.0.0"})).await;
    assert_eq!(status, 200, "{body}");
    let (job, stamp) = export(&service, &admin, users_export()).await;
    assert_eq!(stamp, "stamp 2.0.0");
    assert_eq!(job["file"]["plugin"]["version"], "2.0.0");

    // Rollback is activating the previous version.
    let (status, body) =
        activate(&service, &superadmin, "stamp", json!({"version": "1.0.0"})).await;
    assert_eq!(status, 200, "{body}");
    let (_, stamp) = export(&service, &admin, users_export()).await;
    assert_eq!(stamp, "stamp 1.0.0");

    // Unknown versions, active versions.
    let (status, body) =
        activate(&service, &superadmin, "stamp", json!({"version": "9.9.9"})).await;
    assert_eq!(status, 404, "{body}");
    let response = service
        .delete(&superadmin, "/api/admin/formatters/stamp/versions/1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        409,
        "the active version cannot be deleted"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("active for everyone"),
        "{body}"
    );

    // An inactive version can.
    let response = service
        .delete(&superadmin, "/api/admin/formatters/stamp/versions/2.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let listed = versions(&service, &superadmin).await;
    assert!(
        !listed
            .iter()
            .any(|v| v["name"] == "stamp" && v["version"] == "2.0.0")
    );
    let component_file = |v: &Value| {
        service
            .blobs_dir
            .join("plugins/stamp")
            .join(format!("{}.wasm", v["sha256"].as_str().unwrap()))
    };
    assert!(
        component_file(&v1).exists(),
        "components live in the blob store"
    );
    assert!(
        !component_file(&v2).exists(),
        "the deleted version's component is gone from the blob store"
    );
    service.stop().await;
}

#[tokio::test]
async fn refused_installs_are_kept_with_a_clear_report() {
    let service = TestService::start_with(300, quick_checks).await;
    let superadmin = service.token(SUPER).await;
    let put = |name: &str, bytes: Vec<u8>| {
        service
            .put(&superadmin, &format!("/api/admin/formatters/{name}"))
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
    };

    // (component, installed as, what the reason must say)
    let cases: [(Vec<u8>, &str, &str); 7] = [
        (
            b"PK\x03\x04 not wasm".to_vec(),
            "junk",
            "not a WebAssembly binary",
        ),
        (
            b"\0asm\x01\0\0\0".to_vec(),
            "core",
            "a core WebAssembly module, not a component",
        ),
        (
            component("not-a-formatter"),
            "nope",
            "exporter:formatter/formatter",
        ),
        (component("naive-csv"), "naive-csv", "conformance kit"),
        (component("hostile-slow"), "hostile", "time limit"),
        (component("hostile-hungry"), "hostile", "memory"),
        (
            component("stamp"),
            "csv",
            "the component says it is format \"stamp\"",
        ),
    ];
    for (bytes, name, reason) in cases {
        let started = Instant::now();
        let response = put(name, bytes).await.unwrap();
        let status = response.status();
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 422, "{name}: {body}");
        assert_eq!(body["type"], "urn:exporter:problem:plugin-refused");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains(reason),
            "{name}: the reason should mention {reason:?}: {detail}"
        );
        assert_eq!(body["report"]["passed"], false);
        let failed: Vec<_> = body["report"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["passed"] == false)
            .collect();
        assert_eq!(
            failed.len(),
            1,
            "validation stops at the first failure: {body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{name}: refusing took {:?}",
            started.elapsed()
        );
    }

    // Refused versions are listed with their reports and never activated.
    let listed = versions(&service, &superadmin).await;
    let refused: Vec<_> = listed.iter().filter(|v| v["status"] == "Refused").collect();
    assert_eq!(refused.len(), 7, "{listed:#?}");
    assert!(refused.iter().all(|v| v["active"] == false));
    let naive = listed.iter().find(|v| v["name"] == "naive-csv").unwrap();
    assert!(
        naive["report"]["conformance"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["passed"] == false)
    );
    let (status, body) = activate(
        &service,
        &superadmin,
        "naive-csv",
        json!({"version": naive["version"]}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("never activated"),
        "{body}"
    );
    let formats: Vec<Value> = service
        .get(&superadmin, "/api/formats")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !formats
            .iter()
            .any(|f| f["name"] == "naive-csv" || f["name"] == "hostile")
    );

    // Bytes refused under the wrong name install fine under their own.
    let (status, body) = install(&service, &superadmin, "stamp", "stamp", "").await;
    assert_eq!(status, 201, "{body}");
    service.stop().await;
}

/// A stream of exports runs while a new version is activated: none fails,
/// the one running during the swap finishes on the old version, the ones
/// created after use the new one, and every file's stamp matches the
/// version its job records.
#[tokio::test]
async fn hot_swap_under_load_drops_nothing() {
    let service = TestService::start_with(60_000, |config| {
        quick_checks(config);
        config.worker.concurrency = 2;
    })
    .await;
    let superadmin = service.token(SUPER).await;
    let admin = service.token(ADMIN).await;
    let (status, _) = install(&service, &superadmin, "stamp", "stamp", "").await;
    assert_eq!(status, 201);
    let (status, _) = install(
        &service,
        &superadmin,
        "stamp",
        "stamp-v2",
        "?activate=false",
    )
    .await;
    assert_eq!(status, 201);

    let mut before = Vec::new();
    for _ in 0..6 {
        before.push(
            service.create(&admin, sessions_export()).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Swap while an export is running.
    let deadline = Instant::now() + Duration::from_secs(60);
    let in_flight = loop {
        let mut running = None;
        for id in &before {
            if service.job(&admin, id).await["status"] == "Processing" {
                running = Some(id.clone());
                break;
            }
        }
        if let Some(id) = running {
            break id;
        }
        assert!(Instant::now() < deadline, "no export ever ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let (status, body) =
        activate(&service, &superadmin, "stamp", json!({"version": "2.0.0"})).await;
    assert_eq!(status, 200, "{body}");
    let mut after = Vec::new();
    for _ in 0..6 {
        after.push(
            service.create(&admin, sessions_export()).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }

    let mut seen_in_flight_status = String::new();
    for id in before.iter().chain(&after) {
        let job = service.wait(&admin, id).await;
        assert_eq!(
            job["status"], "Completed",
            "no export fails during a swap: {job}"
        );
        let version = job["file"]["plugin"]["version"]
            .as_str()
            .unwrap()
            .to_owned();
        let stamp = first_line(&service, &admin, id).await;
        assert_eq!(
            stamp,
            format!("stamp {version}"),
            "the file says what its job records"
        );
        if id == &in_flight {
            seen_in_flight_status = version.clone();
        }
        if after.contains(id) {
            assert_eq!(version, "2.0.0", "created after the activation");
        }
    }
    assert_eq!(
        seen_in_flight_status, "1.0.0",
        "the export running during the swap finished on the version it started with"
    );
    service.stop().await;
}

#[tokio::test]
async fn a_canary_serves_one_organization_until_it_ends() {
    let service = TestService::start_with(300, quick_checks).await;
    let superadmin = service.token(SUPER).await;
    let acme = service.token(ADMIN).await;
    let globex = service.token(GLOBEX_ADMIN).await;
    let (status, _) = install(&service, &superadmin, "stamp", "stamp", "").await;
    assert_eq!(status, 201);
    let (job, _) = export(&service, &acme, users_export()).await;
    let acme_id = job["organizationId"].as_str().unwrap().to_owned();

    let (status, body) = install(
        &service,
        &superadmin,
        "stamp",
        "stamp-v2",
        &format!("?organizationId={acme_id}"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (_, stamp) = export(&service, &acme, users_export()).await;
    assert_eq!(
        stamp, "stamp 2.0.0",
        "the canary organization gets the new version"
    );
    assert_eq!(
        stamp_version_in_use(&service, &acme).await.as_deref(),
        Some("2.0.0"),
        "GET /api/formats shows an organization its canary"
    );
    assert_eq!(
        stamp_version_in_use(&service, &globex).await.as_deref(),
        Some("1.0.0")
    );
    let (_, stamp) = export(&service, &globex, users_export()).await;
    assert_eq!(stamp, "stamp 1.0.0", "everyone else keeps the old one");
    let listed = versions(&service, &superadmin).await;
    assert_eq!(
        find(&listed, "stamp", "2.0.0")["canaryOrganizations"],
        json!([acme_id])
    );

    let response = service
        .delete(
            &superadmin,
            &format!("/api/admin/formatters/stamp/canary/{acme_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (_, stamp) = export(&service, &acme, users_export()).await;
    assert_eq!(stamp, "stamp 1.0.0");
    service.stop().await;
}

#[tokio::test]
async fn a_version_that_keeps_crashing_is_rolled_back() {
    let service = TestService::start_with(300, |config| {
        quick_checks(config);
        config.registry.trap_threshold = 3;
    })
    .await;
    let superadmin = service.token(SUPER).await;
    let admin = service.token(ADMIN).await;
    let (status, _) = install(&service, &superadmin, "stamp", "stamp", "").await;
    assert_eq!(status, 201);
    // 3.0.0 passes the kit but crashes on every users export.
    let (status, body) = install(&service, &superadmin, "stamp", "stamp-trap", "").await;
    assert_eq!(status, 201, "{body}");
    for attempt in 1..=3 {
        let (job, _) = export(&service, &admin, users_export()).await;
        assert_eq!(job["status"], "Failed", "attempt {attempt}: {job}");
        assert!(job["error"].as_str().unwrap().contains("crashed"), "{job}");
    }
    assert_eq!(
        stamp_version_in_use(&service, &admin).await.as_deref(),
        Some("1.0.0"),
        "rolled back to the version 3.0.0 replaced"
    );
    let (job, stamp) = export(&service, &admin, users_export()).await;
    assert_eq!(job["status"], "Completed", "{job}");
    assert_eq!(stamp, "stamp 1.0.0");
    let listed = versions(&service, &superadmin).await;
    let trap = find(&listed, "stamp", "3.0.0");
    assert_eq!(trap["status"], "Disabled");
    assert!(
        trap["statusReason"]
            .as_str()
            .unwrap()
            .contains("3 crashed exports"),
        "{trap}"
    );
    let metrics = service
        .client
        .get(format!("{}/metrics", service.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("exporter_plugin_rollbacks_total{format=\"stamp\"} 1"),
        "{metrics}"
    );
    // An operator may still activate it by hand.
    let (status, body) =
        activate(&service, &superadmin, "stamp", json!({"version": "3.0.0"})).await;
    assert_eq!(status, 200, "{body}");
    service.stop().await;
}

#[tokio::test]
async fn a_component_dropped_in_the_inbox_is_installed() {
    let service = TestService::start_with(300, quick_checks).await;
    let superadmin = service.token(SUPER).await;
    let inbox = service.config.plugins_inbox();
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("stamp.wasm"), component("stamp")).unwrap();
    std::fs::write(inbox.join("naive.wasm"), component("naive-csv")).unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    while !(inbox.join("installed/stamp.wasm.report.json").exists()
        && inbox.join("refused/naive.wasm.report.json").exists())
    {
        assert!(Instant::now() < deadline, "the inbox was not processed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!inbox.join("stamp.wasm").exists());
    assert!(inbox.join("installed/stamp.wasm").exists());
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(inbox.join("refused/naive.wasm.report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["status"], "Refused", "{report}");
    assert!(
        report["report"]["reason"]
            .as_str()
            .unwrap()
            .contains("conformance kit")
    );
    let admin = service.token(ADMIN).await;
    assert_eq!(
        stamp_version_in_use(&service, &admin).await.as_deref(),
        Some("1.0.0")
    );
    let listed = versions(&service, &superadmin).await;
    assert_eq!(find(&listed, "stamp", "1.0.0")["source"], "watch");
    service.stop().await;
}

/// Two registries (two workers' worth) on one PostgreSQL database and one
/// blob store: an activation through one reaches the other within a second.
#[tokio::test(flavor = "multi_thread")]
async fn two_registries_on_postgres_switch_within_a_second() {
    use exporter::blob::BlobStore;
    use exporter::formats::FormatRegistry;
    use exporter::metrics::Metrics;
    use exporter::plugins::{PluginEngine, RuntimeConfig};
    use exporter::registry::{Installer, PluginRegistry, RegistrySettings, Selector, run_sync};
    use exporter_tests::databases::TestDatabase;

    exporter_tests::init_tracing();
    let database = TestDatabase::postgres().await;
    let blobs_dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(&format!("file://{}", blobs_dir.path().display())).unwrap();
    let settings = RegistrySettings {
        poll_interval: Duration::from_millis(250),
        check_builtins: false,
        validation: exporter::registry::ValidationSettings {
            check_rows: 20_000,
            validator: Some(exporter_tests::exporter_binary()),
            ..Default::default()
        },
        ..RegistrySettings::default()
    };
    let registry = || {
        PluginRegistry::new(
            database.db.clone(),
            blobs.clone(),
            PluginEngine::new(RuntimeConfig::default()).unwrap(),
            FormatRegistry::default(),
            Metrics::new(),
            settings.clone(),
        )
    };
    let (a, b) = (registry(), registry());
    let plugins = exporter_tests::target_dir().join("plugins");
    a.register_builtins(&plugins).await.unwrap();
    b.register_builtins(&plugins).await.unwrap();
    assert_eq!(a.formats().names(), b.formats().names());
    let stop = tokio_util::sync::CancellationToken::new();
    let sync_a = tokio::spawn(run_sync(a.clone(), stop.clone()));
    let sync_b = tokio::spawn(run_sync(b.clone(), stop.clone()));

    let installer = Installer {
        source: "api",
        by: "test".into(),
    };
    a.install(
        component("stamp").into(),
        Some("stamp"),
        &installer,
        true,
        None,
    )
    .await
    .unwrap();
    a.install(
        component("stamp-v2").into(),
        Some("stamp"),
        &installer,
        false,
        None,
    )
    .await
    .unwrap();
    let wait_for = |registry: PluginRegistry, version: &'static str| async move {
        let started = Instant::now();
        loop {
            if registry
                .formats()
                .get("stamp")
                .is_some_and(|f| f.info().version == version)
            {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "never switched to {version}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    wait_for(b.clone(), "1.0.0").await;
    for version in ["2.0.0", "1.0.0", "2.0.0"] {
        let selector = Selector {
            version: version.into(),
            sha256: None,
        };
        a.activate("stamp", &selector, None, "test").await.unwrap();
        let elapsed = wait_for(b.clone(), version).await;
        assert!(
            elapsed < Duration::from_secs(1),
            "the other registry took {elapsed:?} to switch to {version}"
        );
    }
    stop.cancel();
    let _ = sync_a.await;
    let _ = sync_b.await;
}

/// Escapes 4, 5 and 8 through the API: each kit-hostile variant is refused
/// with 422 and its report within the validation budget, while validation
/// runs in a child process: this process (which hosts the service) stays
/// small and exports of other formats keep completing meanwhile.
#[tokio::test]
async fn kit_hostile_plugins_are_refused_while_the_service_stays_small_and_exports_move() {
    let service = TestService::start_with(300, |config| {
        quick_checks(config);
        config.registry.validation.call_timeout = Duration::from_secs(1);
        config.registry.validation.budget = Duration::from_secs(60);
    })
    .await;
    let superadmin = service.token(SUPER).await;
    let admin = service.token(ADMIN).await;
    let pid = std::process::id();
    let before = exporter_tests::resident(pid).unwrap();
    let sampler = exporter_tests::RssSampler::start(pid);

    let cases = [
        (
            "kit-hostile-flood",
            "its output exceeded the limit of 67108864 bytes",
        ),
        (
            "kit-hostile-options",
            "it declares 100000 options; at most 256 are allowed",
        ),
        (
            "kit-hostile-description",
            "the format's description is 10000032 bytes long; at most 1024 are allowed",
        ),
        ("kit-hostile-test-aware", "time limit"),
    ];
    for (file, reason) in cases {
        let started = Instant::now();
        let installing = install(&service, &superadmin, "kit-hostile", file, "");
        // A CSV export created and finished while the plugin is validated.
        let exporting = async {
            let created = service
                .create(&admin, json!({"dataType": "users", "format": "csv"}))
                .await;
            let job = service.wait(&admin, created["id"].as_str().unwrap()).await;
            (job, started.elapsed())
        };
        let ((status, body), (job, exported_after)) = tokio::join!(installing, exporting);
        let took = started.elapsed();
        assert_eq!(status, 422, "{file}: {body}");
        assert_eq!(body["type"], "urn:exporter:problem:plugin-refused");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(reason), "{file}: {detail}");
        assert_eq!(body["report"]["passed"], false);
        assert!(
            took < Duration::from_secs(60),
            "{file}: refused after {took:?}"
        );
        assert_eq!(job["status"], "Completed", "{file}: {job}");
        let now = exporter_tests::resident(pid).unwrap();
        println!(
            "{file}: 422 in {:.1} s; a CSV export completed after {:.1} s; service RSS {} -> {} MiB",
            took.as_secs_f64(),
            exported_after.as_secs_f64(),
            before >> 20,
            now >> 20
        );
    }
    let peak = sampler.stop();
    println!(
        "service RSS {} MiB before, {} MiB at most while validating",
        before >> 20,
        peak >> 20
    );
    assert!(
        peak < before + (256 << 20),
        "the service grew from {} to {} MiB while validating",
        before >> 20,
        peak >> 20
    );
    service.stop().await;
}

/// Validation that outlives its budget, or outgrows its memory limit, is
/// killed and the plugin refused saying which, within the budget.
#[tokio::test]
async fn validation_is_killed_past_its_budget_or_memory_limit() {
    let service = TestService::start_with(300, |config| {
        quick_checks(config);
        // Long enough that only the budget can stop the spinning variant.
        config.registry.validation.call_timeout = Duration::from_secs(60);
        config.registry.validation.budget = Duration::from_secs(3);
    })
    .await;
    let superadmin = service.token(SUPER).await;
    let started = Instant::now();
    let (status, body) = install(
        &service,
        &superadmin,
        "kit-hostile",
        "kit-hostile-test-aware",
        "",
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("validation did not finish within its budget of 3 s and was stopped"),
        "{detail}"
    );
    assert!(took < Duration::from_secs(10), "refused after {took:?}");
    service.stop().await;

    let service = TestService::start_with(300, |config| {
        quick_checks(config);
        // Less than any validation needs: the child is killed as it grows.
        config.registry.validation.max_process_bytes = 8 << 20;
    })
    .await;
    let superadmin = service.token(SUPER).await;
    let (status, body) = install(&service, &superadmin, "stamp", "stamp", "").await;
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("MiB of host memory, over its limit of 8 MiB, and was stopped"),
        "{detail}"
    );
    service.stop().await;
}

/// Guests written straight against the WIT to break the host are answered
/// through the API within the kit's budget, and the queue keeps moving
/// meanwhile. One that writes after `finish`, or refuses with megabytes of
/// terminal escapes, is refused with a short, clean report (and the listing
/// stays small). One that sleeps in `info()` or in every call finds that
/// its sleeps return at once (the sandbox has no real timers), so nothing
/// hangs: it is judged on its output like any other plugin (and this one's
/// output depends on batch sizes).
#[tokio::test]
async fn raw_hostile_plugins_are_answered_within_the_budget_and_exports_move() {
    let service = TestService::start_with(300, |config| {
        quick_checks(config);
        config.registry.validation.budget = Duration::from_secs(60);
    })
    .await;
    let superadmin = service.token(SUPER).await;
    let admin = service.token(ADMIN).await;

    // (file, a phrase of the refusal). The sleepers' sleeps return at once,
    // so `info()` describes itself and what the kit refuses is their output:
    // one `ok` line per batch differs between batch sizes, and a guest that
    // sleeps instead of writing writes nothing.
    let cases = [
        ("raw-hostile-after-finish", "after finish"),
        ("raw-hostile-huge-refusal", "refus"),
        ("raw-hostile-sleep-info", "batch sizes"),
        ("raw-hostile-sleep", "no output for a non-empty export"),
    ];
    for (file, phrase) in cases {
        let started = Instant::now();
        let installing = install(&service, &superadmin, "raw-hostile", file, "");
        let exporting = async {
            let created = service
                .create(&admin, json!({"dataType": "users", "format": "csv"}))
                .await;
            service.wait(&admin, created["id"].as_str().unwrap()).await
        };
        let ((status, body), job) = tokio::join!(installing, exporting);
        let took = started.elapsed();
        assert_eq!(status, 422, "{file}: {body}");
        let described = &body["report"]["steps"][2];
        assert_eq!(described["name"], "describes itself", "{file}: {body}");
        assert_eq!(described["passed"], true, "{file}: {body}");
        assert!(
            took < Duration::from_secs(60),
            "{file}: answered after {took:?}"
        );
        assert_eq!(job["status"], "Completed", "{file}: {job}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(phrase), "{file}: {detail}");
        assert!(!detail.contains("time limit"), "{file}: {detail}");
        let text = body.to_string();
        assert!(
            text.len() < 64 << 10 && !text.contains('\u{1b}'),
            "{file}: a {} byte report, escapes: {}",
            text.len(),
            text.contains('\u{1b}')
        );
    }
    // Everything recorded about those versions stays small.
    let listing = service
        .get(&superadmin, "/api/admin/formatters")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listing.len() < 1 << 20 && !listing.contains('\u{1b}'),
        "the listing is {} bytes",
        listing.len()
    );
    service.stop().await;
}

/// Issue 18: the contract grew `sink.report-warning` in 1.1.0, compatibly.
/// A third party's plugin built against the frozen 1.0.0 WIT installs
/// (conformance kit and all), is recorded as implementing 1.0.0, and runs
/// exports unchanged.
#[tokio::test]
async fn a_plugin_built_against_contract_1_0_0_installs_and_exports_unchanged() {
    let service = TestService::start_with(300, quick_checks).await;
    let superadmin = service.token(SUPER).await;
    let admin = service.token(ADMIN).await;

    let (status, installed) =
        install(&service, &superadmin, "contract-1-0", "contract-1-0", "").await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["activated"], true, "{installed}");
    let listed = versions(&service, &superadmin).await;
    let legacy = find(&listed, "contract-1-0", "1.0.0");
    assert_eq!(legacy["contract"], "exporter:formatter/formatter@1.0.0");

    let body = json!({"dataType": "users", "format": "contract-1-0", "columns": ["email", "role"]});
    let (job, header) = export(&service, &admin, body).await;
    assert_eq!(job["status"], "Completed", "{job}");
    assert_eq!(header, "email\trole");
    assert_eq!(job["warnings"], json!([]));
    // Every row of acme's users, as the CSV plugin sees them.
    let (csv, _) = export(
        &service,
        &admin,
        json!({"dataType": "users", "format": "csv", "columns": ["email", "role"]}),
    )
    .await;
    assert_eq!(job["file"]["rows"], csv["file"]["rows"], "{job}");
    assert!(job["file"]["rows"].as_u64().unwrap() > 1, "{job}");
}
