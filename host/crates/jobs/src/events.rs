//! The change log of export jobs (`job_events`, written by triggers on
//! `export_jobs`), read in id order for the event stream.
//!
//! On SQLite ids are handed out in commit order. On PostgreSQL they come
//! from a sequence and a transaction that took id 7 can commit after the
//! one that took id 8: a reader that only asked for "after 8" would never
//! see 7. [`ChangeCursor`] remembers such holes for [`GAP_PATIENCE`] and
//! asks for them again; its [`ChangeCursor::watermark`] is the id below
//! which nothing can still arrive, which is what a client may safely resume
//! after.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, broadcast};

use exporter_auth::Coverage;
use exporter_store::db::{self, Database, now_micros};

/// How long a hole in the ids is waited for: longer than any transaction
/// that writes `export_jobs` stays open. A hole still empty by then was a
/// rolled-back transaction's id.
pub const GAP_PATIENCE: Duration = Duration::from_secs(10);

/// How long events are kept for clients that reconnect.
pub const RETENTION: Duration = Duration::from_secs(3600);

/// Events read per query.
const BATCH: i64 = 1000;

/// One change of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobChange {
    pub id: i64,
    pub job_id: String,
    /// The job was deleted (it expired, or a user removed it).
    pub removed: bool,
    pub coverage: Coverage,
    pub created_by: String,
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    id: i64,
    job_id: String,
    removed: i64,
    covered_organization_id: Option<String>,
    created_by: String,
}

impl From<ChangeRow> for JobChange {
    fn from(row: ChangeRow) -> Self {
        Self {
            id: row.id,
            job_id: row.job_id,
            removed: row.removed != 0,
            coverage: Coverage::from_column(row.covered_organization_id.as_deref()),
            created_by: row.created_by,
        }
    }
}

const COLUMNS: &str =
    "id, job_id, CAST(removed AS BIGINT) AS removed, covered_organization_id, created_by";

/// The log's newest id (0 when empty).
pub async fn latest(db: &Database) -> sqlx::Result<i64> {
    let row: Option<(Option<i64>,)> =
        db::fetch_optional(db, "SELECT MAX(id) FROM job_events", &[]).await?;
    Ok(row.and_then(|(id,)| id).unwrap_or(0))
}

/// The oldest id still kept (None when empty): a client that resumes from
/// before it has missed events that are gone.
pub async fn oldest(db: &Database) -> sqlx::Result<Option<i64>> {
    let row: Option<(Option<i64>,)> =
        db::fetch_optional(db, "SELECT MIN(id) FROM job_events", &[]).await?;
    Ok(row.and_then(|(id,)| id))
}

/// Changes after `after`, oldest first, at most [`BATCH`].
pub async fn after(db: &Database, after: i64) -> sqlx::Result<Vec<JobChange>> {
    let rows: Vec<ChangeRow> = db::fetch_all(
        db,
        &format!("SELECT {COLUMNS} FROM job_events WHERE id > ? ORDER BY id LIMIT {BATCH}"),
        &[after.into()],
    )
    .await?;
    Ok(rows.into_iter().map(JobChange::from).collect())
}

/// Changes with these ids (the holes a cursor waits on).
async fn with_ids(db: &Database, ids: &[i64]) -> sqlx::Result<Vec<JobChange>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; ids.len()].join(", ");
    let args: Vec<db::Arg> = ids.iter().map(|&id| id.into()).collect();
    let rows: Vec<ChangeRow> = db::fetch_all(
        db,
        &format!("SELECT {COLUMNS} FROM job_events WHERE id IN ({marks}) ORDER BY id"),
        &args,
    )
    .await?;
    Ok(rows.into_iter().map(JobChange::from).collect())
}

/// Deletes events older than [`RETENTION`]; returns how many.
pub async fn prune(db: &Database) -> sqlx::Result<u64> {
    let cutoff = now_micros() - RETENTION.as_micros() as i64;
    db::execute(db, "DELETE FROM job_events WHERE at < ?", &[cutoff.into()]).await
}

/// Reads the log forward, holes included (see the module's comment).
#[derive(Debug)]
pub struct ChangeCursor {
    /// The highest id read.
    head: i64,
    /// Ids below `head` not yet seen, and since when they are missed.
    holes: BTreeMap<i64, Instant>,
}

impl ChangeCursor {
    /// A cursor that reads what comes after `id`.
    pub fn after(id: i64) -> Self {
        Self {
            head: id,
            holes: BTreeMap::new(),
        }
    }

    /// The id below which every change has been read or given up on: a
    /// client that saw everything up to here may resume after it.
    pub fn watermark(&self) -> i64 {
        match self.holes.keys().next() {
            Some(&first_hole) => first_hole - 1,
            None => self.head,
        }
    }

    /// The changes that arrived since the last read, holes filled included,
    /// oldest first.
    pub async fn read(&mut self, db: &Database) -> sqlx::Result<Vec<JobChange>> {
        let waited: Vec<i64> = self.holes.keys().copied().collect();
        let mut changes = with_ids(db, &waited).await?;
        for change in &changes {
            self.holes.remove(&change.id);
        }
        let fresh = after(db, self.head).await?;
        let now = Instant::now();
        for change in &fresh {
            // Every id between the previous head and this one is a hole.
            for missing in self.head + 1..change.id {
                self.holes.insert(missing, now);
            }
            self.head = change.id;
        }
        self.holes
            .retain(|_, since| now.duration_since(*since) < GAP_PATIENCE);
        changes.extend(fresh);
        Ok(changes)
    }
}

/// Events a slow subscriber may fall behind before it re-reads the log.
const CAPACITY: usize = 1024;

/// One job's change as subscribers receive it.
#[derive(Debug)]
pub struct FeedEvent {
    /// What a client that has this event may resume after.
    pub resume_after: i64,
    pub job_id: String,
    pub coverage: Coverage,
    pub created_by: String,
    /// The job as `GET /api/export-jobs/{id}` shows it (JSON, built once
    /// for every subscriber), or None when it is gone.
    pub view: Option<String>,
}

/// A process's job changes, from its one reader of the log to every
/// subscriber of the event stream.
#[derive(Clone)]
pub struct JobFeed {
    sender: broadcast::Sender<Arc<FeedEvent>>,
    /// Every change up to here has been published (-1: not started).
    watermark: Arc<AtomicI64>,
    started: Arc<Notify>,
}

impl Default for JobFeed {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
            watermark: Arc::new(AtomicI64::new(-1)),
            started: Arc::new(Notify::new()),
        }
    }
}

impl JobFeed {
    /// A new subscriber, and the watermark at which it joins: what it
    /// receives from here on is everything after that.
    pub async fn subscribe(&self) -> (broadcast::Receiver<Arc<FeedEvent>>, i64) {
        loop {
            let notified = self.started.notified();
            let receiver = self.sender.subscribe();
            let watermark = self.watermark();
            if watermark >= 0 {
                return (receiver, watermark);
            }
            // The reader has not read the log's head yet (the process is
            // starting).
            notified.await;
        }
    }

    /// Every change up to here has been published (-1 before the reader
    /// has started).
    pub fn watermark(&self) -> i64 {
        self.watermark.load(Ordering::Acquire)
    }

    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// The reader has published everything up to `watermark`.
    pub fn advance(&self, watermark: i64) {
        if self.watermark.swap(watermark, Ordering::AcqRel) < 0 {
            self.started.notify_waiters();
        }
    }

    pub fn publish(&self, event: FeedEvent) {
        // No subscriber left is no error.
        let _ = self.sender.send(Arc::new(event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_stays_below_the_first_hole() {
        let mut cursor = ChangeCursor::after(4);
        assert_eq!(cursor.watermark(), 4);
        cursor.head = 9;
        cursor.holes.insert(6, Instant::now());
        cursor.holes.insert(7, Instant::now());
        assert_eq!(cursor.watermark(), 5);
        cursor.holes.remove(&6);
        assert_eq!(cursor.watermark(), 6);
        cursor.holes.clear();
        assert_eq!(cursor.watermark(), 9);
    }
}
