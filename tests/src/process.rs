//! Running the `exporter` binary as a newcomer or an operator would: real
//! processes (`serve`, `api`, `worker`, `cli`) on the embedded defaults in
//! a temporary directory, a client of their REST API, a graceful stop on
//! SIGTERM. For the host's own integration tests (`host/tests`), which
//! cargo builds the binary for.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::{exporter_binary, target_dir};

/// The binary with its own data directory, the built plugins, and none of
/// the caller's `EXPORTER_*` database, blob or secret settings.
pub fn command(data_dir: &Path) -> Command {
    let mut command = Command::new(exporter_binary());
    command
        .env("EXPORTER_PLUGINS_DIR", target_dir().join("plugins"))
        .env("EXPORTER_DATA_DIR", data_dir)
        // Install-time checks sized for tests; the built-ins' kit is
        // tested on its own rather than re-run by every process.
        .env("EXPORTER_PLUGIN_CHECK_ROWS", "20000")
        .env("EXPORTER_CHECK_BUILTINS", "false")
        .env_remove("EXPORTER_DATABASE_URL")
        .env_remove("EXPORTER_BLOB_URL")
        .env_remove("EXPORTER_JWT_SECRET")
        // The test harness's own switch, which the binary would read as an
        // unknown setting.
        .env_remove("EXPORTER_TEST_DATABASE");
    command
}

pub fn run(command: &mut Command) -> Output {
    command.output().expect("the exporter binary runs")
}

/// Starts `exporter serve --demo` on a free port; returns it, its URL and
/// what it printed before listening.
pub fn serve(data_dir: &Path) -> (Child, String, String) {
    let mut command = command(data_dir);
    command.args(["serve", "--demo", "--listen", "127.0.0.1:0"]);
    listening(command)
}

/// Starts a service `command` (`serve`, `api`, `worker`); returns it, its
/// URL and what it printed before listening.
pub fn listening(mut command: Command) -> (Child, String, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the service starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut before = String::new();
    let url = loop {
        let line = lines.next().expect("serve prints its address").unwrap();
        if let Some(url) = line.strip_prefix("Exporter is listening on ") {
            break url.trim().to_owned();
        }
        before.push_str(&line);
        before.push('\n');
        assert!(Instant::now() < deadline, "serve did not start");
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url, before)
}

pub fn stop(mut child: Child) {
    // SAFETY: sending SIGTERM to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
            return;
        }
        assert!(Instant::now() < deadline, "serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The REST API of a running service, as one user.
pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
}

impl Client {
    pub async fn create(&self, body: Value) -> String {
        let response = self
            .http
            .post(format!("{}/api/export-jobs", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let job: Value = response.json().await.unwrap();
        job["id"].as_str().unwrap().to_owned()
    }

    pub async fn job(&self, id: &str) -> Value {
        self.http
            .get(format!("{}/api/export-jobs/{id}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until `done` holds of the job (often [`ended`]).
    pub async fn wait(&self, id: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "timed out: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The job's file.
    pub async fn download(&self, id: &str) -> Vec<u8> {
        self.fetch(&format!("/api/export-jobs/{id}/download")).await
    }

    /// Part `number` (1-based) of an export in parts.
    pub async fn download_part(&self, id: &str, number: u64) -> Vec<u8> {
        self.fetch(&format!("/api/export-jobs/{id}/parts/{number}"))
            .await
    }

    async fn fetch(&self, path: &str) -> Vec<u8> {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.bytes().await.unwrap().to_vec()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a job has left Pending and Processing for good.
pub fn ended(job: &Value) -> bool {
    job["status"] != "Pending" && job["status"] != "Processing"
}
