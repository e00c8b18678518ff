//! Runs one export job: claim it, stream its query through its plugin into
//! a multipart upload, publish the file, record the outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::model::{ExportRequest, JobRecord};
use super::parted::PartedExport;
use super::queue::ExportQueue;
use super::repo::{FileRecord, JobRepo, Start};
use crate::batch::{DEFAULT_BATCH_ROWS, time};
use crate::blob::{BlobStore, CompressingSink, start_upload};
use crate::db::now_micros;
use crate::formats::FormatRegistry;
use crate::metrics::Metrics;
use crate::pipeline::{ExportError, Progress, run_export};
use crate::plugins::{ChunkSink, ExportContext, FormatInfo, PluginError};
use crate::registry::PluginRegistry;
use crate::source::{ExportQuery, count_rows};

/// How often a running export writes its progress (and notices a cancel
/// made by another process). Time-based, so the cost is the same whether a
/// batch takes a millisecond or a second.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// How long a job waits when its organization is at its cap before the
/// queue offers it again.
const THROTTLE_DELAY: Duration = Duration::from_secs(1);

/// Settings of the runner, from the service configuration.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    pub retention: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub batch_rows: usize,
    /// Exports of one organization running at once, across workers.
    pub organization_concurrency: usize,
}

/// What became of one run.
#[derive(Debug, PartialEq, Eq)]
pub enum RunOutcome {
    Completed,
    /// Cancelled, deleted or already finished: nothing to do.
    Skipped,
    /// Its organization runs as many exports as it may: put off, without
    /// spending an attempt, so the worker slot goes to another tenant.
    Throttled,
    Cancelled,
    /// Failed transiently; the queue runs it again after `delay`.
    RetryLater {
        error: String,
        delay: Duration,
    },
    /// Failed for good: the request or the plugin is at fault.
    Failed(String),
    /// Failed transiently on its last attempt: a dead letter, which an
    /// operator can re-drive once the cause is fixed.
    DeadLettered(String),
}

/// Cancellation handles of the exports running in this process, so a
/// cancel through this process's API stops its export at once.
#[derive(Clone, Default)]
pub struct RunningJobs(Arc<Mutex<HashMap<String, CancellationToken>>>);

impl RunningJobs {
    fn register(&self, id: &str) -> CancellationToken {
        let token = CancellationToken::new();
        self.lock().insert(id.to_owned(), token.clone());
        token
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// How many exports run in this process.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until no export runs here, or `timeout` passes; false then.
    pub async fn drained(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.is_empty() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Stops the export of job `id` if it runs here.
    pub fn cancel(&self, id: &str) -> bool {
        match self.lock().get(id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct JobRunner {
    pub repo: JobRepo,
    pub queue: ExportQueue,
    pub blobs: BlobStore,
    pub formats: FormatRegistry,
    pub registry: PluginRegistry,
    pub metrics: Metrics,
    pub running: RunningJobs,
    pub settings: RunnerSettings,
}

impl JobRunner {
    /// Runs job `id` once. `Err` means the service itself failed (the
    /// database went away): the queue runs the job again.
    pub async fn run(&self, id: &str) -> anyhow::Result<RunOutcome> {
        let job = match self
            .repo
            .start(id, self.settings.organization_concurrency)
            .await?
        {
            Start::Started(job) => *job,
            Start::NotRunnable => return Ok(RunOutcome::Skipped),
            Start::AtCapacity => {
                self.queue.throttle(id, THROTTLE_DELAY).await?;
                return Ok(RunOutcome::Throttled);
            }
        };
        let token = self.running.register(id);
        let outcome = self.export(&job, &token).await;
        self.running.remove(id);
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                // The service failed (the database went away): the queue
                // runs the job again while attempts remain. Shown as waiting
                // (or, after the last attempt, as a dead letter), if the
                // database takes the write, rather than as running forever.
                let error = format!("{e:#}");
                let marked = if job.attempts >= job.max_attempts {
                    let error = format!("{error} (gave up after {} attempts)", job.attempts);
                    let marked = self.repo.dead_letter(id, &error).await;
                    if marked.is_ok() {
                        tracing::error!(job = id, error, "export dead-lettered");
                        self.metrics.dead_lettered();
                    }
                    marked
                } else {
                    self.repo.retry_later(id, &error).await
                };
                let recorded = match marked {
                    Ok(_) => self.repo.record_error(id, job.attempts, &error).await,
                    Err(e) => Err(e),
                };
                if let Err(record) = recorded {
                    tracing::warn!(job = id, error = %record, "recording the failure failed");
                }
                return Err(e);
            }
        };
        if let RunOutcome::RetryLater { error, .. }
        | RunOutcome::Failed(error)
        | RunOutcome::DeadLettered(error) = &outcome
        {
            self.repo.record_error(id, job.attempts, error).await?;
        }
        match &outcome {
            RunOutcome::RetryLater { error, delay } => {
                tracing::warn!(
                    job = id,
                    attempt = job.attempts,
                    error,
                    ?delay,
                    "export failed; retrying later"
                );
                self.repo.retry_later(id, error).await?;
                self.queue.delay_retry(id, *delay).await?;
                self.metrics.retry_scheduled();
            }
            RunOutcome::Failed(error) => {
                tracing::warn!(job = id, error, "export failed");
                self.repo.fail(id, error).await?;
            }
            RunOutcome::DeadLettered(error) => {
                tracing::error!(
                    job = id,
                    attempts = job.attempts,
                    error,
                    "export dead-lettered: every attempt failed; POST /api/admin/export-jobs/{id}/retry re-drives it"
                );
                self.repo.dead_letter(id, error).await?;
                self.metrics.dead_lettered();
            }
            RunOutcome::Completed => tracing::info!(job = id, "export completed"),
            RunOutcome::Cancelled => tracing::info!(job = id, "export cancelled"),
            RunOutcome::Skipped | RunOutcome::Throttled => {}
        }
        Ok(outcome)
    }

    async fn export(
        &self,
        job: &JobRecord,
        token: &CancellationToken,
    ) -> anyhow::Result<RunOutcome> {
        let started = Instant::now();
        let request = match job.request() {
            Ok(request) => request,
            Err(e) => return Ok(RunOutcome::Failed(format!("{e:#}"))),
        };
        let query = match request.query() {
            Ok(query) => query,
            Err(e) => return Ok(RunOutcome::Failed(e.to_string())),
        };
        // Pinned for the whole run: an activation meanwhile does not touch
        // this export.
        let Some(formatter) = self.formats.get_for(&job.organization_id, &job.format) else {
            return Ok(RunOutcome::Failed(format!(
                "format {:?} is no longer installed",
                job.format
            )));
        };
        let options = request.plugin_options();
        if let Err(e) = formatter.info().check_options(&options) {
            return Ok(RunOutcome::Failed(e));
        }
        // Checked before anything runs, so a bad column is reported as the
        // client's mistake rather than retried as a database failure.
        if let Err(e) = query.selected() {
            return Ok(RunOutcome::Failed(e.to_string()));
        }

        let total_rows = match count_rows(self.repo.database(), &query).await {
            Ok(total) => total,
            Err(e) => return Ok(self.transient(job, e.to_string())),
        };
        self.repo.set_total_rows(&job.id, total_rows as i64).await?;

        let info = formatter.info().clone();
        let file_name = file_name(&request, &info.file_extension);
        if request.is_parted() {
            let export = PartedExport {
                job,
                request: &request,
                query: &query,
                formatter,
                options,
                context: context(job, &request, &query),
                file_name,
                total_rows,
            };
            return self.export_in_parts(export, token).await;
        }
        let content_type = stored_media_type(&request, &info);
        let key = self.blobs.key(&job.organization_id, &job.id, &file_name);
        if job.attempts > 1 {
            // An earlier attempt may have died mid-upload (its worker was
            // killed): what it staged never becomes visible, and goes now.
            let aborted = self.blobs.abort_abandoned_upload(&key);
            if aborted > 0 {
                tracing::info!(job = %job.id, aborted, "aborted an earlier attempt's upload");
            }
        }
        let (sink, upload) = start_upload(&self.blobs, key.clone());
        let sink: Box<dyn ChunkSink> = match request.compression {
            Some(compression) => Box::new(CompressingSink::new(compression, sink)?),
            None => Box::new(sink),
        };
        let progress = Arc::new(Progress::default());
        let reporter = self.spawn_progress_reporter(&job.id, progress.clone(), token.clone());

        let export = run_export(
            self.repo.database(),
            &query,
            &formatter,
            options,
            context(job, &request, &query),
            sink,
            self.settings.batch_rows.max(1),
            Some(progress),
        );
        let result = tokio::select! {
            result = export => Some(result),
            () = token.cancelled() => None,
        };
        reporter.abort();
        let seconds = started.elapsed().as_secs_f64();

        let stats = match result {
            None => {
                upload.abort().await;
                self.metrics
                    .export_finished(&job.format, "cancelled", seconds, 0, 0);
                return Ok(RunOutcome::Cancelled);
            }
            Some(Err(error)) => {
                // Aborts whatever was staged; reports the upload's own error
                // when the upload is what stopped the plugin.
                let upload_error = upload.failure().await;
                let mut message = error.to_string();
                if let (ExportError::Plugin(PluginError::Sink { .. }), Some(cause)) =
                    (&error, upload_error)
                {
                    message = format!("writing to the blob store failed: {cause:#}");
                }
                if let ExportError::Plugin(plugin) = &error {
                    self.metrics.plugin_error(&job.format, plugin.kind());
                    self.registry.export_crashed(&formatter, plugin).await;
                }
                self.metrics
                    .export_finished(&job.format, "failed", seconds, 0, 0);
                return Ok(if error.is_transient() {
                    self.transient(job, message)
                } else {
                    RunOutcome::Failed(message)
                });
            }
            Some(Ok(stats)) => stats,
        };
        let uploaded = match upload.commit().await {
            Ok(uploaded) => uploaded,
            Err(e) => {
                self.metrics
                    .export_finished(&job.format, "failed", seconds, 0, 0);
                return Ok(self.transient(
                    job,
                    format!("publishing the file to the blob store failed: {e:#}"),
                ));
            }
        };
        let file = FileRecord {
            key: uploaded.key.to_string(),
            name: file_name,
            content_type,
            size: uploaded.size as i64,
            rows: stats.rows as i64,
            sha256: uploaded.sha256,
            plugin_name: info.name.clone(),
            plugin_version: info.version.clone(),
            plugin_sha256: formatter.digest().to_owned(),
            expires_at: now_micros() + self.settings.retention.as_micros() as i64,
            // What the plugin wrote, before the sink compressed it.
            uncompressed_size: request.compression.map(|_| stats.run.bytes as i64),
            bytes_written: uploaded.size as i64,
        };
        if !self.repo.complete(&job.id, &file).await? {
            // Cancelled while the upload completed: the file must not stay.
            self.blobs.delete(&uploaded.key).await?;
            return Ok(RunOutcome::Cancelled);
        }
        self.registry.export_succeeded(&formatter).await;
        self.metrics
            .export_finished(&job.format, "completed", seconds, stats.rows, uploaded.size);
        Ok(RunOutcome::Completed)
    }

    /// A transient failure: retried while attempts remain, a dead letter
    /// after the last.
    pub(super) fn transient(&self, job: &JobRecord, error: String) -> RunOutcome {
        if job.attempts >= job.max_attempts {
            return RunOutcome::DeadLettered(format!(
                "{error} (gave up after {} attempts)",
                job.attempts
            ));
        }
        RunOutcome::RetryLater {
            error,
            delay: backoff(
                job.attempts as u32,
                self.settings.retry_base,
                self.settings.retry_max,
            ),
        }
    }

    /// Writes progress every [`PROGRESS_EVERY`]; cancels the run when the
    /// job stopped being Processing (a cancel from another process).
    pub(super) fn spawn_progress_reporter(
        &self,
        id: &str,
        progress: Arc<Progress>,
        token: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let repo = self.repo.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            let mut last = (0, 0);
            let mut interval = tokio::time::interval(PROGRESS_EVERY);
            interval.tick().await;
            loop {
                interval.tick().await;
                let now = progress.get();
                if now == last {
                    continue;
                }
                last = now;
                match repo.progress(&id, now.0 as i64, now.1 as i64).await {
                    Ok(true) => {}
                    Ok(false) => {
                        token.cancel();
                        return;
                    }
                    Err(e) => tracing::warn!(job = %id, error = %e, "recording progress failed"),
                }
            }
        })
    }
}

/// Exponential backoff with jitter: `base * 2^(attempt-1)`, capped, then
/// scaled by a random factor in [0.5, 1.0] so failed jobs do not return in
/// lockstep.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let full = base.saturating_mul(1 << exponent).min(max);
    let factor = 0.5 + rand::random::<f64>() * 0.5;
    full.mul_f64(factor)
}

/// The media type of what is stored: the compression's, or the format's.
pub(super) fn stored_media_type(request: &ExportRequest, info: &FormatInfo) -> String {
    match request.compression {
        Some(compression) => compression.media_type().to_owned(),
        None => info.media_type.clone(),
    }
}

/// `sessions_2026-01-01_2026-01-31.csv`, `users_all.json`,
/// `users_all.json.gz`.
fn file_name(request: &ExportRequest, extension: &str) -> String {
    let range = request.date_range.clone().unwrap_or_default();
    let span = match (range.from, range.to) {
        (None, None) => "all".to_owned(),
        (from, to) => format!(
            "{}_{}",
            from.as_deref().unwrap_or("start"),
            to.as_deref().unwrap_or("now")
        ),
    };
    let extension = extension.trim_start_matches('.');
    match request.compression {
        Some(compression) => format!(
            "{}_{span}.{extension}.{}",
            request.data_type,
            compression.extension()
        ),
        None => format!("{}_{span}.{extension}", request.data_type),
    }
}

/// What a plugin may print in a report header.
fn context(job: &JobRecord, request: &ExportRequest, query: &ExportQuery) -> ExportContext {
    let mut properties = vec![("Data".to_owned(), request.data_type.clone())];
    let day = |d: Option<i32>| d.map(time::format_date);
    if let Some(from) = day(query.from) {
        properties.push(("From".to_owned(), from));
    }
    if let Some(to) = day(query.to) {
        properties.push(("To".to_owned(), to));
    }
    if let Some(org) = &query.organization_id {
        properties.push(("Organization".to_owned(), org.clone()));
    }
    if let Some(user) = &query.user_id {
        properties.push(("User".to_owned(), user.clone()));
    }
    let mut title = format!("{} export", capitalized(&request.data_type));
    if let (Some(from), Some(to)) = (day(query.from), day(query.to)) {
        title = format!("{title}, {from} to {to}");
    }
    ExportContext {
        title,
        generated_at: job.created_at,
        properties,
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(24 * 3600),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            batch_rows: DEFAULT_BATCH_ROWS,
            organization_concurrency: 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(60);
        for _ in 0..100 {
            let first = backoff(1, base, max);
            assert!(
                first >= Duration::from_secs(1) && first <= base,
                "{first:?}"
            );
            let third = backoff(3, base, max);
            assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(8));
            assert!(backoff(30, base, max) <= max);
        }
    }

    #[test]
    fn file_names_say_what_they_hold() {
        let mut request: ExportRequest =
            serde_json::from_str(r#"{"dataType":"sessions","format":"csv","dateRange":{"from":"2026-01-01","to":"2026-01-31"}}"#)
                .unwrap();
        assert_eq!(
            file_name(&request, "csv"),
            "sessions_2026-01-01_2026-01-31.csv"
        );
        request.date_range = None;
        assert_eq!(file_name(&request, ".json"), "sessions_all.json");
        request.compression = Some(crate::blob::Compression::Zstd);
        assert_eq!(file_name(&request, "csv"), "sessions_all.csv.zst");
    }
}
