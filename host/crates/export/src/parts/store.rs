//! `export_parts`: the published parts of exports written in parts.

use crate::Lease;
use exporter_runtime::Warnings;
use exporter_source::{Dataset, RowKey};
use exporter_store::db::{self, Database};

const COLUMNS: &str = "job_id, part_index, name, blob_key, content_type, row_count, size, sha256, \
    uncompressed_size, last_range, last_id, plugin_sha256, published_at, warnings, last_key";

/// One published part.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PartRecord {
    pub job_id: String,
    /// 0-based.
    pub part_index: i64,
    pub name: String,
    pub blob_key: String,
    pub content_type: String,
    pub row_count: i64,
    pub size: i64,
    pub sha256: String,
    pub uncompressed_size: Option<i64>,
    /// Where parts published before keys were typed resume: the range in
    /// microseconds and the id. New parts leave them NULL.
    pub last_range: Option<i64>,
    pub last_id: Option<String>,
    /// The component that wrote it; a resumed export runs the same one.
    pub plugin_sha256: String,
    /// Microseconds since the epoch (UTC).
    pub published_at: i64,
    /// What the plugin reported changing in this part's data, as JSON
    /// ([`Warnings`]); `None` when nothing.
    pub warnings: Option<String>,
    /// Where an export resumes after this part ([`RowKey::to_json`]); NULL
    /// for an empty part.
    pub last_key: Option<String>,
}

impl PartRecord {
    /// This part's warnings; an unreadable column reads as none (it is
    /// only ever written from [`Warnings`]).
    pub fn warnings(&self) -> Warnings {
        self.warnings
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }

    /// Whether the part ends at a row (an empty part does not: it is the
    /// whole of an export with no rows).
    pub fn has_key(&self) -> bool {
        self.last_key.is_some() || self.last_range.is_some()
    }

    /// Where an export of `dataset` continues after this part.
    pub fn resume_key(&self, dataset: &Dataset) -> Option<RowKey> {
        match (&self.last_key, self.last_range, &self.last_id) {
            (Some(json), _, _) => RowKey::from_json(json),
            (None, Some(range), Some(id)) => Some(RowKey::legacy(range, id.clone(), dataset)),
            _ => None,
        }
    }
}

/// How warnings are stored, in a part's row and in its job's: JSON, or
/// NULL when there are none.
pub fn warnings_column(warnings: &Warnings) -> Option<String> {
    (!warnings.is_empty()).then(|| serde_json::to_string(warnings).expect("plain data serializes"))
}

/// A job's parts, in order.
pub async fn parts_of(db: &Database, job_id: &str) -> sqlx::Result<Vec<PartRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM export_parts WHERE job_id = ? ORDER BY part_index");
    db::fetch_all(db, &sql, &[job_id.into()]).await
}

/// One part of a job.
pub async fn part_of(db: &Database, job_id: &str, index: i64) -> sqlx::Result<Option<PartRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM export_parts WHERE job_id = ? AND part_index = ?");
    db::fetch_optional(db, &sql, &[job_id.into(), index.into()]).await
}

/// Records a published part, only while its job is Processing and the run
/// that wrote it still holds `lease`: false when the job was cancelled
/// meanwhile or another run claimed it (the caller then deletes the file).
///
/// On PostgreSQL the job row is share-locked for the insert, so a claim
/// cannot slip in between the check and the insert: a new run that claims
/// the job sees every part an earlier run recorded, and continues after the
/// last of them. (SQLite runs one writer at a time.)
pub async fn insert(db: &Database, part: &PartRecord, lease: Lease) -> sqlx::Result<bool> {
    let sql = format!(
        "INSERT INTO export_parts (job_id, part_index, name, blob_key, content_type, row_count, \
         size, sha256, uncompressed_size, last_range, last_id, plugin_sha256, published_at, \
         warnings, last_key) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS \
         (SELECT 1 FROM export_jobs WHERE id = ? AND status = 'Processing' AND lease = ?{})",
        row_lock(db)
    );
    let inserted = db::execute(
        db,
        &sql,
        &[
            part.job_id.as_str().into(),
            part.part_index.into(),
            part.name.as_str().into(),
            part.blob_key.as_str().into(),
            part.content_type.as_str().into(),
            part.row_count.into(),
            part.size.into(),
            part.sha256.as_str().into(),
            part.uncompressed_size.into(),
            part.last_range.into(),
            part.last_id.clone().into(),
            part.plugin_sha256.as_str().into(),
            part.published_at.into(),
            part.warnings.clone().into(),
            part.last_key.clone().into(),
            part.job_id.as_str().into(),
            lease.0.into(),
        ],
    )
    .await?;
    Ok(inserted == 1)
}

/// Forgets a job's parts (their files are deleted first).
pub async fn delete_all(db: &Database, job_id: &str) -> sqlx::Result<u64> {
    db::execute(
        db,
        "DELETE FROM export_parts WHERE job_id = ?",
        &[job_id.into()],
    )
    .await
}

/// Forgets a job's parts on behalf of the run that holds `lease` (whatever
/// the job's status): nothing when another run claimed the job since, whose
/// resume depends on them. Returns the forgotten parts' keys, for the
/// caller to delete their files.
pub async fn delete_all_fenced(
    db: &Database,
    job_id: &str,
    lease: Lease,
) -> sqlx::Result<Vec<String>> {
    let sql = format!(
        "DELETE FROM export_parts WHERE job_id = ? AND EXISTS \
         (SELECT 1 FROM export_jobs WHERE id = ? AND lease = ?{}) RETURNING blob_key",
        row_lock(db)
    );
    let keys: Vec<(String,)> =
        db::fetch_all(db, &sql, &[job_id.into(), job_id.into(), lease.0.into()]).await?;
    Ok(keys.into_iter().map(|(key,)| key).collect())
}

/// Locks the job row a fenced statement checks until the statement's
/// transaction ends, so a concurrent claim waits for it (PostgreSQL).
fn row_lock(db: &Database) -> &'static str {
    match db {
        Database::Postgres(_) => " FOR SHARE",
        Database::Sqlite(_) => "",
    }
}
