//! Runs one export job: claims it, runs it, records what became of it.
//!
//! # Layout
//! - here: [`JobRunner::run`], the claim (fenced by a lease, capped per
//!   organization), the run's span and guards (panic, stall, cancel), and
//!   the outcome recorded through the one [`RetryPolicy`];
//! - `prepare`: the request checked, the plugin pinned, the rows counted,
//!   the file named, before any row is read;
//! - `file` and `parts`: the export written as one file or in parts, both
//!   through the one export driver (`exporter_export::Export`);
//! - `progress`: the progress written while it runs, and the stall watch.

mod file;
mod parts;
mod prepare;
mod progress;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::model::JobRecord;
use super::queue::ExportQueue;
use super::repo::{JobRepo, Lease, Start};
use super::retry::{Decision, Failure, RetryPolicy};
use exporter_export::Progress;
use exporter_metrics::Metrics;
use exporter_registry::PluginRegistry;
use exporter_registry::formats::FormatRegistry;
use exporter_runtime::batch::DEFAULT_BATCH_ROWS;
use exporter_store::blob::BlobStore;

/// How long a job waits when its organization is at its cap before the
/// queue offers it again.
const THROTTLE_DELAY: Duration = Duration::from_secs(1);

/// Settings of the runner, from the service configuration.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    pub retention: Duration,
    /// The waits between attempts; each job's number of attempts is the
    /// one it was created with.
    pub retry: RetryPolicy,
    pub batch_rows: usize,
    /// Exports of one organization running at once, across workers.
    pub organization_concurrency: usize,
    /// A run that writes no row and no byte for this long (a lock it
    /// waits on, a connection or a store that stopped answering) is
    /// stopped, so it cannot hold its organization's slot forever.
    pub stall_timeout: Duration,
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
    /// Another run claimed the job while this one ran (its worker was
    /// frozen past its lease): this run gave up without writing anything.
    Superseded,
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
    /// The datasets, and the versions jobs were created on.
    pub catalog: exporter_source::Catalog,
    /// Where datasets read their rows: `default` and the configured ones.
    pub sources: exporter_source::sources::Sources,
    /// The keys of `hash` masks, one per organization.
    pub masks: exporter_source::query::MaskSecret,
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
        let (job, lease) = match self
            .repo
            .start(id, self.settings.organization_concurrency)
            .await?
        {
            Start::Started { job, lease } => (*job, lease),
            Start::NotRunnable => return Ok(RunOutcome::Skipped),
            Start::AtCapacity => {
                self.queue.throttle(id, THROTTLE_DELAY).await?;
                return Ok(RunOutcome::Throttled);
            }
        };
        // Every line the run logs, here, on the plugin's thread and in its
        // progress reporter, carries the job, whose data it reads and with
        // which plugin (recorded once the plugin is resolved).
        let span = tracing::info_span!(
            "export_run",
            job = %job.id,
            organization = %job.organization_id,
            covers = job.covered_organization_id.as_deref().unwrap_or("every organization"),
            data_type = %job.data_type,
            format = %job.format,
            attempt = job.attempts,
            plugin_version = tracing::field::Empty,
            plugin_sha256 = tracing::field::Empty,
        );
        self.run_claimed(job, lease).instrument(span).await
    }

    /// [`JobRunner::run`] once the job is claimed with `lease`.
    async fn run_claimed(&self, job: JobRecord, lease: Lease) -> anyhow::Result<RunOutcome> {
        let id = job.id.as_str();
        let token = self.running.register(id);
        let progress = Arc::new(Progress::default());
        let stall = self.settings.stall_timeout;
        // Whatever happens inside the run ends it: a panic (a bug, or a
        // value the host's arithmetic cannot represent) fails the job
        // rather than unwinding the queue's task and leaving the job
        // Processing forever; a run that stops moving is stopped. Dropping
        // the export aborts its uploads.
        let export = unwinding(self.export(&job, lease, &token, progress.clone()));
        let outcome = tokio::select! {
            outcome = export => outcome.unwrap_or_else(|message| {
                tracing::error!(job = id, panic = message, "the export panicked");
                Ok(RunOutcome::Failed(format!(
                    "the export crashed: {message} (an internal error; the request may hold a value the exporter cannot handle)"
                )))
            }),
            () = progress::stalled(&progress, stall) => Ok(self.transient(
                &job,
                format!(
                    "the export made no progress for {stall:?}: no row was read and no byte written (stall_timeout)"
                ),
            )),
        };
        self.running.remove(id);
        let outcome = match outcome {
            // Refused by the fence, or cancelled: which one, the job says.
            Ok(RunOutcome::Cancelled) if !self.repo.holds(id, lease).await? => {
                Ok(RunOutcome::Superseded)
            }
            outcome => outcome,
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                // The service failed (the database went away): the queue
                // runs the job again while attempts remain. Shown as waiting
                // (or, after the last attempt, as a dead letter), if the
                // database takes the write, rather than as running forever.
                let error = format!("{e:#}");
                let decision = self
                    .retry_policy(&job)
                    .decide(attempt(&job), Failure::Transient);
                let marked = if decision == Decision::DeadLetter {
                    let error = format!("{error} (gave up after {} attempts)", job.attempts);
                    let marked = self.repo.dead_letter(id, lease, &error).await;
                    if marked.as_ref().is_ok_and(|marked| *marked) {
                        tracing::error!(job = id, error, "export dead-lettered");
                        self.metrics.dead_lettered();
                    }
                    marked
                } else {
                    self.repo.retry_later(id, lease, &error).await
                };
                let recorded = match marked {
                    Ok(_) => {
                        self.repo
                            .record_error(id, lease, job.attempts, &error)
                            .await
                    }
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
            self.repo
                .record_error(id, lease, job.attempts, error)
                .await?;
        }
        // Each write is fenced: false means another run claimed the job
        // meanwhile (or it was cancelled), and the job is not this run's to
        // change, nor its queue task.
        let superseded = || {
            tracing::warn!(
                job = id,
                attempt = job.attempts,
                "another run took the job over while this one ran; this run's result is dropped"
            );
            Ok(RunOutcome::Superseded)
        };
        match &outcome {
            RunOutcome::RetryLater { error, delay } => {
                if !self.repo.retry_later(id, lease, error).await? {
                    return superseded();
                }
                tracing::warn!(
                    job = id,
                    attempt = job.attempts,
                    error,
                    ?delay,
                    "export failed; retrying later"
                );
                self.queue.delay_retry(id, *delay).await?;
                self.metrics.retry_scheduled();
            }
            RunOutcome::Failed(error) => {
                if !self.repo.fail(id, lease, error).await? {
                    return superseded();
                }
                tracing::warn!(job = id, error, "export failed");
            }
            RunOutcome::DeadLettered(error) => {
                if !self.repo.dead_letter(id, lease, error).await? {
                    return superseded();
                }
                tracing::error!(
                    job = id,
                    attempts = job.attempts,
                    error,
                    "export dead-lettered: every attempt failed; POST /api/admin/export-jobs/{id}/retry re-drives it"
                );
                self.metrics.dead_lettered();
            }
            RunOutcome::Completed => tracing::info!(job = id, "export completed"),
            RunOutcome::Cancelled => tracing::info!(job = id, "export cancelled"),
            RunOutcome::Superseded => return superseded(),
            RunOutcome::Skipped | RunOutcome::Throttled => {}
        }
        Ok(outcome)
    }

    /// Prepares the job, then writes it as one file or in parts.
    async fn export(
        &self,
        job: &JobRecord,
        lease: Lease,
        token: &CancellationToken,
        progress: Arc<Progress>,
    ) -> anyhow::Result<RunOutcome> {
        let run = Run {
            job,
            lease,
            token,
            progress,
            started: Instant::now(),
        };
        let prepared = match prepare::prepare(self, job, lease).await? {
            Ok(prepared) => prepared,
            Err(outcome) => return Ok(outcome),
        };
        if prepared.request.is_parted() {
            parts::export(self, run, prepared).await
        } else {
            file::export(self, run, prepared).await
        }
    }

    /// A transient failure: retried while attempts remain, a dead letter
    /// after the last.
    fn transient(&self, job: &JobRecord, error: String) -> RunOutcome {
        self.failed(job, Failure::Transient, error)
    }

    /// What the retry policy makes of this attempt failing so.
    fn failed(&self, job: &JobRecord, failure: Failure, error: String) -> RunOutcome {
        match self.retry_policy(job).decide(attempt(job), failure) {
            Decision::RetryAfter(delay) => RunOutcome::RetryLater { error, delay },
            Decision::DeadLetter => RunOutcome::DeadLettered(format!(
                "{error} (gave up after {} attempts)",
                job.attempts
            )),
            Decision::FailNow => RunOutcome::Failed(error),
        }
    }

    /// The configured waits, with the attempts the job was created with.
    fn retry_policy(&self, job: &JobRecord) -> RetryPolicy {
        let attempts = u32::try_from(job.max_attempts).unwrap_or(u32::MAX);
        self.settings.retry.with_max_attempts(attempts)
    }

    /// What earlier runs of the job staged (a killed worker's, or a frozen
    /// one's) never becomes visible, and goes now.
    fn abort_earlier_uploads(&self, job: &JobRecord, lease: Lease) {
        if lease.0 > 1 {
            let aborted = self
                .blobs
                .abort_earlier_uploads(&job.organization_id, &job.id, lease.0);
            if aborted > 0 {
                tracing::info!(job = %job.id, aborted, "aborted an earlier run's upload");
            }
        }
    }
}

/// Names the plugin a run uses on its span.
fn record_plugin(formatter: &exporter_runtime::Formatter) {
    let span = tracing::Span::current();
    span.record("plugin_version", formatter.info().version.as_str());
    span.record("plugin_sha256", formatter.digest());
}

/// Runs `export` to its end whatever it does: a panic in it becomes
/// `Err(what it said)` instead of unwinding the caller (the queue's task).
async fn unwinding<T>(export: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(export)
        .catch_unwind()
        .await
        .map_err(|panic| panic_message(panic.as_ref()).to_owned())
}

/// What a panic said, when it said it with a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}

/// The number of the job's current attempt (1 for the first).
fn attempt(job: &JobRecord) -> u32 {
    u32::try_from(job.attempts).unwrap_or(0)
}

/// One run of a claimed job, as the file and parts writers get it.
struct Run<'a> {
    job: &'a JobRecord,
    /// The run's claim: every write it makes carries it.
    lease: Lease,
    /// Cancelled by a cancel through this process, or by the progress
    /// reporter when the job stopped being this run's.
    token: &'a CancellationToken,
    progress: Arc<Progress>,
    started: Instant,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(24 * 3600),
            retry: RetryPolicy::default(),
            batch_rows: DEFAULT_BATCH_ROWS,
            organization_concurrency: 4,
            stall_timeout: Duration::from_secs(300),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// The guard `run` puts around every export: a panic anywhere in it,
    /// with a string or a formatted message, comes back as an error to
    /// record, and the caller goes on.
    #[tokio::test]
    async fn a_panic_inside_an_export_becomes_an_error() {
        let exploded = unwinding(async {
            tokio::task::yield_now().await;
            let day: i32 = std::hint::black_box(i32::MAX);
            if day > 0 {
                panic!("day {day} overflowed");
            }
            1
        })
        .await;
        assert_eq!(exploded, Err(format!("day {} overflowed", i32::MAX)));
        let quiet = unwinding(async { std::panic::panic_any(7_u8) }).await;
        assert_eq!(quiet, Err::<(), _>("a panic".to_owned()));
        assert_eq!(unwinding(async { 3 }).await, Ok(3));
    }
}
