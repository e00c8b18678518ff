//! The process's one reader of the job change log.
//!
//! Five hundred browsers watching their exports must not mean five hundred
//! pollers of the database: one task reads `job_events` every
//! [`POLL_INTERVAL`], builds the view of each changed job once (as
//! `GET /api/export-jobs/{id}` shows it), and broadcasts it; each
//! subscriber keeps what its caller may see. Views are built only while
//! someone listens.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::export_jobs::full_view;
use crate::problem::Problem;
use crate::state::AppState;
use exporter_jobs::events::{self, ChangeCursor, FeedEvent, JobChange};

/// How often the change log is read.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How often old events are deleted.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Reads the change log until `shutdown`. Spawned once per API process.
pub async fn run_job_feed(state: AppState, shutdown: CancellationToken) {
    let feed = state.events.clone();
    let mut cursor = loop {
        match events::latest(&state.db).await {
            Ok(head) => break ChangeCursor::after(head),
            Err(e) => {
                tracing::warn!(error = %e, "reading the job change log; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    feed.advance(cursor.watermark());
    let mut pruned = Instant::now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        let changes = match cursor.read(&state.db).await {
            Ok(changes) => changes,
            Err(e) => {
                tracing::warn!(error = %e, "reading the job change log");
                continue;
            }
        };
        let watermark = cursor.watermark();
        let built = match feed.has_subscribers() {
            false => Vec::new(),
            true => build(&state, coalesce(changes), watermark).await,
        };
        // The watermark moves before the events go out: a subscriber that
        // joins in between is sent them and also joins at the new mark
        // (twice is harmless), never the old mark without them.
        feed.advance(watermark);
        for event in built {
            feed.publish(event);
        }
        if pruned.elapsed() >= PRUNE_INTERVAL {
            pruned = Instant::now();
            if let Err(e) = events::prune(&state.db).await {
                tracing::warn!(error = %e, "pruning the job change log");
            }
        }
    }
}

/// The last change of each job, in the order of those changes: a client
/// is sent a job's state, not its every step.
pub(crate) fn coalesce(changes: Vec<JobChange>) -> Vec<JobChange> {
    let mut last: BTreeMap<String, JobChange> = BTreeMap::new();
    for change in changes {
        last.insert(change.job_id.clone(), change);
    }
    let mut changes: Vec<JobChange> = last.into_values().collect();
    changes.sort_by_key(|c| c.id);
    changes
}

/// Each change's event: the job as it is now (read once for everyone).
pub(crate) async fn build(
    state: &AppState,
    changes: Vec<JobChange>,
    resume_after: i64,
) -> Vec<FeedEvent> {
    let mut built = Vec::with_capacity(changes.len());
    for change in changes {
        let view = match change.removed {
            true => None,
            false => match view_of(state, &change.job_id).await {
                Ok(view) => view,
                Err(e) => {
                    tracing::warn!(
                        job = change.job_id,
                        detail = e.detail.as_deref().unwrap_or_default(),
                        "building a job's event"
                    );
                    continue;
                }
            },
        };
        built.push(FeedEvent {
            resume_after,
            job_id: change.job_id,
            coverage: change.coverage,
            created_by: change.created_by,
            view,
        });
    }
    built
}

async fn view_of(state: &AppState, id: &str) -> Result<Option<String>, Problem> {
    let Some(job) = state.repo.get(id).await? else {
        return Ok(None);
    };
    let errors = state.repo.errors(id).await?;
    let view = full_view(state, &job, &errors).await?;
    Ok(Some(serde_json::to_string(&view).map_err(|e| {
        Problem::internal(format!("serializing a job: {e}"))
    })?))
}
