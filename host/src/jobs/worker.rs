//! The apalis worker that feeds queued jobs to the [`JobRunner`].

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;

use super::queue::{ExportQueue, TaskPayload, Tick, Wakeups};
use super::runner::{JobRunner, RunOutcome};

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub poll_interval: Duration,
    pub shutdown_timeout: Duration,
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
    let storage_config = apalis_sqlite::Config::default()
        // Claim no more than can run: a claimed job waits for this process
        // even when another worker is idle.
        .batch_size(settings.concurrency)
        .heartbeat_interval(Duration::from_secs(5))
        .missed_heartbeats(3);
    let storage = queue.storage(storage_config);
    let incarnation = format!(
        "exporter-{}-{}",
        std::process::id(),
        ulid::Ulid::generate().to_string().to_ascii_lowercase()
    );
    let monitor = Monitor::new()
        .register(move |restarts| {
            // A restarted worker needs a fresh name: the queue refuses a
            // name whose last heartbeat is recent.
            WorkerBuilder::new(format!("{incarnation}-{restarts}"))
                .backend(
                    storage
                        .clone()
                        .poll_with_strategy(Tick::new(settings.poll_interval, wakeups.clone())),
                )
                .data(runner.clone())
                .concurrency(settings.concurrency)
                .parallelize(tokio::spawn)
                .build(handle)
        })
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
        Ok(RunOutcome::Failed(error)) => Err(AbortError::new(error).into()),
        Ok(RunOutcome::Completed | RunOutcome::Cancelled | RunOutcome::Skipped) => Ok(()),
        Err(e) => {
            tracing::error!(job = %task.job_id, error = %format!("{e:#}"), "running the export failed");
            Err(format!("{e:#}").into())
        }
    }
}
