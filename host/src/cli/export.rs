//! `exporter export`: a client of the API. Checks `--out`, creates a job,
//! follows its progress, downloads the file and checks its sha256.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::client::{ConnectionArgs, network_error, print_out, warning_lines};
use super::data::runtime;
use super::jobs::download_job;
use super::out::{OutKind, check_out};
use super::parse_option;
use exporter_export::compress::Compression;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// sessions, users or analytics (`exporter datasets` lists them).
    #[arg(long)]
    data_type: String,
    /// csv, json, ndjson, ... (`exporter formats` lists them).
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
    let client = args.connection.client()?;
    let in_parts = args.part_max_rows.is_some() || args.part_max_bytes.is_some();
    // Before the job exists: a bad --out found after minutes of exporting
    // wastes the export.
    check_out(
        &args.out,
        if in_parts {
            OutKind::Directory
        } else {
            OutKind::File
        },
    )?;
    let body = request_body(&args);

    // One key for every try: a create retried after a network error
    // returns the job the first try made.
    let key = ulid::Ulid::generate().to_string();
    let mut tries = 0;
    let job: Value = loop {
        tries += 1;
        let sent = client
            .post("/api/export-jobs")
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let response = client.checked(response).await?;
                break response
                    .json()
                    .await
                    .map_err(|e| network_error(client.base(), &e))?;
            }
            // A refused connection is not a hiccup: nothing listens there.
            Err(e) if tries < 3 && e.is_timeout() => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(network_error(client.base(), &e)),
        }
    };
    let id = job["id"]
        .as_str()
        .context("the server returned a job without an id")?
        .to_owned();
    eprintln!("job {id} created");

    let again = |e: anyhow::Error, what: &str| {
        anyhow::anyhow!(
            "{e:#}; job {id} {what}: follow it with `exporter jobs get {id}`, fetch its file with `exporter jobs download {id} --out {}`",
            args.out.display()
        )
    };
    let job = match follow(&client, &id).await {
        Ok(Ok(job)) => job,
        Ok(Err(ended)) => anyhow::bail!("{ended}"),
        Err(e) => return Err(again(e, "was created and may still run")),
    };
    let summary = download_job(&client, &job, &args.out)
        .await
        .map_err(|e| again(e, "completed"))?;
    let mut text = format!("{summary}\n");
    for line in warning_lines(&job) {
        text.push_str(&line);
        text.push('\n');
    }
    print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Polls the job until it ends, with a progress bar that shows a spinner
/// until the total is known and then the rows written of it. The inner
/// error is the job's own end (failed, cancelled), the outer one the
/// network's.
async fn follow(
    client: &super::client::ApiClient,
    id: &str,
) -> anyhow::Result<Result<Value, String>> {
    let bar = ProgressBar::no_length();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:12} {pos} rows").expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut counted = false;
    let job = loop {
        let job = match super::jobs::fetch(client, id).await {
            Ok(job) => job,
            Err(e) => {
                bar.abandon();
                return Err(e);
            }
        };
        let status = job["status"].as_str().unwrap_or_default().to_owned();
        let progress = &job["progress"];
        if let (false, Some(total)) = (counted, progress["totalRows"].as_u64()) {
            counted = true;
            bar.set_length(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg:12} [{bar:30}] {pos}/{len} rows ({percent}%)",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
        }
        bar.set_position(progress["rowsWritten"].as_u64().unwrap_or(0));
        bar.set_message(status.clone());
        match status.as_str() {
            "Pending" | "Processing" => tokio::time::sleep(Duration::from_millis(250)).await,
            "Completed" => break job,
            _ => {
                bar.abandon();
                let error = job["error"].as_str().unwrap_or("no reason given");
                return Ok(Err(format!("job {id} ended {status}: {error}")));
            }
        }
    };
    bar.finish_and_clear();
    Ok(Ok(job))
}

/// The create request's JSON.
fn request_body(args: &ExportArgs) -> Value {
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
    body
}
