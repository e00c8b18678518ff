//! A running export's progress: written to its job while it moves, and a
//! watch that notices when it stops moving.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::repo::{JobRepo, Lease};
use exporter_export::Progress;

/// How often a running export writes its progress (and notices a cancel
/// made by another process). Time-based, so the cost is the same whether a
/// batch takes a millisecond or a second.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Writes progress every [`PROGRESS_EVERY`]; cancels the run when the job
/// stopped being Processing (a cancel from another process) or another
/// run claimed it. Runs in the run's span.
pub(super) fn spawn_reporter(
    repo: &JobRepo,
    id: &str,
    lease: Lease,
    progress: Arc<Progress>,
    token: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let repo = repo.clone();
    let id = id.to_owned();
    let reporter = async move {
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
            match repo.progress(&id, lease, now.0 as i64, now.1 as i64).await {
                Ok(true) => {}
                Ok(false) => {
                    token.cancel();
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "recording progress failed"),
            }
        }
    };
    tokio::spawn(reporter.instrument(tracing::Span::current()))
}

/// Resolves once `progress` has not moved for `timeout`.
pub(super) async fn stalled(progress: &Progress, timeout: Duration) {
    let check = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut last = progress.get();
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(check).await;
        let now = progress.get();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= timeout {
            return;
        }
    }
}
