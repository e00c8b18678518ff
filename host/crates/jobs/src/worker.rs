//! The apalis worker that feeds queued jobs to the [`JobRunner`].

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_core::backend::ext::poll_strategy::Strategy;
use apalis_postgres::{PostgresStorage, Pubsub};
use apalis_sqlite::SqliteStorage;
use serde::{Deserialize, Serialize};

use super::queue::{ExportQueue, QUEUE_NAME, TaskPayload, Tick, Wakeups};
use super::runner::{JobRunner, RunOutcome, RunnerSettings};
use exporter_store::db::Database;

/// A job whose worker misses this many heartbeats (it died, or froze) is
/// run again by another worker; a frozen worker that wakes up finds its run
/// fenced off (see `repo::Lease`).
const MISSED_HEARTBEATS: usize = 3;

/// On PostgreSQL new jobs are announced, so the poll only catches what is
/// not (a retry whose backoff ended, a dead worker's job).
const LISTENING_POLL: Duration = Duration::from_secs(1);

/// How the worker runs: the service's `[worker]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// Run a worker in this process (`exporter serve` and `exporter
    /// worker`; `exporter api` turns it off).
    pub enabled: bool,
    /// Exports run at once by this process's worker.
    pub concurrency: usize,
    /// Exports of one organization running at once, across every worker,
    /// so one tenant cannot starve the others (the runner's
    /// [`RunnerSettings::organization_concurrency`]).
    pub organization_concurrency: usize,
    /// How often an idle worker looks for jobs created by other processes;
    /// jobs created through this process's API are picked up at once.
    #[serde(with = "exporter_settings::duration")]
    pub poll_interval: Duration,
    /// How long shutdown waits for running exports before handing them back
    /// to the queue.
    #[serde(with = "exporter_settings::duration")]
    pub shutdown_timeout: Duration,
    /// How often the worker tells the queue it is alive; its lease on its
    /// jobs is [`MISSED_HEARTBEATS`] of these, so a worker killed or frozen
    /// (a GC pause, a VM migration) loses its jobs to the others.
    #[serde(with = "exporter_settings::duration")]
    pub heartbeat: Duration,
    /// A run that reads no row and writes no byte for this long is stopped
    /// and retried (the runner's [`RunnerSettings::stall_timeout`]).
    #[serde(with = "exporter_settings::duration")]
    pub stall_timeout: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        let runner = RunnerSettings::default();
        Self {
            enabled: true,
            concurrency: 2,
            organization_concurrency: runner.organization_concurrency,
            poll_interval: Duration::from_millis(100),
            shutdown_timeout: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            stall_timeout: runner.stall_timeout,
        }
    }
}

impl WorkerSettings {
    /// What makes no sense: no slot, no polling, a heartbeat the queue
    /// cannot count, no stall limit.
    pub fn validate(&self) -> Result<(), exporter_settings::Invalid> {
        exporter_settings::first_invalid([
            ("concurrency", self.concurrency >= 1, "at least 1"),
            (
                "organization_concurrency",
                self.organization_concurrency >= 1,
                "at least 1",
            ),
            ("poll_interval", !self.poll_interval.is_zero(), "positive"),
            (
                "heartbeat",
                self.heartbeat >= Duration::from_secs(1),
                "at least 1s (the queue counts whole seconds)",
            ),
            ("stall_timeout", !self.stall_timeout.is_zero(), "positive"),
        ])
    }
}

/// Runs the worker until `shutdown` resolves, then lets running exports
/// finish for up to `shutdown_timeout`. Exports still running after that
/// stay claimed; the queue hands them to a worker again once their lease
/// (missed heartbeats) runs out.
pub async fn run_worker(
    queue: ExportQueue,
    wakeups: Wakeups,
    runner: Arc<JobRunner>,
    settings: WorkerSettings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let incarnation = format!(
        "exporter-{}-{}",
        std::process::id(),
        ulid::Ulid::generate().to_string().to_ascii_lowercase()
    );
    // A restarted worker needs a fresh name: the SQLite queue refuses a
    // name whose last heartbeat is recent.
    let name = move |restarts: usize| format!("{incarnation}-{restarts}");
    let concurrency = settings.concurrency;
    // The same worker on either engine's storage; a macro because the
    // builder's bounds depend on the backend's type.
    macro_rules! worker {
        ($name:expr, $backend:expr) => {
            WorkerBuilder::new($name)
                .backend($backend)
                .data(runner.clone())
                .concurrency(concurrency)
                .parallelize(tokio::spawn)
                .build(handle)
        };
    }
    let monitor = Monitor::new();
    let monitor = match queue.database() {
        Database::Sqlite(pool) => {
            let config = apalis_sqlite::Config::default()
                .queue(QUEUE_NAME)
                // Claim no more than can run: a claimed job waits for this
                // process even when another worker is idle.
                .batch_size(concurrency)
                .heartbeat_interval(settings.heartbeat)
                .missed_heartbeats(MISSED_HEARTBEATS);
            let storage = SqliteStorage::<serde_json::Value>::new(pool).with_config(config);
            let poll = settings.poll_interval;
            monitor.register(move |restarts| {
                worker!(
                    name(restarts),
                    storage
                        .clone()
                        .poll_with_strategy(Tick::new(poll, wakeups.clone()))
                )
            })
        }
        Database::Postgres(pool) => {
            let config = apalis_postgres::Config::default()
                .queue(QUEUE_NAME)
                .batch_size(concurrency)
                .heartbeat_interval(settings.heartbeat)
                .missed_heartbeats(MISSED_HEARTBEATS);
            let storage = PostgresStorage::<serde_json::Value>::new(pool).with_config(config);
            let pool = pool.clone();
            monitor.register(move |restarts| {
                // Inserts are announced by NOTIFY (one pooled connection
                // listens); the tick finds what no insert announces: retries
                // whose backoff ended and jobs of workers that died.
                let strategy = Strategy::new()
                    .stream(Pubsub::new(pool.clone(), QUEUE_NAME.to_owned()))
                    .apply(Tick::new(LISTENING_POLL, wakeups.clone()));
                worker!(name(restarts), storage.clone().poll_with_strategy(strategy))
            })
        }
    };
    let monitor = monitor
        .should_restart(|worker, error| {
            tracing::error!(worker = %worker.name(), %error, "the export worker stopped; restarting it");
            true
        })
        .shutdown_timeout(settings.shutdown_timeout);
    monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("the export worker failed: {e}"))
}

/// One queued task. The payload is decoded here, not by apalis: a payload
/// apalis could not decode would stop the whole worker.
async fn handle(
    payload: serde_json::Value,
    runner: Data<Arc<JobRunner>>,
) -> Result<(), BoxDynError> {
    let task: TaskPayload = match serde_json::from_value(payload) {
        Ok(task) => task,
        Err(e) => return Err(AbortError::new(format!("unreadable task payload: {e}")).into()),
    };
    match runner.run(&task.job_id).await {
        Ok(RunOutcome::RetryLater { error, .. }) => Err(error.into()),
        // Recorded on the job; the queue must not run it again.
        Ok(RunOutcome::Failed(error) | RunOutcome::DeadLettered(error)) => {
            Err(AbortError::new(error).into())
        }
        // Offered again after a short delay; the queue's attempt is refunded.
        Ok(RunOutcome::Throttled) => {
            Err("the organization runs as many exports as it may; waiting for one to finish".into())
        }
        // A superseded run's result is ignored by the queue too: the task
        // is locked by the worker that claimed it since.
        Ok(
            RunOutcome::Completed
            | RunOutcome::Cancelled
            | RunOutcome::Skipped
            | RunOutcome::Superseded,
        ) => Ok(()),
        Err(e) => {
            tracing::error!(job = %task.job_id, error = %format!("{e:#}"), "running the export failed");
            Err(format!("{e:#}").into())
        }
    }
}
