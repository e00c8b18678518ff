//! `exporter jobs list | get | download | cancel`: the export jobs of a
//! running service, through its API.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::Value;

use super::client::{ApiClient, ConnectionArgs, print_out, warning_lines};
use super::data::runtime;
use super::human_bytes;
use super::out::{OutKind, check_out};

#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// The jobs you may see, newest first.
    List(ListArgs),
    /// One job: its status, progress, file and warnings.
    Get(JobArgs),
    /// Download a completed job's file (or its parts and manifest), each
    /// checked against its sha256.
    Download(DownloadArgs),
    /// Cancel a pending or running job (a finished job's file is deleted).
    Cancel(JobArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Only jobs in this status: Pending, Processing, Completed, Failed,
    /// Cancelled, Expired.
    #[arg(long)]
    status: Option<String>,
    /// How many, 1 to 100.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Print the API's JSON page.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct JobArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// The job's id.
    id: String,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// The job's id.
    id: String,
    /// Where to write the file (a directory, for an export in parts);
    /// default: the job's file name in the working directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(command: JobsCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        match command {
            JobsCommand::List(args) => list(args).await,
            JobsCommand::Get(args) => get(args).await,
            JobsCommand::Download(args) => download(args).await,
            JobsCommand::Cancel(args) => cancel(args).await,
        }
    })
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", &args.limit.to_string());
    if let Some(status) = &args.status {
        query.append_pair("status", status);
    }
    let page = client
        .json(client.get(&format!("/api/export-jobs?{}", query.finish())))
        .await?;
    if args.json {
        return print_json(&page);
    }
    let items = page["items"].as_array().cloned().unwrap_or_default();
    let mut text = String::new();
    if items.is_empty() {
        text.push_str("no jobs\n");
    } else {
        writeln!(
            text,
            "{:<26} {:<10} {:<9} {:<8} {:>10} {:>10}  CREATED",
            "ID", "STATUS", "DATASET", "FORMAT", "ROWS", "SIZE"
        )?;
    }
    for job in &items {
        let size = job["file"]["size"]
            .as_u64()
            .map_or_else(|| "-".to_owned(), human_bytes);
        let rows = job["file"]["rows"]
            .as_u64()
            .or(job["progress"]["rowsWritten"].as_u64())
            .unwrap_or(0);
        writeln!(
            text,
            "{:<26} {:<10} {:<9} {:<8} {:>10} {:>10}  {}",
            str_of(job, "id"),
            str_of(job, "status"),
            str_of(job, "dataType"),
            str_of(job, "format"),
            rows,
            size,
            str_of(job, "createdAt"),
        )?;
    }
    if page["nextCursor"].is_string() {
        writeln!(
            text,
            "(more: raise --limit, up to 100, or filter with --status)"
        )?;
    }
    print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

async fn get(args: JobArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let job = fetch(&client, &args.id).await?;
    if args.json {
        return print_json(&job);
    }
    print_out(&describe(&job))?;
    Ok(ExitCode::SUCCESS)
}

async fn download(args: DownloadArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let job = fetch(&client, &args.id).await?;
    let status = str_of(&job, "status");
    anyhow::ensure!(
        status == "Completed",
        "job {} is {status}, not Completed: there is no file to download{}",
        args.id,
        match status {
            "Pending" | "Processing" => " yet; follow it with `exporter jobs get ID`",
            _ => "",
        }
    );
    let in_parts = in_parts(&job);
    let out = match args.out {
        Some(out) => out,
        None => default_out(&job, in_parts)?,
    };
    check_out(
        &out,
        if in_parts {
            OutKind::Directory
        } else {
            OutKind::File
        },
    )?;
    let summary = download_job(&client, &job, &out).await?;
    print_out(&format!("{summary}\n"))?;
    Ok(ExitCode::SUCCESS)
}

async fn cancel(args: JobArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    let job = client
        .json(client.delete(&format!("/api/export-jobs/{}", path_segment(&args.id)?)))
        .await
        .map_err(|e| not_found_hint(e, &args.id))?;
    if args.json {
        return print_json(&job);
    }
    let status = str_of(&job, "status");
    let line = match status {
        "Cancelled" => format!("job {} cancelled", args.id),
        "Expired" => format!("job {} was finished; its file is deleted", args.id),
        other => format!("job {} is {other}; nothing to cancel", args.id),
    };
    print_out(&format!("{line}\n"))?;
    Ok(ExitCode::SUCCESS)
}

/// One job's view.
pub(crate) async fn fetch(client: &ApiClient, id: &str) -> anyhow::Result<Value> {
    client
        .json(client.get(&format!("/api/export-jobs/{}", path_segment(id)?)))
        .await
        .map_err(|e| not_found_hint(e, id))
}

/// An id as a path segment: job ids are ULIDs, so anything with a slash
/// or a query is a mistake, refused before it reaches another route.
fn path_segment(id: &str) -> anyhow::Result<&str> {
    anyhow::ensure!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "{id:?} is not a job id (26 letters and digits, as `exporter jobs list` shows)"
    );
    Ok(id)
}

fn not_found_hint(error: anyhow::Error, id: &str) -> anyhow::Error {
    match error.to_string().contains("404") {
        true => anyhow::anyhow!(
            "no job {id} that you may see ({error:#}); `exporter jobs list` shows yours"
        ),
        false => error,
    }
}

/// Whether the job's file is a manifest with parts.
pub(crate) fn in_parts(job: &Value) -> bool {
    job["partMaxRows"].is_u64() || job["partMaxBytes"].is_u64()
}

/// The job's file name (or, in parts, a directory named after the job).
fn default_out(job: &Value, in_parts: bool) -> anyhow::Result<PathBuf> {
    let id = str_of(job, "id");
    if in_parts {
        return Ok(PathBuf::from(format!("export-{id}")));
    }
    let name = job["file"]["name"]
        .as_str()
        .filter(|n| !n.is_empty() && !n.contains(['/', '\\']) && *n != "..")
        .with_context(|| format!("job {id} names no file; pass --out"))?;
    Ok(PathBuf::from(name))
}

/// Downloads a completed job's file, or its manifest and every part into
/// the directory `out`, each checked against its sha256; the summary line.
pub(crate) async fn download_job(
    client: &ApiClient,
    job: &Value,
    out: &Path,
) -> anyhow::Result<String> {
    let id = str_of(job, "id");
    let expected = job["file"]["sha256"]
        .as_str()
        .with_context(|| format!("job {id} has no file checksum"))?;
    let size = job["file"]["size"].as_u64().unwrap_or(0);
    let download = format!("/api/export-jobs/{id}/download");
    if !in_parts(job) {
        let written = client.download(&download, out, expected, size).await?;
        return Ok(format!(
            "{}: {} rows, {}, sha256 {expected} verified",
            out.display(),
            job["file"]["rows"].as_u64().unwrap_or(0),
            human_bytes(written)
        ));
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let name = job["file"]["name"].as_str().unwrap_or("manifest.json");
    let manifest_path = out.join(name);
    client
        .download(&download, &manifest_path, expected, size)
        .await?;
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?,
    )
    .with_context(|| format!("the manifest {} is not JSON", manifest_path.display()))?;
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
        let path = format!("/api/export-jobs/{id}/parts/{index}");
        let size = part["bytes"].as_u64().unwrap_or(0);
        bytes += client
            .download(&path, &out.join(name), sha256, size)
            .await?;
    }
    Ok(format!(
        "{}: {} parts, {} rows, {}, every sha256 verified against {name}",
        out.display(),
        parts.len(),
        manifest["totalRows"].as_u64().unwrap_or(0),
        human_bytes(bytes)
    ))
}

/// A job as lines: what, status, progress, file, error, warnings.
pub(crate) fn describe(job: &Value) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "job {}: {} {} as {}",
        str_of(job, "id"),
        str_of(job, "status"),
        str_of(job, "dataType"),
        str_of(job, "format")
    );
    let progress = &job["progress"];
    let written = progress["rowsWritten"].as_u64().unwrap_or(0);
    match progress["totalRows"].as_u64() {
        Some(total) => {
            let _ = writeln!(text, "  progress: {written} of {total} rows");
        }
        None => {
            let _ = writeln!(text, "  progress: {written} rows");
        }
    }
    if let Some(position) = job["queuePosition"].as_u64() {
        let _ = writeln!(text, "  queue position: {position}");
    }
    let _ = writeln!(text, "  created: {}", str_of(job, "createdAt"));
    if let Some(finished) = job["finishedAt"].as_str() {
        let _ = writeln!(text, "  finished: {finished}");
    }
    let file = &job["file"];
    if let Some(name) = file["name"].as_str() {
        let _ = writeln!(
            text,
            "  file: {name}, {} rows, {}, sha256 {}",
            file["rows"].as_u64().unwrap_or(0),
            human_bytes(file["size"].as_u64().unwrap_or(0)),
            file["sha256"].as_str().unwrap_or("-")
        );
    }
    if let Some(expires) = job["expiresAt"].as_str() {
        let _ = writeln!(text, "  expires: {expires}");
    }
    if let Some(error) = job["error"].as_str() {
        let _ = writeln!(text, "  error: {error}");
    }
    for line in warning_lines(job) {
        let _ = writeln!(text, "  {line}");
    }
    if str_of(job, "status") == "Completed" {
        let _ = writeln!(
            text,
            "  download: exporter jobs download {}",
            str_of(job, "id")
        );
    }
    text
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("-")
}

fn print_json(value: &Value) -> anyhow::Result<ExitCode> {
    print_out(&format!("{}\n", serde_json::to_string_pretty(value)?))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_described_with_its_warnings() {
        let job = serde_json::json!({
            "id": "01J", "status": "Completed", "dataType": "sessions", "format": "csv",
            "progress": {"rowsWritten": 10, "totalRows": 10},
            "file": {"name": "a.csv", "rows": 10, "size": 2048, "sha256": "ab"},
            "warnings": [{"code": "cell-truncated", "count": 2, "examples": ["x"]}]
        });
        let text = describe(&job);
        assert!(text.contains("progress: 10 of 10 rows"), "{text}");
        assert!(text.contains("2.0 KiB"), "{text}");
        assert!(
            text.contains("warning: cell-truncated x2, e.g. \"x\""),
            "{text}"
        );
        assert!(text.contains("exporter jobs download 01J"), "{text}");
    }

    #[test]
    fn ids_that_are_not_ids_never_reach_another_route() {
        assert!(path_segment("01JABCDEF").is_ok());
        assert!(path_segment("../formats").is_err());
        assert!(path_segment("x?y").is_err());
    }
}
