//! Job service benchmark: pickup latency (POST to Processing) on the
//! embedded defaults, and `GET /api/export-jobs/{id}` throughput with wrk.
//!
//! Run: `cargo xtask plugins && cargo bench -p exporter --bench service`
//! (wrk from the distribution's packages for the throughput part).

use std::time::Duration;

use exporter::auth::{TokenKeys, find_user};
use exporter::config::{Config, Secret};
use exporter::service::{open_database, start};
use exporter::source::demo;
use serde_json::{Value, json};

const JOBS: usize = 60;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.database.url = format!("sqlite://{}", dir.path().join("exporter.db").display());
    config.blob.url = format!("file://{}", dir.path().join("blobs").display());
    config.server.listen = "127.0.0.1:0".parse()?;
    config.auth.jwt_secret = Some(Secret::new("bench"));
    // The steady state: a service runs the conformance kit on newly built
    // built-ins once, in the background after start-up, for minutes of one
    // core; measured meanwhile, wrk, the server and the kit share the two
    // cores (what the registry's arrival cost this benchmark).
    config.registry.check_builtins = false;
    let db = open_database(&config).await?;
    demo::seed(&db, 2_000).await?;
    let caller = find_user(&db, "admin@acme.test").await?;
    db.close().await;
    let token = TokenKeys::from_secret(&Secret::new("bench")).issue(
        &caller,
        None,
        Duration::from_secs(3600),
    )?;
    let service = start(config).await?;
    let url = service.public_url.clone();
    let client = reqwest::Client::new();

    // Pickup: the server's own timestamps (created_at -> started_at), one
    // job at a time on an idle worker, as a client would see it.
    let mut pickups = Vec::with_capacity(JOBS);
    let mut last_id = String::new();
    for _ in 0..JOBS {
        let job: Value = client
            .post(format!("{url}/api/export-jobs"))
            .bearer_auth(&token)
            .json(&json!({"dataType": "users", "format": "csv"}))
            .send()
            .await?
            .json()
            .await?;
        let id = job["id"].as_str().unwrap_or_default().to_owned();
        let done = loop {
            let job: Value = client
                .get(format!("{url}/api/export-jobs/{id}"))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            if job["status"] == "Completed" {
                break job;
            }
            anyhow::ensure!(job["status"] != "Failed", "job failed: {job}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let created =
            exporter::batch::time::parse_timestamp(done["createdAt"].as_str().unwrap_or_default());
        let started =
            exporter::batch::time::parse_timestamp(done["startedAt"].as_str().unwrap_or_default());
        if let (Some(created), Some(started)) = (created, started) {
            pickups.push((started - created) as f64 / 1000.0);
        }
        last_id = id;
    }
    pickups.sort_by(f64::total_cmp);
    let at = |q: f64| pickups[((pickups.len() - 1) as f64 * q).round() as usize];
    println!(
        "pickup latency (POST to Processing), {} jobs: median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        pickups.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    );

    // Throughput of the poll endpoint.
    let endpoint = format!("{url}/api/export-jobs/{last_id}");
    match std::process::Command::new("wrk")
        .args(["-t2", "-c32", "-d10s", "--latency", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(&endpoint)
        .output()
    {
        Ok(output) => {
            let text = String::from_utf8_lossy(&output.stdout);
            println!("GET /api/export-jobs/{{id}} with wrk -t2 -c32 -d10s:");
            for line in text.lines().filter(|l| {
                l.contains("Requests/sec")
                    || l.contains("99%")
                    || l.contains("50%")
                    || l.contains("requests in")
                    || l.contains("Non-2xx")
            }) {
                println!("  {}", line.trim());
            }
        }
        Err(_) => println!("wrk not found: skipping the throughput part (apt-get install wrk)"),
    }
    service.shutdown().await?;
    Ok(())
}
