//! Retention: deletes files past their expiry and marks their jobs
//! `Expired`; clears staging files a crashed process left behind.

use std::time::Duration;

use super::repo::JobRepo;
use exporter_store::blob::BlobStore;
use exporter_store::db::now_micros;

/// Staging files untouched this long belong to no live upload.
const STALE_STAGING: Duration = Duration::from_secs(3600);

/// One sweep; returns how many files expired.
pub async fn sweep(repo: &JobRepo, blobs: &BlobStore) -> anyhow::Result<usize> {
    let mut expired = 0;
    loop {
        let batch = repo.expired(now_micros(), 100).await?;
        if batch.is_empty() {
            break;
        }
        for job in &batch {
            if let Some(key) = &job.file_key {
                blobs.delete(&blobs.parse_key(key)?).await?;
            }
            exporter_export::parts::discard(repo.database(), blobs, &job.id).await?;
            if repo.expire(&job.id).await? {
                expired += 1;
            }
        }
    }
    let blobs = blobs.clone();
    let stale = tokio::task::spawn_blocking(move || blobs.remove_stale_staging(STALE_STAGING))
        .await
        .unwrap_or(0);
    if expired > 0 || stale > 0 {
        tracing::info!(expired, stale_staging = stale, "retention sweep");
    }
    Ok(expired)
}

/// Sweeps every `interval` until `shutdown`.
pub async fn run_sweeper(
    repo: JobRepo,
    blobs: BlobStore,
    interval: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(e) = sweep(&repo, &blobs).await {
            tracing::warn!(error = %format!("{e:#}"), "retention sweep failed; trying again later");
        }
    }
}
