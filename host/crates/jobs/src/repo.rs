//! `export_jobs` storage: one set of SQL for SQLite and PostgreSQL (`?`
//! placeholders, renumbered for PostgreSQL). Every state change is one
//! conditional UPDATE, so concurrent actors (API cancel, worker, sweeper)
//! never overwrite each other's transitions.

use super::model::{JobRecord, JobStatus};
use exporter_auth::{JobScope, Role};
use exporter_runtime::Warnings;
use exporter_store::db::{self, Arg, Database, now_micros};

pub(crate) const COLUMNS: &str = "id, organization_id, created_by, data_type, format, request, status, \
    rows_written, total_rows, bytes_written, attempts, max_attempts, error, created_at, updated_at, \
    started_at, finished_at, expires_at, file_key, file_name, content_type, file_size, file_rows, \
    sha256, plugin_name, plugin_version, plugin_sha256, idempotency_key, request_hash, dead_lettered, \
    uncompressed_size, callback_url, covered_organization_id, warnings, dataset_version, reader_role";

#[derive(Debug, Clone)]
pub struct JobRepo {
    db: Database,
}

/// A job to insert.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    pub organization_id: String,
    pub created_by: String,
    pub data_type: String,
    /// The catalog version of the dataset the job reads.
    pub dataset_version: i64,
    /// The creator's role now: which columns the job may read, and which
    /// masked.
    pub reader_role: Role,
    pub format: String,
    pub request: String,
    pub max_attempts: i64,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub callback_url: Option<String>,
    /// Whose rows it reads: `ExportRequest::coverage` of its request
    /// (None: every organization's).
    pub covered_organization_id: Option<String>,
}

/// What `GET /api/export-jobs` may filter on; visibility comes first.
#[derive(Debug, Clone)]
pub struct JobFilter {
    /// The jobs the caller may see (`Caller::job_scope`).
    pub scope: JobScope,
    /// Only jobs of exactly this organization's rows.
    pub covering: Option<String>,
    pub status: Option<JobStatus>,
    pub data_type: Option<String>,
    pub format: Option<String>,
    pub created_from: Option<i64>,
    pub created_before: Option<i64>,
    /// Only ids below this one (the cursor: ids are ULIDs, newest first).
    pub before_id: Option<String>,
    pub limit: i64,
}

impl JobFilter {
    /// Everything `scope` may see, `limit` at a time.
    pub fn new(scope: JobScope, limit: i64) -> Self {
        Self {
            scope,
            covering: None,
            status: None,
            data_type: None,
            format: None,
            created_from: None,
            created_before: None,
            before_id: None,
            limit,
        }
    }
}

/// What claiming a job for a run found.
#[derive(Debug)]
pub enum Start {
    /// Claimed: the run's writes must carry `lease`.
    Started { job: Box<JobRecord>, lease: Lease },
    /// Its organization already runs as many exports as it may.
    AtCapacity,
    /// Cancelled, deleted or finished: nothing to run.
    NotRunnable,
}

pub use exporter_export::Lease;

/// A re-driven job starts its callback afresh: the callback's delivery
/// columns of `export_jobs` (written by `callbacks::store`) are cleared.
const CALLBACK_RESET: &str = "callback_event = NULL, callback_state = NULL, callback_attempts = 0, \
     callback_next_at = NULL, callback_claimed_until = NULL";

/// The claim's row: the job and the lease generation the claim set.
#[derive(sqlx::FromRow)]
struct Claimed {
    #[sqlx(flatten)]
    job: JobRecord,
    lease: i64,
}

/// One failed attempt, as the job's error history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptError {
    pub attempt: i64,
    /// Microseconds since the epoch (UTC).
    pub at: i64,
    pub error: String,
}

/// A job as a poll reads it ([`JobRepo::get_polled`]).
#[derive(Debug)]
pub struct Polled {
    pub job: Box<JobRecord>,
    /// Every failed attempt's error, oldest first.
    pub errors: Vec<AttemptError>,
    /// Whether the caller's token names a user of its organization.
    pub member: bool,
}

/// One row of [`JobRepo::get_polled`]: the job, one of its errors (if
/// any), and the caller's membership.
#[derive(sqlx::FromRow)]
struct PolledRow {
    #[sqlx(flatten)]
    job: JobRecord,
    error_attempt: Option<i64>,
    error_at: Option<i64>,
    error_text: Option<String>,
    member: i32,
}

/// The file a completed job produced.
#[derive(Debug, Clone)]
pub struct FileRecord {
    pub key: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub rows: i64,
    pub sha256: String,
    pub plugin_name: String,
    pub plugin_version: String,
    pub plugin_sha256: String,
    pub expires_at: i64,
    /// What the plugin wrote, when `size` is of a compressed file.
    pub uncompressed_size: Option<i64>,
    /// What the export stored: the file's size, or for an export in parts
    /// the parts' (whose file is the manifest).
    pub bytes_written: i64,
    /// What the plugin reported changing in the data, over every part.
    pub warnings: Warnings,
}

impl JobRepo {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    async fn fetch_optional(&self, sql: &str, args: &[Arg]) -> sqlx::Result<Option<JobRecord>> {
        db::fetch_optional(&self.db, sql, args).await
    }

    async fn fetch_all(&self, sql: &str, args: &[Arg]) -> sqlx::Result<Vec<JobRecord>> {
        db::fetch_all(&self.db, sql, args).await
    }

    async fn execute(&self, sql: &str, args: &[Arg]) -> sqlx::Result<u64> {
        db::execute(&self.db, sql, args).await
    }

    /// The INSERT of a new job, for the queue to run in the same
    /// transaction as the push (a job is never recorded without its task,
    /// nor queued without its record). Returns the row, or nothing when the
    /// idempotency key was already used by the same user.
    pub(crate) fn insert_statement(job: &NewJob) -> (String, Vec<Arg>) {
        let now = now_micros();
        let sql = format!(
            "INSERT INTO export_jobs (id, organization_id, created_by, data_type, format, request, status, \
             max_attempts, created_at, updated_at, idempotency_key, request_hash, callback_url, \
             covered_organization_id, dataset_version, reader_role) \
             VALUES (?, ?, ?, ?, ?, ?, 'Pending', ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
        );
        let args = vec![
            Arg::from(job.id.as_str()),
            job.organization_id.as_str().into(),
            job.created_by.as_str().into(),
            job.data_type.as_str().into(),
            job.format.as_str().into(),
            job.request.as_str().into(),
            job.max_attempts.into(),
            now.into(),
            now.into(),
            job.idempotency_key.clone().into(),
            job.request_hash.clone().into(),
            job.callback_url.clone().into(),
            job.covered_organization_id.clone().into(),
            job.dataset_version.into(),
            job.reader_role.as_str().into(),
        ];
        (sql, args)
    }

    pub async fn by_idempotency_key(
        &self,
        created_by: &str,
        key: &str,
    ) -> sqlx::Result<Option<JobRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM export_jobs WHERE created_by = ? AND idempotency_key = ?"
        );
        self.fetch_optional(&sql, &[created_by.into(), key.into()])
            .await
    }

    pub async fn get(&self, id: &str) -> sqlx::Result<Option<JobRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM export_jobs WHERE id = ?");
        self.fetch_optional(&sql, &[id.into()]).await
    }

    /// Newest first.
    pub async fn list(&self, filter: &JobFilter) -> sqlx::Result<Vec<JobRecord>> {
        let mut sql = format!("SELECT {COLUMNS} FROM export_jobs WHERE 1 = 1");
        let mut args = Vec::new();
        let mut condition = |sql: &mut String, text: &str, arg: Arg| {
            sql.push_str(text);
            args.push(arg);
        };
        // The same rule as `JobScope::admits`: a NULL coverage (every
        // organization) never equals an organization, so only `Every`
        // lists it.
        match &filter.scope {
            JobScope::Every => {}
            JobScope::Covering(org) => {
                condition(
                    &mut sql,
                    " AND covered_organization_id = ?",
                    org.as_str().into(),
                );
            }
            JobScope::OwnCovering {
                organization_id,
                user_id,
            } => {
                condition(
                    &mut sql,
                    " AND covered_organization_id = ?",
                    organization_id.as_str().into(),
                );
                condition(&mut sql, " AND created_by = ?", user_id.as_str().into());
            }
            JobScope::Nothing => sql.push_str(" AND 1 = 0"),
        }
        if let Some(v) = &filter.covering {
            condition(
                &mut sql,
                " AND covered_organization_id = ?",
                v.as_str().into(),
            );
        }
        if let Some(v) = filter.status {
            condition(&mut sql, " AND status = ?", v.as_str().into());
        }
        if let Some(v) = &filter.data_type {
            condition(&mut sql, " AND data_type = ?", v.as_str().into());
        }
        if let Some(v) = &filter.format {
            condition(&mut sql, " AND format = ?", v.as_str().into());
        }
        if let Some(v) = filter.created_from {
            condition(&mut sql, " AND created_at >= ?", v.into());
        }
        if let Some(v) = filter.created_before {
            condition(&mut sql, " AND created_at < ?", v.into());
        }
        if let Some(v) = &filter.before_id {
            condition(&mut sql, " AND id < ?", v.as_str().into());
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push(filter.limit.into());
        self.fetch_all(&sql, &args).await
    }

    /// Claims a job for a run: Pending (or Processing, when a worker died
    /// mid-run) becomes Processing with one more attempt and fresh progress,
    /// if its organization runs fewer than `organization_cap` exports.
    ///
    /// "Its organization" is the one whose data the job reads (its
    /// coverage), not its creator's: a SuperAdmin's export of globex loads
    /// globex's rows and takes one of globex's slots. Exports of every
    /// organization (coverage NULL) share one pool of their own, capped
    /// alike: they neither take a slot from any one tenant nor run
    /// unbounded.
    pub async fn start(&self, id: &str, organization_cap: usize) -> sqlx::Result<Start> {
        let sql = format!(
            "UPDATE export_jobs SET status = 'Processing', attempts = attempts + 1, lease = lease + 1, \
             started_at = ?, updated_at = ?, rows_written = 0, bytes_written = 0, total_rows = NULL \
             WHERE id = ? AND status IN ('Pending', 'Processing') \
             AND (SELECT COUNT(*) FROM export_jobs AS running \
                  WHERE running.covered_organization_id IS NOT DISTINCT FROM \
                  export_jobs.covered_organization_id \
                  AND running.status = 'Processing' AND running.id <> export_jobs.id) < ? \
             RETURNING {COLUMNS}, lease"
        );
        // `started_at` is read when the claim is made, not before waiting
        // for a connection or the organization's lock: a time taken earlier
        // could predate the finish of the run this one waited for.
        let args = |now: i64| {
            [
                Arg::from(now),
                now.into(),
                id.into(),
                (organization_cap as i64).into(),
            ]
        };
        let started = match &self.db {
            // SQLite runs one writer at a time: the count and the claim are
            // one step.
            Database::Sqlite(_) => {
                db::fetch_optional::<Claimed>(&self.db, &sql, &args(now_micros())).await?
            }
            // Two workers claiming for one organization at once would both
            // see room; the organization's advisory lock orders them (every
            // organization's pool locks on '').
            Database::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "SELECT pg_advisory_xact_lock(hashtext(COALESCE(covered_organization_id, ''))) \
                     FROM export_jobs WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let sql = db::postgres_placeholders(&sql);
                let started = exporter_store::bind_args!(
                    sqlx::query_as::<_, Claimed>(sqlx::AssertSqlSafe(sql)),
                    &args(now_micros())
                )
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                started
            }
        };
        if let Some(Claimed { job, lease }) = started {
            return Ok(Start::Started {
                job: Box::new(job),
                lease: Lease(lease),
            });
        }
        Ok(match self.get(id).await? {
            Some(job) if job.status().is_active() => Start::AtCapacity,
            _ => Start::NotRunnable,
        })
    }

    /// How many Pending jobs were created before job `id` (any
    /// organization's): its place in the queue is that plus one.
    pub async fn pending_ahead(&self, id: &str) -> sqlx::Result<i64> {
        let (ahead,): (i64,) = db::fetch_optional(
            &self.db,
            "SELECT COUNT(*) FROM export_jobs WHERE status = 'Pending' AND id < ?",
            &[id.into()],
        )
        .await?
        .unwrap_or_default();
        Ok(ahead)
    }

    pub async fn set_total_rows(&self, id: &str, lease: Lease, total: i64) -> sqlx::Result<()> {
        self.execute(
            "UPDATE export_jobs SET total_rows = ? WHERE id = ? AND status = 'Processing' AND lease = ?",
            &[total.into(), id.into(), lease.0.into()],
        )
        .await?;
        Ok(())
    }

    /// Records progress; returns false when the job is no longer
    /// Processing (cancelled from elsewhere) or another run claimed it
    /// since `lease`: the run should stop.
    pub async fn progress(
        &self,
        id: &str,
        lease: Lease,
        rows: i64,
        bytes: i64,
    ) -> sqlx::Result<bool> {
        let changed = self
            .execute(
                "UPDATE export_jobs SET rows_written = ?, bytes_written = ?, updated_at = ? \
                 WHERE id = ? AND status = 'Processing' AND lease = ?",
                &[
                    rows.into(),
                    bytes.into(),
                    now_micros().into(),
                    id.into(),
                    lease.0.into(),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Processing -> Completed with its file, if the run still holds
    /// `lease`. False when the job was cancelled meanwhile or another run
    /// claimed it (the caller then deletes its file).
    pub async fn complete(&self, id: &str, lease: Lease, file: &FileRecord) -> sqlx::Result<bool> {
        let now = now_micros();
        let changed = self
            .execute(
                "UPDATE export_jobs SET status = 'Completed', finished_at = ?, updated_at = ?, \
                 error = NULL, rows_written = ?, bytes_written = ?, total_rows = ?, file_key = ?, \
                 file_name = ?, content_type = ?, file_size = ?, file_rows = ?, sha256 = ?, \
                 plugin_name = ?, plugin_version = ?, plugin_sha256 = ?, expires_at = ?, \
                 uncompressed_size = ?, warnings = ? \
                 WHERE id = ? AND status = 'Processing' AND lease = ?",
                &[
                    now.into(),
                    now.into(),
                    file.rows.into(),
                    file.bytes_written.into(),
                    file.rows.into(),
                    file.key.as_str().into(),
                    file.name.as_str().into(),
                    file.content_type.as_str().into(),
                    file.size.into(),
                    file.rows.into(),
                    file.sha256.as_str().into(),
                    file.plugin_name.as_str().into(),
                    file.plugin_version.as_str().into(),
                    file.plugin_sha256.as_str().into(),
                    file.expires_at.into(),
                    file.uncompressed_size.into(),
                    exporter_export::parts::store::warnings_column(&file.warnings).into(),
                    id.into(),
                    lease.0.into(),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Processing -> Failed, for good, if the run still holds `lease`.
    pub async fn fail(&self, id: &str, lease: Lease, error: &str) -> sqlx::Result<bool> {
        let now = now_micros();
        let changed = self
            .execute(
                "UPDATE export_jobs SET status = 'Failed', error = ?, finished_at = ?, updated_at = ? \
                 WHERE id = ? AND status IN ('Pending', 'Processing') AND lease = ?",
                &[error.into(), now.into(), now.into(), id.into(), lease.0.into()],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Processing -> Pending after a transient failure, if the run still
    /// holds `lease`; the error stays visible until the next attempt
    /// succeeds.
    pub async fn retry_later(&self, id: &str, lease: Lease, error: &str) -> sqlx::Result<bool> {
        let changed = self
            .execute(
                "UPDATE export_jobs SET status = 'Pending', error = ?, updated_at = ? \
                 WHERE id = ? AND status = 'Processing' AND lease = ?",
                &[error.into(), now_micros().into(), id.into(), lease.0.into()],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Processing -> Failed for good after the last attempt's transient
    /// failure: a dead letter, for an operator to re-drive. Only while the
    /// run still holds `lease`.
    pub async fn dead_letter(&self, id: &str, lease: Lease, error: &str) -> sqlx::Result<bool> {
        let now = now_micros();
        let changed = self
            .execute(
                "UPDATE export_jobs SET status = 'Failed', dead_lettered = 1, error = ?, \
                 finished_at = ?, updated_at = ? WHERE id = ? AND status IN ('Pending', 'Processing') \
                 AND lease = ?",
                &[error.into(), now.into(), now.into(), id.into(), lease.0.into()],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Keeps a failed attempt's error in the job's history, if the run
    /// still holds `lease` (a superseded run's error is not the job's).
    pub async fn record_error(
        &self,
        id: &str,
        lease: Lease,
        attempt: i64,
        error: &str,
    ) -> sqlx::Result<()> {
        self.execute(
            "INSERT INTO export_job_errors (job_id, attempt, at, error) SELECT ?, ?, ?, ? \
             WHERE EXISTS (SELECT 1 FROM export_jobs WHERE id = ? AND lease = ?) \
             ON CONFLICT DO NOTHING",
            &[
                id.into(),
                attempt.into(),
                now_micros().into(),
                error.into(),
                id.into(),
                lease.0.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// Every failed attempt's error, oldest first.
    pub async fn errors(&self, id: &str) -> sqlx::Result<Vec<AttemptError>> {
        db::fetch_all(
            &self.db,
            "SELECT attempt, at, error FROM export_job_errors WHERE job_id = ? ORDER BY at, attempt",
            &[id.into()],
        )
        .await
    }

    /// Job `id` with its error history, and whether `user_id` is a user of
    /// `organization_id` (the check every token gets), in one statement:
    /// polling a job is the API's hottest path, and three round trips per
    /// poll halved its throughput. `None` when there is no such job.
    pub async fn get_polled(
        &self,
        id: &str,
        user_id: &str,
        organization_id: &str,
    ) -> sqlx::Result<Option<Polled>> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("j.{c}")).collect();
            format!(
                "SELECT {}, e.attempt AS error_attempt, e.at AS error_at, e.error AS error_text, \
                 CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.id = ? AND u.organization_id = ?) \
                 THEN 1 ELSE 0 END AS member \
                 FROM export_jobs j LEFT JOIN export_job_errors e ON e.job_id = j.id \
                 WHERE j.id = ? ORDER BY e.at, e.attempt",
                columns.join(", ")
            )
        });
        let rows: Vec<PolledRow> = db::fetch_all(
            &self.db,
            &SQL,
            &[user_id.into(), organization_id.into(), id.into()],
        )
        .await?;
        let member = rows.first().is_some_and(|row| row.member == 1);
        let mut errors = Vec::new();
        let mut job = None;
        for row in rows {
            if let (Some(attempt), Some(at), Some(error)) =
                (row.error_attempt, row.error_at, row.error_text)
            {
                errors.push(AttemptError { attempt, at, error });
            }
            job.get_or_insert(row.job);
        }
        Ok(job.map(|job| Polled {
            job: Box::new(job),
            errors,
            member,
        }))
    }

    /// The UPDATE that puts a Failed job back to Pending with fresh
    /// attempts, for the queue to run in the same transaction as the push.
    pub(crate) fn redrive_statement(id: &str) -> (String, Vec<Arg>) {
        let sql = format!(
            "UPDATE export_jobs SET status = 'Pending', attempts = 0, dead_lettered = 0, error = NULL, \
             rows_written = 0, bytes_written = 0, total_rows = NULL, started_at = NULL, \
             finished_at = NULL, updated_at = ?, {} WHERE id = ? AND status = 'Failed' \
             RETURNING {COLUMNS}",
            CALLBACK_RESET
        );
        (sql, vec![now_micros().into(), id.into()])
    }

    /// Whether the run that claimed job `id` with `lease` is still its
    /// latest claim (whatever the job's status now).
    pub async fn holds(&self, id: &str, lease: Lease) -> sqlx::Result<bool> {
        let found: Option<(i64,)> = db::fetch_optional(
            &self.db,
            "SELECT lease FROM export_jobs WHERE id = ?",
            &[id.into()],
        )
        .await?;
        Ok(found.is_some_and(|(current,)| current == lease.0))
    }

    /// Pending or Processing -> Cancelled.
    pub async fn cancel(&self, id: &str) -> sqlx::Result<bool> {
        let now = now_micros();
        let changed = self
            .execute(
                "UPDATE export_jobs SET status = 'Cancelled', finished_at = ?, updated_at = ? \
                 WHERE id = ? AND status IN ('Pending', 'Processing')",
                &[now.into(), now.into(), id.into()],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Completed -> Expired (file deleted by retention or by its owner).
    pub async fn expire(&self, id: &str) -> sqlx::Result<bool> {
        let changed = self
            .execute(
                "UPDATE export_jobs SET status = 'Expired', updated_at = ? \
                 WHERE id = ? AND status = 'Completed'",
                &[now_micros().into(), id.into()],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Frees an Expired job's idempotency key: its file is gone, so a
    /// create that reuses the key makes a new job (the key moves to it)
    /// rather than replaying one with nothing to download. The expired
    /// job keeps its record. `false` when the job is not Expired.
    pub async fn release_idempotency_key(&self, id: &str) -> sqlx::Result<bool> {
        let changed = self
            .execute(
                "UPDATE export_jobs SET idempotency_key = NULL \
                 WHERE id = ? AND status = 'Expired' AND idempotency_key IS NOT NULL",
                &[id.into()],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Completed jobs whose file is past its expiry.
    pub async fn expired(&self, now: i64, limit: i64) -> sqlx::Result<Vec<JobRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM export_jobs WHERE status = 'Completed' AND expires_at <= ? \
             ORDER BY expires_at LIMIT ?"
        );
        self.fetch_all(&sql, &[now.into(), limit.into()]).await
    }

    /// Jobs per status, for the metrics endpoint.
    pub async fn count_by_status(&self) -> sqlx::Result<Vec<(String, i64)>> {
        const SQL: &str = "SELECT status, COUNT(*) FROM export_jobs GROUP BY status";
        match &self.db {
            Database::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
            Database::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
        }
    }

    /// A cheap round trip, for readiness.
    pub async fn ping(&self) -> sqlx::Result<()> {
        match &self.db {
            Database::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Database::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        }
    }
}
