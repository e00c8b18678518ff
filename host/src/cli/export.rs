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
    /// A dataset of the catalog (`exporter datasets` lists them).
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
    /// A condition on a filterable column, COLUMN:OP=VALUE with OP one of
    /// eq, in, gt, gte, lt, lte (`in` takes VALUE,VALUE,...); repeat.
    /// `exporter datasets` shows which columns take which.
    #[arg(long = "filter", value_parser = parse_filter)]
    filters: Vec<(String, String, String)>,
    /// Show instants in this IANA time zone (Europe/Paris) in spreadsheets,
    /// PDFs and CSV with `-O local-time=true`; default: the organization's.
    #[arg(long)]
    time_zone: Option<String>,
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

/// Follows the job until it ends, with a progress bar that shows a spinner
/// until the total is known and then the rows written of it. The job's
/// changes come from the API's event stream (`GET /api/export-jobs/events`,
/// the console's too): each arrives when it happens, with no polling. The
/// inner error is the job's own end (failed, cancelled), the outer one the
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
    let mut shown = Shown::default();
    let outcome = follow_events(client, id, |job| shown.update(&bar, job)).await;
    match &outcome {
        Ok(Ok(_)) => bar.finish_and_clear(),
        _ => bar.abandon(),
    }
    outcome
}

/// What the progress bar shows of a job.
#[derive(Default)]
struct Shown {
    counted: bool,
}

impl Shown {
    fn update(&mut self, bar: &ProgressBar, job: &Value) {
        let progress = &job["progress"];
        if let (false, Some(total)) = (self.counted, progress["totalRows"].as_u64()) {
            self.counted = true;
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
        bar.set_message(job["status"].as_str().unwrap_or_default().to_owned());
    }
}

/// Times in a row the stream may fail to open before the CLI gives up.
const STREAM_TRIES: u32 = 5;

/// Reads the job's events until it ends; reconnects after `Last-Event-ID`
/// when the stream drops, so no change is missed.
async fn follow_events(
    client: &super::client::ApiClient,
    id: &str,
    mut show: impl FnMut(&Value),
) -> anyhow::Result<Result<Value, String>> {
    use eventsource_stream::Eventsource as _;
    use futures::StreamExt as _;

    let ended = |job: &Value| -> Option<Result<Value, String>> {
        match job["status"].as_str().unwrap_or_default() {
            "Pending" | "Processing" => None,
            "Completed" => Some(Ok(job.clone())),
            status => Some(Err(format!(
                "job {id} ended {status}: {}",
                job["error"].as_str().unwrap_or("no reason given")
            ))),
        }
    };
    let path = format!("/api/export-jobs/events?jobId={id}");
    let mut last_event_id: Option<String> = None;
    let mut failures = 0;
    loop {
        let mut request = client.get(&path).header("Accept", "text/event-stream");
        if let Some(last) = &last_event_id {
            request = request.header("Last-Event-ID", last);
        }
        let response = match client.send(request).await {
            Ok(response) => response,
            Err(e) if failures + 1 < STREAM_TRIES => {
                failures += 1;
                tracing::debug!(
                    error = format!("{e:#}"),
                    "opening the event stream; retrying"
                );
                tokio::time::sleep(Duration::from_millis(500 * u64::from(failures))).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut events = response.bytes_stream().eventsource();
        while let Some(event) = events.next().await {
            let Ok(event) = event else { break };
            failures = 0;
            if !event.id.is_empty() {
                last_event_id = Some(event.id.clone());
            }
            let job = match event.event.as_str() {
                // Subscribed (or events were missed): read where the job
                // stands now; what changes from here comes as events.
                "ready" | "reset" => super::jobs::fetch(client, id).await?,
                "job" => serde_json::from_str(&event.data)
                    .context("the event stream sent a job that is not JSON")?,
                "job-removed" => return Ok(Err(format!("job {id} was deleted"))),
                _ => continue,
            };
            show(&job);
            if let Some(outcome) = ended(&job) {
                return Ok(outcome);
            }
        }
        // The stream ended (a restart, a proxy's timeout): resume after the
        // last event seen.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn parse_filter(text: &str) -> Result<(String, String, String), String> {
    let usage = || {
        format!(
            "{text:?} is not a filter; write COLUMN:OP=VALUE, e.g. status:eq=paid or total:gte=100"
        )
    };
    let (column, rest) = text.split_once(':').ok_or_else(usage)?;
    let (op, value) = rest.split_once('=').ok_or_else(usage)?;
    if column.is_empty() {
        return Err(usage());
    }
    if !["eq", "in", "gt", "gte", "lt", "lte"].contains(&op) {
        return Err(format!(
            "{op:?} is not a comparison; use eq, in, gt, gte, lt or lte"
        ));
    }
    Ok((column.to_owned(), op.to_owned(), value.to_owned()))
}

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
    let mut columns = serde_json::Map::new();
    for (column, op, value) in &args.filters {
        let value = match op.as_str() {
            "in" => json!(value.split(',').collect::<Vec<_>>()),
            _ => json!(value),
        };
        let conditions = columns
            .entry(column.clone())
            .or_insert_with(|| Value::Object(Default::default()));
        conditions[op.as_str()] = value;
    }
    if !columns.is_empty() {
        filters.insert("columns".into(), Value::Object(columns));
    }
    if !filters.is_empty() {
        body["filters"] = Value::Object(filters);
    }
    if let Some(zone) = &args.time_zone {
        body["timeZone"] = json!(zone);
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: ExportArgs,
    }

    #[test]
    fn filters_and_the_time_zone_become_the_request() {
        let cli = Cli::try_parse_from([
            "export",
            "--data-type",
            "sessions",
            "--format",
            "csv",
            "--filter",
            "device:in=Desktop,Pixel 8",
            "--filter",
            "duration_seconds:gte=60",
            "--filter",
            "duration_seconds:lt=600",
            "--time-zone",
            "Europe/Paris",
            "--out",
            "s.csv",
        ])
        .unwrap();
        assert_eq!(
            request_body(&cli.args),
            json!({"dataType": "sessions", "format": "csv", "timeZone": "Europe/Paris",
                   "filters": {"columns": {
                       "device": {"in": ["Desktop", "Pixel 8"]},
                       "duration_seconds": {"gte": "60", "lt": "600"}}}})
        );
        for (bad, says) in [
            ("device=Desktop", "COLUMN:OP=VALUE"),
            ("device:like=D%", "not a comparison"),
            (":eq=x", "COLUMN:OP=VALUE"),
        ] {
            let e = parse_filter(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
