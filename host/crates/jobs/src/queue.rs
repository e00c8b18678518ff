//! The job queue: apalis with its SQLite or PostgreSQL storage, in the
//! application's database. The queue carries only a job id; the job's state
//! lives in `export_jobs`.
//!
//! Pickup: a job created through this process's API wakes the worker at
//! once (after the creating transaction commits). Jobs from other processes
//! are announced by PostgreSQL's LISTEN/NOTIFY, or found by a short poll on
//! SQLite. The poll uses [`Tick`] rather than apalis's
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
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use sqlx::AssertSqlSafe;
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

use super::model::JobRecord;
use super::repo::{JobRepo, NewJob};
use exporter_store::bind_args;
use exporter_store::db::{Database, postgres_placeholders};

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

/// The job row a statement returns, inside transaction `$tx`.
macro_rules! record_in {
    ($tx:ident, $sql:expr, $args:expr) => {
        bind_args!(sqlx::query_as::<_, JobRecord>(AssertSqlSafe($sql)), $args)
            .fetch_optional(&mut *$tx)
            .await?
    };
}

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
            // The `apalis` schema, with its history in `apalis._sqlx_migrations`.
            Database::Postgres(pool) => PostgresStorage::<()>::setup(pool)
                .await
                .context("migrating the job queue")?,
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
        // The task's id is the job's id, which makes it easy to find in the
        // queue's tables (`delay_retry`, `redrive`).
        let inserted = match &self.db {
            Database::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                let record = record_in!(tx, sql, &args);
                if record.is_some() {
                    push_sqlite(&mut tx, &job.id, job.max_attempts).await?;
                    tx.commit().await?;
                }
                record
            }
            Database::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let record = record_in!(tx, postgres_placeholders(&sql), &args);
                if record.is_some() {
                    push_postgres(&mut tx, &job.id, job.max_attempts).await?;
                    tx.commit().await?;
                }
                record
            }
        };
        let Some(record) = inserted else {
            let key = job.idempotency_key.as_deref().unwrap_or_default();
            let existing = JobRepo::new(self.db.clone())
                .by_idempotency_key(&job.created_by, key)
                .await?
                .context("an insert conflicted, but no job has its idempotency key")?;
            return Ok(Err(existing));
        };
        // After the commit, so the woken worker finds the row.
        self.wake.notify_one();
        Ok(Ok(record))
    }

    /// Puts a Failed job (a dead letter, or a job that failed for good)
    /// back to Pending with all its attempts and makes its task runnable
    /// again, atomically. `None` when the job is not Failed.
    pub async fn redrive(&self, id: &str) -> anyhow::Result<Option<JobRecord>> {
        let (sql, args) = JobRepo::redrive_statement(id);
        let updated = match &self.db {
            Database::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                let record = record_in!(tx, sql, &args);
                if let Some(record) = &record {
                    let reset = sqlx::query(
                        "UPDATE Jobs SET status = 'Pending', attempts = 0, max_attempts = ?, \
                         run_at = strftime('%s', 'now'), lock_by = NULL, lock_at = NULL, done_at = NULL \
                         WHERE id = ? AND job_type = ?",
                    )
                    .bind(record.max_attempts)
                    .bind(id)
                    .bind(QUEUE_NAME)
                    .execute(&mut *tx)
                    .await
                    .context("re-queueing the job")?;
                    if reset.rows_affected() == 0 {
                        push_sqlite(&mut tx, id, record.max_attempts).await?;
                    }
                    tx.commit().await?;
                }
                record
            }
            Database::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let record = record_in!(tx, postgres_placeholders(&sql), &args);
                if let Some(record) = &record {
                    let reset = sqlx::query(
                        "UPDATE apalis.jobs SET status = 'Pending', attempts = 0, max_attempts = $1, \
                         run_at = now(), lock_by = NULL, lock_at = NULL, done_at = NULL \
                         WHERE id = $2 AND job_type = $3",
                    )
                    .bind(record.max_attempts as i32)
                    .bind(id)
                    .bind(QUEUE_NAME)
                    .execute(&mut *tx)
                    .await
                    .context("re-queueing the job")?;
                    if reset.rows_affected() == 0 {
                        push_postgres(&mut tx, id, record.max_attempts).await?;
                    } else {
                        // apalis's trigger announces inserts only; workers in
                        // other processes hear of this one the same way.
                        sqlx::query("SELECT pg_notify('apalis::job::insert', json_build_object('job_type', $1::text, 'id', $2::text)::text)")
                            .bind(QUEUE_NAME)
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .context("announcing the job")?;
                    }
                    tx.commit().await?;
                }
                record
            }
        };
        if updated.is_some() {
            self.wake.notify_one();
        }
        Ok(updated)
    }

    /// Delays a failed task's next attempt: the queue re-fetches a failed
    /// task as soon as its `run_at` has passed.
    pub async fn delay_retry(&self, job_id: &str, delay: Duration) -> anyhow::Result<()> {
        self.reschedule(job_id, delay, 0)
            .await
            .context("scheduling the retry")
    }

    /// Puts off a task that could not start (its organization is at its
    /// cap) without spending one of its attempts: the queue counts the
    /// handler's refusal as one, so one is added back.
    pub async fn throttle(&self, job_id: &str, delay: Duration) -> anyhow::Result<()> {
        self.reschedule(job_id, delay, 1)
            .await
            .context("putting off the job")
    }

    async fn reschedule(&self, job_id: &str, delay: Duration, refund: i32) -> sqlx::Result<()> {
        let run_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + delay.as_secs().max(1);
        match &self.db {
            Database::Sqlite(pool) => {
                sqlx::query(
                    "UPDATE Jobs SET run_at = ?, max_attempts = max_attempts + ? \
                     WHERE id = ? AND job_type = ?",
                )
                .bind(run_at as i64)
                .bind(refund)
                .bind(job_id)
                .bind(QUEUE_NAME)
                .execute(pool)
                .await?;
            }
            Database::Postgres(pool) => {
                sqlx::query(
                    "UPDATE apalis.jobs SET run_at = to_timestamp($1::double precision), \
                     max_attempts = max_attempts + $2 WHERE id = $3 AND job_type = $4",
                )
                .bind(run_at as f64)
                .bind(refund)
                .bind(job_id)
                .bind(QUEUE_NAME)
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// The database the queue lives in.
    pub(crate) fn database(&self) -> &Database {
        &self.db
    }
}

/// The task that runs job `job_id`, for either engine's push.
fn task(job_id: &str, max_attempts: i64) -> anyhow::Result<Task<Vec<u8>>> {
    let ulid = ulid::Ulid::from_string(job_id).context("job ids are ULIDs")?;
    let payload = serde_json::to_vec(&TaskPayload {
        job_id: job_id.to_owned(),
    })?;
    Ok(TaskBuilder::new(payload)
        .task_id(TaskId::from_ulid(ulid))
        .max_attempts(max_attempts as usize)
        .build())
}

/// Queues job `job_id`'s task inside the caller's transaction.
async fn push_sqlite(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    job_id: &str,
    max_attempts: i64,
) -> anyhow::Result<()> {
    let task = task(job_id, max_attempts)?;
    apalis_sqlite::queries::push_tasks(&mut **tx, QUEUE_NAME, &[task])
        .await
        .context("queueing the job")
}

/// Queues job `job_id`'s task inside the caller's transaction; apalis's
/// trigger notifies the listening workers when it commits.
async fn push_postgres(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    job_id: &str,
    max_attempts: i64,
) -> anyhow::Result<()> {
    let task = task(job_id, max_attempts)?;
    apalis_postgres::queries::push_tasks(&mut **tx, QUEUE_NAME, vec![task])
        .await
        .context("queueing the job")
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
