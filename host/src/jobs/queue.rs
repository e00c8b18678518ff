//! The job queue: apalis with its SQLite storage. The queue carries only a
//! job id; the job's state lives in `export_jobs`.
//!
//! Pickup: a job created through this process's API wakes the worker at
//! once (after the creating transaction commits); jobs from other processes
//! are found by a short poll. The poll uses [`Tick`] rather than apalis's
//! interval strategy, which can lose a wakeup and then sleep until the next
//! heartbeat (see docs/job-service-api-notes.md, trap 1).

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use apalis::prelude::*;
use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy};
use apalis_sqlite::SqliteStorage;
use sqlx::AssertSqlSafe;
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

use super::model::JobRecord;
use super::repo::{JobRepo, NewJob};
use crate::bind_args;
use crate::db::Database;

/// The queue's name in apalis's tables. Explicit, because apalis would
/// otherwise name it after a Rust type and moving the type would orphan
/// every queued job.
pub const QUEUE_NAME: &str = "exporter.exports";

/// What a queued task carries.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskPayload {
    pub job_id: String,
}

/// Pushes jobs and wakes this process's worker.
#[derive(Clone)]
pub struct ExportQueue {
    db: Database,
    wake: Arc<Notify>,
}

/// The worker's side of the in-process wakeups. A wakeup sent while the
/// worker is busy is kept (one permit) until it next waits.
#[derive(Clone)]
pub struct Wakeups(Arc<Notify>);

impl ExportQueue {
    /// Applies apalis's migrations (in their own history table, apart from
    /// ours) and returns the queue with its wakeup receiver.
    pub async fn open(db: &Database) -> anyhow::Result<(Self, Wakeups)> {
        match db {
            Database::Sqlite(pool) => {
                // Not `SqliteStorage::setup`: it would also set per-connection
                // PRAGMAs (synchronous=OFF) on whichever pooled connections it
                // happens to use. Our pool sets its own.
                let mut migrator = SqliteStorage::<()>::migrations();
                migrator.set_ignore_missing(true);
                migrator
                    .run(pool)
                    .await
                    .context("migrating the job queue")?;
            }
            Database::Postgres(_) => anyhow::bail!(
                "the job queue runs on SQLite in this version; PostgreSQL support for the queue is not built yet"
            ),
        }
        let wake = Arc::new(Notify::new());
        Ok((
            Self {
                db: db.clone(),
                wake: wake.clone(),
            },
            Wakeups(wake),
        ))
    }

    /// Records a new job and queues it, atomically. With an idempotency key
    /// the user already used, nothing is written and the existing job is
    /// returned as `Err`.
    pub async fn create(&self, job: &NewJob) -> anyhow::Result<Result<JobRecord, JobRecord>> {
        let (sql, args) = JobRepo::insert_statement(job);
        let Database::Sqlite(pool) = &self.db else {
            unreachable!("the queue is opened on SQLite only")
        };
        let mut tx = pool.begin().await?;
        let inserted = bind_args!(sqlx::query_as::<_, JobRecord>(AssertSqlSafe(sql)), &args)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(record) = inserted else {
            tx.rollback().await?;
            let key = job.idempotency_key.as_deref().unwrap_or_default();
            let existing = JobRepo::new(self.db.clone())
                .by_idempotency_key(&job.created_by, key)
                .await?
                .context("an insert conflicted, but no job has its idempotency key")?;
            return Ok(Err(existing));
        };
        let ulid = ulid::Ulid::from_string(&job.id).context("job ids are ULIDs")?;
        let payload = serde_json::to_vec(&TaskPayload {
            job_id: job.id.clone(),
        })?;
        let task = TaskBuilder::new(payload)
            .task_id(TaskId::from_ulid(ulid))
            .max_attempts(job.max_attempts as usize)
            .build();
        apalis_sqlite::queries::push_tasks(&mut *tx, QUEUE_NAME, &[task])
            .await
            .context("queueing the job")?;
        tx.commit().await?;
        // After the commit, so the woken worker finds the row.
        self.wake.notify_one();
        Ok(Ok(record))
    }

    /// Delays a failed task's next attempt: the queue re-fetches a failed
    /// task as soon as its `run_at` has passed.
    pub async fn delay_retry(&self, job_id: &str, delay: Duration) -> anyhow::Result<()> {
        let run_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + delay.as_secs().max(1);
        if let Database::Sqlite(pool) = &self.db {
            sqlx::query("UPDATE Jobs SET run_at = ? WHERE id = ? AND job_type = ?")
                .bind(run_at as i64)
                .bind(job_id)
                .bind(QUEUE_NAME)
                .execute(pool)
                .await
                .context("scheduling the retry")?;
        }
        Ok(())
    }

    /// The apalis storage a worker consumes.
    pub(crate) fn storage(
        &self,
        config: apalis_sqlite::Config,
    ) -> SqliteStorage<serde_json::Value> {
        let Database::Sqlite(pool) = &self.db else {
            unreachable!("the queue is opened on SQLite only")
        };
        SqliteStorage::new(pool).with_config(config.queue(QUEUE_NAME))
    }
}

/// Wakes the worker on in-process pushes and every `period` otherwise.
/// Polls its timer until `Pending` so a wakeup is always armed.
pub struct Tick {
    interval: tokio::time::Interval,
    notify: Arc<Notify>,
    notified: Pin<Box<OwnedNotified>>,
}

impl Tick {
    pub fn new(period: Duration, wakeups: Wakeups) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let notified = Box::pin(wakeups.0.clone().notified_owned());
        Self {
            interval,
            notify: wakeups.0,
            notified,
        }
    }
}

impl PollStrategy for Tick {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        while self.notified.as_mut().poll(cx).is_ready() {
            fired = true;
            self.notified = Box::pin(self.notify.clone().notified_owned());
        }
        while self.interval.poll_tick(cx).is_ready() {
            fired = true;
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}
