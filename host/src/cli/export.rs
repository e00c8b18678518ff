//! `exporter export`: a client of the API. Creates a job, follows its
//! progress, downloads the file and checks its sha256.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::data::runtime;
use super::{human_bytes, parse_option};
use exporter_export::compress::Compression;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The API's base URL.
    #[arg(long, env = "EXPORTER_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A bearer token (`exporter token --user EMAIL`).
    #[arg(long, env = "EXPORTER_TOKEN", hide_env_values = true)]
    token: String,
    /// sessions, users or analytics.
    #[arg(long)]
    data_type: String,
    /// csv, json, ndjson, ... (see GET /api/formats).
    #[arg(long)]
    format: String,
    /// First day, YYYY-MM-DD.
    #[arg(long)]
    from: Option<String>,
    /// Last day, YYYY-MM-DD, inclusive.
    #[arg(long)]
    to: Option<String>,
    #[arg(long)]
    user_id: Option<String>,
    /// SuperAdmins only.
    #[arg(long)]
    organization_id: Option<String>,
    /// A column to export, in order; repeat.
    #[arg(long = "column")]
    columns: Vec<String>,
    /// A format option, key=value; repeat.
    #[arg(long = "option", short = 'O', value_parser = parse_option)]
    options: Vec<(String, String)>,
    /// Compress the file on the server: gzip or zstd (the file you get is
    /// the compressed one).
    #[arg(long, value_enum)]
    compression: Option<Compression>,
    /// POST the job's JSON here, signed, when it finishes.
    #[arg(long)]
    callback_url: Option<String>,
    /// Write the export as several files of at most this many rows, plus
    /// a manifest; `--out` is then a directory.
    #[arg(long)]
    part_max_rows: Option<u64>,
    /// Write the export as several files of about this many bytes (at
    /// least 1 MiB), plus a manifest; `--out` is then a directory.
    #[arg(long)]
    part_max_bytes: Option<u64>,
    /// Where to write the file (a directory, for an export in parts).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(export(args))
}

async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let base = args.url.trim_end_matches('/').to_owned();
    let auth = format!("Bearer {}", args.token);

    let mut body = json!({ "dataType": args.data_type, "format": args.format });
    if args.from.is_some() || args.to.is_some() {
        body["dateRange"] = json!({ "from": args.from, "to": args.to });
    }
    let mut filters = serde_json::Map::new();
    if let Some(user) = &args.user_id {
        filters.insert("userId".into(), json!(user));
    }
    if let Some(org) = &args.organization_id {
        filters.insert("organizationId".into(), json!(org));
    }
    if !filters.is_empty() {
        body["filters"] = Value::Object(filters);
    }
    if !args.columns.is_empty() {
        body["columns"] = json!(args.columns);
    }
    if let Some(compression) = args.compression {
        body["compression"] = json!(compression.as_str());
    }
    if let Some(url) = &args.callback_url {
        body["callbackUrl"] = json!(url);
    }
    if let Some(rows) = args.part_max_rows {
        body["partMaxRows"] = json!(rows);
    }
    if let Some(bytes) = args.part_max_bytes {
        body["partMaxBytes"] = json!(bytes);
    }
    if !args.options.is_empty() {
        body["options"] = Value::Object(
            args.options
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect(),
        );
    }

    // One key for every try: a create retried after a network error
    // returns the job the first try made.
    let key = ulid::Ulid::generate().to_string();
    let mut tries = 0;
    let job: Value = loop {
        tries += 1;
        let sent = client
            .post(format!("{base}/api/export-jobs"))
            .header("Authorization", &auth)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(response) => break checked(response).await?.json().await?,
            Err(e) if tries < 3 && (e.is_connect() || e.is_timeout()) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("reaching {base}")),
        }
    };
    let id = job["id"]
        .as_str()
        .context("the server returned a job without an id")?
        .to_owned();
    eprintln!("Job {id} created.");

    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:12} [{bar:30}] {pos}/{len} rows ({percent}%)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let job = loop {
        let job: Value = checked(
            client
                .get(format!("{base}/api/export-jobs/{id}"))
                .header("Authorization", &auth)
                .send()
                .await
                .with_context(|| format!("polling {base}"))?,
        )
        .await?
        .json()
        .await?;
        let status = job["status"].as_str().unwrap_or_default().to_owned();
        let progress = &job["progress"];
        if let Some(total) = progress["totalRows"].as_u64() {
            bar.set_length(total);
        }
        bar.set_position(progress["rowsWritten"].as_u64().unwrap_or(0));
        bar.set_message(status.clone());
        match status.as_str() {
            "Pending" | "Processing" => tokio::time::sleep(Duration::from_millis(250)).await,
            "Completed" => break job,
            _ => {
                bar.abandon();
                let error = job["error"].as_str().unwrap_or("no reason given");
                anyhow::bail!("the export ended {status}: {error}");
            }
        }
    };
    bar.finish_and_clear();

    let expected = job["file"]["sha256"]
        .as_str()
        .context("the job has no file checksum")?
        .to_owned();
    let size = job["file"]["size"].as_u64().unwrap_or(0);
    if args.part_max_rows.is_some() || args.part_max_bytes.is_some() {
        return download_parts(&client, &base, &auth, &id, &job, &args.out).await;
    }
    let url = format!("{base}/api/export-jobs/{id}/download");
    let written = download(&client, &url, &auth, &args.out, &expected, size).await?;
    println!(
        "{}: {} rows, {}, sha256 {expected} verified",
        args.out.display(),
        job["file"]["rows"].as_u64().unwrap_or(0),
        human_bytes(written)
    );
    Ok(ExitCode::SUCCESS)
}

/// Downloads the manifest and every part it lists into the directory
/// `out`, each checked against its sha256.
async fn download_parts(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    id: &str,
    job: &Value,
    out: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let name = job["file"]["name"].as_str().unwrap_or("manifest.json");
    let manifest_path = out.join(name);
    let url = format!("{base}/api/export-jobs/{id}/download");
    let expected = job["file"]["sha256"].as_str().unwrap_or_default();
    let size = job["file"]["size"].as_u64().unwrap_or(0);
    download(client, &url, auth, &manifest_path, expected, size).await?;
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path)?)
        .context("the manifest is not JSON")?;
    let parts = manifest["parts"].as_array().cloned().unwrap_or_default();
    let mut bytes = 0;
    for part in &parts {
        let (Some(index), Some(name), Some(sha256)) = (
            part["index"].as_u64(),
            part["name"].as_str(),
            part["sha256"].as_str(),
        ) else {
            anyhow::bail!("the manifest lists a part without index, name or sha256: {part}");
        };
        anyhow::ensure!(
            !name.contains(['/', '\\']) && name != ".." && !name.is_empty(),
            "the manifest names a part {name:?}, which is not a file name"
        );
        let url = format!("{base}/api/export-jobs/{id}/parts/{index}");
        let size = part["bytes"].as_u64().unwrap_or(0);
        bytes += download(client, &url, auth, &out.join(name), sha256, size).await?;
    }
    println!(
        "{}: {} parts, {} rows, {}, every sha256 verified against {name}",
        out.display(),
        parts.len(),
        manifest["totalRows"].as_u64().unwrap_or(0),
        human_bytes(bytes)
    );
    Ok(ExitCode::SUCCESS)
}

/// Streams `url` into `path` (whole or not at all), checking its sha256.
async fn download(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    path: &std::path::Path,
    expected: &str,
    size: u64,
) -> anyhow::Result<u64> {
    let response = checked(
        client
            .get(url)
            .header("Authorization", auth)
            .send()
            .await
            .with_context(|| format!("downloading {url}"))?,
    )
    .await?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut temp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "downloading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.context("the download was interrupted")?;
        hasher.update(&chunk);
        temp.write_all(&chunk)?;
        written += chunk.len() as u64;
        bar.set_position(written);
    }
    bar.finish_and_clear();
    let actual = hex::encode(hasher.finalize());
    anyhow::ensure!(
        actual == expected,
        "{} is corrupt: sha256 {actual}, the server says {expected}",
        path.display()
    );
    temp.as_file().sync_all()?;
    temp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(written)
}

/// The response, or an error carrying the server's problem detail.
async fn checked(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|p| p["detail"].as_str().map(str::to_owned))
        .unwrap_or(text);
    anyhow::bail!("the server answered {status}: {detail}")
}
