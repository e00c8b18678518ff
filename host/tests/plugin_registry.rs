//! The plugin registry from the command line and across processes:
//! `exporter plugin install | list | activate | delete`, and two `exporter
//! serve` processes on one database both switching within a second of an
//! activation.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use exporter_tests::process::{self, command, run, serve, stop};
use exporter_tests::target_dir;

fn test_plugin(name: &str) -> PathBuf {
    let path = target_dir()
        .join("test-plugins")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask plugins`",
        path.display()
    );
    path
}

fn cli(data_dir: &Path) -> Command {
    command(data_dir)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn succeeds(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

fn list_json(dir: &Path) -> Vec<serde_json::Value> {
    let out = succeeds(run(cli(dir).args(["plugin", "list", "--json"])));
    serde_json::from_str(&out).unwrap()
}

fn active_version(versions: &[serde_json::Value], name: &str) -> Option<String> {
    versions
        .iter()
        .find(|v| v["name"] == name && v["active"] == true)
        .map(|v| v["version"].as_str().unwrap().to_owned())
}

#[test]
fn install_activate_roll_back_and_delete_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    let out = succeeds(run(cli(dir)
        .args(["plugin", "install"])
        .arg(test_plugin("stamp"))));
    assert!(out.contains("installed: stamp 1.0.0"), "{out}");
    assert!(out.contains("active for everyone"), "{out}");
    let out = succeeds(run(cli(dir)
        .args(["plugin", "install", "--no-activate"])
        .arg(test_plugin("stamp-v2"))));
    assert!(out.contains("installed: stamp 2.0.0"), "{out}");
    assert!(!out.contains("active"), "{out}");
    assert_eq!(
        active_version(&list_json(dir), "stamp").as_deref(),
        Some("1.0.0")
    );

    let out = succeeds(run(cli(dir).args(["plugin", "activate", "stamp", "2.0.0"])));
    assert!(out.contains("stamp 2.0.0"), "{out}");
    assert_eq!(
        active_version(&list_json(dir), "stamp").as_deref(),
        Some("2.0.0")
    );
    // Rollback.
    succeeds(run(cli(dir).args(["plugin", "activate", "stamp", "1.0.0"])));
    assert_eq!(
        active_version(&list_json(dir), "stamp").as_deref(),
        Some("1.0.0")
    );

    let table = succeeds(run(cli(dir).args(["plugin", "list"])));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("stamp") && l.contains("1.0.0") && l.contains("everyone")),
        "{table}"
    );

    // The active version stays; the other goes.
    let refused = run(cli(dir).args(["plugin", "delete", "stamp", "1.0.0"]));
    assert!(!refused.status.success());
    // One line after the one that says which data directory it used.
    let lines: Vec<String> = stderr(&refused).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("using data directory"), "{lines:?}");
    assert!(
        lines[1].starts_with("error: stamp 1.0.0 is active for everyone"),
        "{lines:?}"
    );
    succeeds(run(cli(dir).args(["plugin", "delete", "stamp", "2.0.0"])));
    assert!(!list_json(dir).iter().any(|v| v["version"] == "2.0.0"));

    // A refused install: non-zero, the failed step named.
    let refused = run(cli(dir)
        .args(["plugin", "install"])
        .arg(test_plugin("naive-csv")));
    assert!(!refused.status.success());
    let message = stderr(&refused);
    // After the line that says which data directory it used.
    let (first, message) = message.split_once('\n').unwrap();
    assert!(first.starts_with("using data directory"), "{first}");
    assert!(message.starts_with("error: naive-csv"), "{message}");
    assert!(message.contains("FAIL conformance kit"), "{message}");
    let versions = list_json(dir);
    let naive = versions.iter().find(|v| v["name"] == "naive-csv").unwrap();
    assert_eq!(naive["status"], "Refused");
    assert_eq!(naive["active"], false);

    // A missing file: one line.
    let missing = run(cli(dir).args(["plugin", "install", "/no/such/plugin.wasm"]));
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).starts_with("error: reading /no/such/plugin.wasm"),
        "{}",
        stderr(&missing)
    );
}

async fn stamp_version(client: &reqwest::Client, url: &str, token: &str) -> Option<String> {
    let formats: Vec<serde_json::Value> = client
        .get(format!("{url}/api/formats"))
        .bearer_auth(token)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    formats
        .iter()
        .find(|f| f["name"] == "stamp")
        .map(|f| f["version"].as_str().unwrap().to_owned())
}

/// Polls both services until each serves `version`; returns how long the
/// slower one took.
async fn both_switch(
    client: &reqwest::Client,
    urls: &[String],
    token: &str,
    version: &str,
) -> Duration {
    let started = Instant::now();
    let mut pending: Vec<&String> = urls.iter().collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for url in pending {
            if stamp_version(client, url, token).await.as_deref() != Some(version) {
                still.push(url);
            }
        }
        pending = still;
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{pending:?} never switched to {version}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[test]
fn two_services_on_one_database_switch_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (first, first_url, _) = serve(dir);
    let (second, second_url, _) = serve(dir);
    let urls = vec![first_url.clone(), second_url];
    let token = succeeds(run(cli(dir).args([
        "token",
        "--user",
        "super@exporter.test",
        "--ttl",
        "10m",
    ])))
    .trim()
    .to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();

    // Installed by a third process, the CLI.
    succeeds(run(cli(dir)
        .args(["plugin", "install"])
        .arg(test_plugin("stamp"))));
    let took = runtime.block_on(both_switch(&client, &urls, &token, "1.0.0"));
    assert!(
        took < Duration::from_secs(1),
        "install reached both services in {took:?}"
    );

    // Installed and activated through the first service's API.
    let response = runtime.block_on(async {
        client
            .put(format!("{first_url}/api/admin/formatters/stamp"))
            .bearer_auth(&token)
            .body(std::fs::read(test_plugin("stamp-v2")).unwrap())
            .send()
            .await
            .unwrap()
    });
    assert_eq!(response.status(), 201);
    let took = runtime.block_on(both_switch(&client, &urls, &token, "2.0.0"));
    assert!(
        took < Duration::from_secs(1),
        "activation reached both services in {took:?}"
    );
    for version in ["1.0.0", "2.0.0"] {
        let response = runtime.block_on(async {
            client
                .post(format!("{first_url}/api/admin/formatters/stamp/activate"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"version": version}))
                .send()
                .await
                .unwrap()
        });
        assert_eq!(response.status(), 200);
        let took = runtime.block_on(both_switch(&client, &urls, &token, version));
        assert!(
            took < Duration::from_secs(1),
            "switching to {version} took {took:?}"
        );
    }
    stop(first);
    stop(second);
}

/// Escape 4 against a real `exporter serve`: installing a plugin that
/// writes 1 GiB per export is refused with 422 and its report, the
/// server's resident memory (read from `/proc/<pid>/status` while it
/// validates) stays bounded, and an export of another format completes
/// meanwhile.
#[test]
fn a_flooding_plugin_is_refused_by_a_real_server_that_stays_small_and_keeps_exporting() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (server, url, _) = serve(dir);
    let pid = server.id();
    let token = succeeds(run(cli(dir).args([
        "token",
        "--user",
        "super@exporter.test",
        "--ttl",
        "10m",
    ])))
    .trim()
    .to_owned();
    let rss = |key: &str| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    };
    let before = rss("VmRSS:");
    // Sampled every 10 ms while the server validates and exports.
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                if let Some(kib) = status
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    peak = peak.max(kib * 1024);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let (response, job) = runtime.block_on(async {
        let install = client
            .put(format!("{url}/api/admin/formatters/kit-hostile"))
            .bearer_auth(&token)
            .body(std::fs::read(test_plugin("kit-hostile-flood")).unwrap())
            .send();
        let watch = async {
            let exporter = process::Client {
                http: client.clone(),
                url: url.clone(),
                token: token.clone(),
            };
            let id = exporter
                .create(serde_json::json!({"dataType": "users", "format": "csv"}))
                .await;
            exporter
                .wait(&id, Duration::from_secs(60), process::ended)
                .await
        };
        let (response, job) = tokio::join!(install, watch);
        (response.unwrap(), job)
    });
    let took = started.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    let status = response.status();
    let body: serde_json::Value = runtime.block_on(response.json()).unwrap();
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("its output exceeded the limit of 67108864 bytes"),
        "{detail}"
    );
    assert_eq!(job["status"], "Completed", "{job}");
    println!(
        "refused in {:.1} s; server RSS {} MiB before, at most {} MiB while validating",
        took.as_secs_f64(),
        before >> 20,
        peak >> 20
    );
    assert!(
        peak < before + (256 << 20),
        "the server grew from {} to {} MiB",
        before >> 20,
        peak >> 20
    );
    stop(server);
}
