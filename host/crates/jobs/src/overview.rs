//! The queue as an operator sees it: what waits and runs per organization,
//! the last hour's outcomes, and the dead letters.

use exporter_store::db::{self, Arg, now_micros};

use crate::model::JobRecord;
use crate::repo::{COLUMNS, JobRepo};

/// One organization's jobs in the queue.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrganizationLoad {
    pub organization_id: String,
    pub name: String,
    pub pending: i64,
    pub processing: i64,
}

/// What finished in the last hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct LastHour {
    pub completed: i64,
    pub failed: i64,
    pub dead_lettered: i64,
    pub rows_exported: i64,
}

const HOUR_MICROS: i64 = 3_600_000_000;

impl JobRepo {
    /// Pending and Processing jobs per organization: every organization
    /// (an idle one with zeros, so an operator can name it), or only
    /// `organization`.
    pub async fn load_by_organization(
        &self,
        organization: Option<&str>,
    ) -> sqlx::Result<Vec<OrganizationLoad>> {
        let (filter, args): (&str, Vec<Arg>) = match organization {
            Some(org) => (" WHERE o.id = ?", vec![org.into()]),
            None => ("", vec![]),
        };
        db::fetch_all(
            self.database(),
            &format!(
                "SELECT o.id AS organization_id, o.name, \
                   CAST(COALESCE(SUM(CASE WHEN j.status = 'Pending' THEN 1 ELSE 0 END), 0) AS BIGINT) AS pending, \
                   CAST(COALESCE(SUM(CASE WHEN j.status = 'Processing' THEN 1 ELSE 0 END), 0) AS BIGINT) AS processing \
                 FROM organizations o LEFT JOIN export_jobs j \
                   ON j.organization_id = o.id AND j.status IN ('Pending', 'Processing'){filter} \
                 GROUP BY o.id, o.name ORDER BY o.name"
            ),
            &args,
        )
        .await
    }

    /// Jobs that finished in the last hour, by outcome.
    pub async fn last_hour(&self, organization: Option<&str>) -> sqlx::Result<LastHour> {
        let mut args: Vec<Arg> = vec![(now_micros() - HOUR_MICROS).into()];
        let filter = match organization {
            Some(org) => {
                args.push(org.into());
                " AND organization_id = ?"
            }
            None => "",
        };
        let row: Option<LastHour> = db::fetch_optional(
            self.database(),
            &format!(
                "SELECT \
                   CAST(COALESCE(SUM(CASE WHEN status = 'Completed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS completed, \
                   CAST(COALESCE(SUM(CASE WHEN status = 'Failed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed, \
                   CAST(COALESCE(SUM(CASE WHEN status = 'Failed' AND dead_lettered <> 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS dead_lettered, \
                   CAST(COALESCE(SUM(CASE WHEN status = 'Completed' THEN file_rows ELSE 0 END), 0) AS BIGINT) AS rows_exported \
                 FROM export_jobs WHERE finished_at >= ?{filter}"
            ),
            &args,
        )
        .await?;
        Ok(row.unwrap_or_default())
    }

    /// Dead-lettered jobs, newest first (of every organization, or only
    /// `organization`).
    pub async fn dead_letters(
        &self,
        organization: Option<&str>,
        limit: i64,
    ) -> sqlx::Result<Vec<JobRecord>> {
        let (filter, mut args): (&str, Vec<Arg>) = match organization {
            Some(org) => (" AND organization_id = ?", vec![org.into()]),
            None => ("", vec![]),
        };
        args.push(limit.into());
        db::fetch_all(
            self.database(),
            &format!(
                "SELECT {COLUMNS} FROM export_jobs \
                 WHERE status = 'Failed' AND dead_lettered <> 0{filter} ORDER BY id DESC LIMIT ?"
            ),
            &args,
        )
        .await
    }
}

/// How recently a worker must have checked in to count as alive: apalis
/// refreshes `last_seen` on its keep-alive, well within this.
pub const WORKER_SEEN_WITHIN_SECONDS: i64 = 120;

/// Queue workers (of any process) that checked in recently, from apalis's
/// own table.
pub async fn live_workers(database: &db::Database) -> sqlx::Result<i64> {
    let (count,): (i64,) = match database {
        db::Database::Sqlite(pool) => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM Workers WHERE last_seen >= CAST(strftime('%s', 'now') AS INTEGER) - ?",
            )
            .bind(WORKER_SEEN_WITHIN_SECONDS)
            .fetch_one(pool)
            .await?
        }
        db::Database::Postgres(pool) => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM apalis.workers WHERE last_seen >= now() - make_interval(secs => $1)",
            )
            .bind(WORKER_SEEN_WITHIN_SECONDS as f64)
            .fetch_one(pool)
            .await?
        }
    };
    Ok(count)
}
