//! The real service for API tests: SQLite file, local blob store and the
//! built plugins in a temporary directory, listening on port 0, seeded with
//! the demo data. With `EXPORTER_TEST_DATABASE=postgres` the database (and
//! so the job queue) is a scratch PostgreSQL database instead: the same
//! tests run on both engines.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use exporter::auth::{TokenKeys, find_user};
use exporter::config::{Config, Secret};
use exporter::service::{RunningService, open_database, start};
use exporter::source::demo;
use serde_json::Value;

pub const SECRET: &str = "test-secret-not-for-production";

pub struct TestService {
    pub url: String,
    pub client: reqwest::Client,
    pub config: Config,
    pub blobs_dir: PathBuf,
    service: Option<RunningService>,
    _dir: tempfile::TempDir,
    /// Dropped after the service (fields drop in order).
    _postgres: Option<crate::databases::ScratchPostgres>,
}

/// Whether the tests run on PostgreSQL (`EXPORTER_TEST_DATABASE=postgres`)
/// rather than SQLite.
pub fn on_postgres() -> bool {
    std::env::var("EXPORTER_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

impl TestService {
    /// Seeded with the default demo size.
    pub async fn start() -> Self {
        Self::start_with(300, |_| {}).await
    }

    /// `rows` demo sessions; `adjust` changes the configuration first.
    pub async fn start_with(rows: u64, adjust: impl FnOnce(&mut Config)) -> Self {
        crate::init_tracing();
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs_dir = dir.path().join("blobs");
        let postgres = match on_postgres() {
            true => Some(crate::databases::ScratchPostgres::create().await),
            false => None,
        };
        let database_url = match &postgres {
            Some(scratch) => scratch.url.clone(),
            None => format!("sqlite://{}", dir.path().join("exporter.db").display()),
        };
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.database.url = database_url;
        config.blob.url = format!("file://{}", blobs_dir.display());
        config.server.listen = "127.0.0.1:0".parse().expect("address");
        config.auth.jwt_secret = Some(Secret::new(SECRET));
        config.registry.plugins_dir = crate::target_dir().join("plugins");
        // The built-ins' conformance is tested on its own (formats.rs,
        // xlsx.rs, pdf.rs); every service re-checking them would only
        // compete with the test for the CPU.
        config.registry.check_builtins = false;
        // Validation re-executes the service's binary; here that is the
        // test harness, so point it at the real one.
        config.registry.validation.validator = Some(crate::exporter_binary());
        adjust(&mut config);
        let db = open_database(&config).await.expect("database");
        demo::seed(&db, rows).await.expect("demo data");
        db.close().await;
        let service = start(config.clone()).await.expect("service starts");
        Self {
            url: service.public_url.clone(),
            client: reqwest::Client::new(),
            config,
            blobs_dir,
            service: Some(service),
            _dir: dir,
            _postgres: postgres,
        }
    }

    /// A bearer token for a demo account.
    pub async fn token(&self, email: &str) -> String {
        let db = open_database(&self.config).await.expect("database");
        let caller = find_user(&db, email).await.expect("demo user");
        db.close().await;
        TokenKeys::from_secret(&Secret::new(SECRET))
            .issue(&caller, Some(email), Duration::from_secs(3600))
            .expect("token")
    }

    pub fn get(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
    }

    pub fn post(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
    }

    pub fn put(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .put(format!("{}{path}", self.url))
            .bearer_auth(token)
    }

    pub fn delete(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .delete(format!("{}{path}", self.url))
            .bearer_auth(token)
    }

    /// Creates a job and returns its JSON (asserting 202).
    pub async fn create(&self, token: &str, body: Value) -> Value {
        let response = self
            .post(token, "/api/export-jobs")
            .json(&body)
            .send()
            .await
            .expect("create");
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, 202, "create {body}: {text}");
        serde_json::from_str(&text).expect("job JSON")
    }

    /// `GET path` with no credentials, as JSON, whatever the status.
    pub async fn get_public_json(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON")
    }

    /// `GET path` as JSON, whatever the status.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        self.get(token, path)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON")
    }

    /// Creates a job, waits for it to complete and downloads its file: the
    /// job, the download's headers and its bytes.
    pub async fn export_and_download(
        &self,
        token: &str,
        body: Value,
    ) -> (Value, reqwest::header::HeaderMap, Vec<u8>) {
        let created = self.create(token, body).await;
        let id = created["id"].as_str().expect("job id");
        let job = self.wait(token, id).await;
        assert_eq!(job["status"], "Completed", "{job}");
        let response = self
            .get(token, &format!("/api/export-jobs/{id}/download"))
            .send()
            .await
            .expect("download");
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        (job, headers, response.bytes().await.expect("file").to_vec())
    }

    /// `GET /api/export-jobs/{id}`.
    pub async fn job(&self, token: &str, id: &str) -> Value {
        self.get(token, &format!("/api/export-jobs/{id}"))
            .send()
            .await
            .expect("poll")
            .json()
            .await
            .expect("job JSON")
    }

    /// Polls a job until it is no longer Pending or Processing.
    pub async fn wait(&self, token: &str, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let job = self.job(token, id).await;
            match job["status"].as_str() {
                Some("Pending" | "Processing") => {
                    assert!(Instant::now() < deadline, "job {id} did not finish: {job}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => return job,
            }
        }
    }

    /// Polls a job until `status` (or fails after 30 s).
    pub async fn wait_for(&self, token: &str, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job = self.job(token, id).await;
            if job["status"] == status {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} never became {status}: {job}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Export files under the blob directory (relative paths), staging
    /// files included. Plugin components, which the registry keeps in the
    /// same store under `plugins/`, are not exports.
    pub fn blob_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.blobs_dir.join("exports")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.push(
                        path.strip_prefix(&self.blobs_dir)
                            .unwrap()
                            .display()
                            .to_string(),
                    );
                }
            }
        }
        out.sort();
        out
    }

    /// The running service's shared state: its registry, engine, settings.
    pub fn state(&self) -> &exporter::api::AppState {
        &self.service.as_ref().expect("the service runs").state
    }

    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    /// Stops the service but keeps its data, for looking at afterwards.
    pub async fn shut_down(&mut self) {
        if let Some(service) = self.service.take() {
            service.shutdown().await.expect("clean shutdown");
        }
    }

    /// A job's record, read from the database directly.
    pub async fn record(&self, id: &str) -> exporter::jobs::JobRecord {
        let db = open_database(&self.config).await.expect("database");
        let job = exporter::jobs::JobRepo::new(db.clone())
            .get(id)
            .await
            .expect("query")
            .expect("the job exists");
        db.close().await;
        job
    }
}
