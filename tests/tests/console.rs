//! The web console in a real browser: Debian's Chromium, driven by
//! Playwright (`tests/browser/*.mjs`, clicks and typing only) against a
//! real service. Each scenario saves a screenshot of every page it visits
//! under `target/console-screenshots/<scenario>/`; this side prepares what
//! the scenario needs and checks what it leaves behind through the API.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use exporter_tests::service::TestService;
use exporter_tests::{repo_root, target_dir, test_plugin_path};
use serde_json::{Value, json};

const SUPER: &str = "super@exporter.test";
const MANAGER: &str = "manager@acme.test";

/// Runs `tests/browser/<name>.mjs` with `env`; returns the JSON line it
/// printed last.
async fn scenario(name: &str, service: &TestService, env: &[(&str, String)]) -> Value {
    scenario_as(name, name, service, env).await
}

/// [`scenario`], its screenshots under `target/console-screenshots/<run>/`.
async fn scenario_as(
    name: &str,
    run: &str,
    service: &TestService,
    env: &[(&str, String)],
) -> Value {
    let screenshots = target_dir().join("console-screenshots").join(run);
    let _ = std::fs::remove_dir_all(&screenshots);
    std::fs::create_dir_all(&screenshots).unwrap();
    let mut command = Command::new("node");
    command
        .arg(
            repo_root()
                .join("tests/browser")
                .join(format!("{name}.mjs")),
        )
        .current_dir(repo_root().join("tests/browser"))
        .env("EXPORTER_URL", &service.url)
        .env("SCREENSHOT_DIR", &screenshots);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output().expect("node runs"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scenario {name} failed ({}); screenshots in {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status,
        screenshots.display()
    );
    let png = std::fs::read_dir(&screenshots)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count();
    assert!(png > 0, "scenario {name} saved no screenshot");
    let last = stdout
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("scenario {name} printed no JSON result:\n{stdout}"));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{name}: {e}: {last}"))
}

async fn demo_service() -> TestService {
    TestService::start_with(300, |config| config.demo = true).await
}

/// Installs a test plugin through the API; returns its version's JSON.
async fn install(service: &TestService, token: &str, name: &str, file: &str) -> Value {
    let wasm = std::fs::read(test_plugin_path(file)).unwrap();
    let response = service
        .put(token, &format!("/api/admin/formatters/{name}"))
        .header("Content-Type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "installing {file}: {status} {body}");
    body
}

async fn activate(service: &TestService, token: &str, name: &str, version: &str) {
    let response = service
        .post(token, &format!("/api/admin/formatters/{name}/activate"))
        .json(&json!({"version": version}))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_exports_two_columns_watches_it_complete_and_downloads_it() {
    let service = demo_service().await;
    let result = scenario("manager-export", &service, &[]).await;
    let file = PathBuf::from(result["download"].as_str().expect("download path"));
    let columns: Vec<String> = result["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(columns.len(), 2, "{result}");
    let id = result["jobId"].as_str().expect("job id");

    let manager = service.token(MANAGER).await;
    let job = service.job(&manager, id).await;
    assert_eq!(job["status"], "Completed", "{job}");
    assert_eq!(job["format"], "csv");
    assert_eq!(job["dataType"], "sessions");
    assert_eq!(job["columns"], json!(columns));
    assert_eq!(
        job["dateRange"],
        json!({"from": "2026-01-01", "to": "2026-01-31"})
    );
    // The file the browser saved is the job's, row for row.
    let bytes = std::fs::read(&file).unwrap();
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, columns);
    let rows = reader
        .records()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .len();
    assert!(rows > 0);
    assert_eq!(json!(rows), job["file"]["rows"], "{job}");
    let (_, _, api_bytes) = service
        .export_and_download(
            &manager,
            json!({"dataType": "sessions", "format": "csv", "columns": columns,
                   "dateRange": {"from": "2026-01-01", "to": "2026-01-31"}}),
        )
        .await;
    assert_eq!(bytes, api_bytes, "the same request through the API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_export_form_and_the_list_work_at_a_phones_width() {
    let service = demo_service().await;
    // The scenario fails if any page it visits is wider than the screen.
    let result = scenario_as(
        "manager-export",
        "manager-export-phone",
        &service,
        &[("VIEWPORT", "375x812".into())],
    )
    .await;
    let manager = service.token(MANAGER).await;
    let job = service
        .job(&manager, result["jobId"].as_str().expect("job id"))
        .await;
    assert_eq!(job["status"], "Completed", "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apis_refusal_shows_beside_the_field_it_concerns() {
    let service = demo_service().await;
    let result = scenario("form-errors", &service, &[]).await;
    assert!(
        result["dateError"]
            .as_str()
            .is_some_and(|e| e.contains("ends before it starts")),
        "{result}"
    );
    // The refused request created nothing; the corrected one did.
    let manager = service.token(MANAGER).await;
    let jobs = service.get_json(&manager, "/api/export-jobs").await;
    let jobs = jobs["items"].as_array().expect("a page of jobs");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        jobs[0]["dateRange"],
        json!({"from": "2026-02-01", "to": "2026-02-28"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_sees_no_admin_page_and_no_one_elses_jobs() {
    let service = demo_service().await;
    let manager = service.token(MANAGER).await;
    let job = service
        .create(
            &manager,
            json!({"dataType": "sessions", "format": "csv",
                   "dateRange": {"from": "2026-01-01", "to": "2026-01-31"}}),
        )
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    scenario("member-scope", &service, &[("FOREIGN_JOB_ID", id)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superadmin_uploads_activates_canaries_and_rolls_back_a_plugin() {
    let service = demo_service().await;
    let superadmin = service.token(SUPER).await;
    // stamp 1.0.0 serves everyone; the browser uploads 2.0.0.
    install(&service, &superadmin, "stamp", "stamp").await;
    activate(&service, &superadmin, "stamp", "1.0.0").await;
    // The canary goes to globex, named by its id.
    let globex = service.token("admin@globex.test").await;
    let organization = service.get_json(&globex, "/api/organization").await;
    let globex_id = organization["id"]
        .as_str()
        .expect("organization id")
        .to_owned();

    let result = scenario(
        "superadmin-plugins",
        &service,
        &[
            (
                "PLUGIN_WASM",
                test_plugin_path("stamp-v2").display().to_string(),
            ),
            ("PLUGIN_NAME", "stamp".into()),
            ("CANARY_VERSION", "1.0.0".into()),
            ("CANARY_ORG", globex_id.clone()),
        ],
    )
    .await;
    assert_eq!(result["installed"]["version"], "2.0.0", "{result}");
    assert_eq!(result["activeAfterRollback"], "1.0.0", "{result}");
    assert_eq!(
        result["canary"]["organization"],
        globex_id.as_str(),
        "{result}"
    );
    // What the clicks did, as the API sees it.
    let versions = service.get_json(&superadmin, "/api/admin/formatters").await;
    let text = versions.to_string();
    let stamp: Vec<&Value> = versions
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["name"] == "stamp")
        .collect();
    let uploaded = stamp
        .iter()
        .find(|v| v["version"] == "2.0.0")
        .unwrap_or_else(|| panic!("2.0.0 was uploaded: {text}"));
    assert_eq!(uploaded["status"], "Ready", "{text}");
    let first = stamp.iter().find(|v| v["version"] == "1.0.0").unwrap();
    assert_eq!(
        uploaded["installedBy"], first["installedBy"],
        "uploaded by the SuperAdmin, as 1.0.0 was through the API: {text}"
    );
    assert!(
        uploaded["report"].is_object() || uploaded["report"].is_array(),
        "{text}"
    );
    let active: Vec<&str> = stamp
        .iter()
        .filter(|v| v["active"] == true)
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(active, ["1.0.0"], "rolled back to 1.0.0: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_re_driven_from_the_queue_page_and_completes() {
    let service = TestService::start_with(300, |config| {
        config.demo = true;
        config.retry.base = Duration::from_millis(200);
        config.retry.max = Duration::from_millis(400);
        config.retry.max_attempts = 3;
    })
    .await;
    let superadmin = service.token(SUPER).await;
    let manager = service.token(MANAGER).await;
    // A file where the exports directory should be: every upload fails
    // until it is removed.
    std::fs::create_dir_all(&service.blobs_dir).unwrap();
    let blocker = service.blobs_dir.join("exports");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let job = service
        .create(&manager, json!({"dataType": "users", "format": "csv"}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let failed = service.wait_for(&manager, &id, "Failed").await;
    assert_eq!(failed["deadLettered"], true, "{failed}");
    std::fs::remove_file(&blocker).unwrap();

    scenario("redrive", &service, &[("DEAD_JOB_ID", id.clone())]).await;
    let done = service.wait(&superadmin, &id).await;
    assert_eq!(done["status"], "Completed", "{done}");
    assert_eq!(done["errorHistory"].as_array().unwrap().len(), 3, "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_plugin_description_and_a_job_error_renders_as_text() {
    let service = demo_service().await;
    let superadmin = service.token(SUPER).await;
    install(&service, &superadmin, "stamp", "stamp-html").await;
    activate(&service, &superadmin, "stamp", "4.0.0").await;
    let job = service
        .create(&superadmin, json!({"dataType": "users", "format": "stamp"}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let failed = service.wait(&superadmin, &id).await;
    assert_eq!(failed["status"], "Failed", "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("<script>"),
        "{failed}"
    );
    scenario(
        "escaping",
        &service,
        &[("HTML_PLUGIN_NAME", "stamp".into()), ("HTML_JOB_ID", id)],
    )
    .await;
}

/// The test's OpenID Connect provider (`tests/oidc/provider.mjs`): stopped
/// when dropped, whatever the test did.
struct Provider(Child);

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_with_an_openid_connect_provider_and_a_refused_unknown_email() {
    // The provider must know the service's callback before the service
    // starts, and the service its issuer: the service's port is chosen
    // first.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let accounts = json!([
        {"login": "manager", "email": MANAGER, "email_verified": true},
        {"login": "stranger", "email": "stranger@nowhere.test", "email_verified": true},
    ]);
    let mut child = Command::new("node")
        .arg(repo_root().join("tests/oidc/provider.mjs"))
        .current_dir(repo_root().join("tests/oidc"))
        .env("OIDC_PORT", "0")
        .env("OIDC_CLIENT_ID", "exporter-console")
        .env(
            "OIDC_REDIRECT_URI",
            format!("http://127.0.0.1:{port}/api/session/oidc/callback"),
        )
        .env("OIDC_ACCOUNTS", accounts.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs the provider");
    let stdout = child.stdout.take().unwrap();
    let provider = Provider(child);
    let first = tokio::task::spawn_blocking(move || {
        use std::io::BufRead as _;
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        line
    })
    .await
    .unwrap();
    let issuer = serde_json::from_str::<Value>(&first)
        .unwrap_or_else(|e| panic!("the provider's first line {first:?}: {e}"))["issuer"]
        .as_str()
        .unwrap()
        .to_owned();

    let service = TestService::start_with(300, |config| {
        config.server.listen = format!("127.0.0.1:{port}").parse().unwrap();
        config.auth.oidc = Some(exporter::config::OidcConfig {
            issuer: issuer.clone(),
            client_id: "exporter-console".into(),
            client_secret: None,
        });
    })
    .await;
    let options = service.get_public_json("/api/session/options").await;
    assert_eq!(options["oidc"]["issuer"], issuer.as_str(), "{options}");

    let result = scenario(
        "oidc",
        &service,
        &[
            ("OIDC_LOGIN", "manager".into()),
            ("OIDC_UNKNOWN_LOGIN", "stranger".into()),
        ],
    )
    .await;
    assert!(
        result.to_string().contains("stranger@nowhere.test"),
        "the refusal names the unknown email: {result}"
    );
    drop(provider);
}
