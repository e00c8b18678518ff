//! Signed download links of a job's file and parts, as the API shows them
//! and callbacks deliver them.

use std::time::Duration;

use exporter_export::parts::PartRecord;
use exporter_store::blob::{BlobStore, LinkSigner};
use exporter_store::db::{Database, now_micros};

use crate::model::{JobRecord, JobStatus};
use crate::view::PartView;

/// Why a link could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LinkFailure {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A stored key the blob store refuses, or the store's signer failed:
    /// our fault, never the caller's.
    #[error("{0}")]
    Internal(String),
}

/// Mints the links: a store-signed URL where the blob store can sign
/// (S3, Azure, GCS), else a link to this API signed with our key.
#[derive(Clone)]
pub struct JobLinks {
    pub blobs: BlobStore,
    pub signer: LinkSigner,
    /// Base URL of download links served by this API.
    pub public_url: String,
    /// How long a link stays valid (never past the file's expiry).
    pub ttl: Duration,
}

impl JobLinks {
    /// A signed download link for a completed job: (url, expires, µs).
    pub async fn download(&self, job: &JobRecord) -> Result<Option<(String, i64)>, LinkFailure> {
        if job.status() != JobStatus::Completed {
            return Ok(None);
        }
        let key = job.file_key.as_deref().unwrap_or_default();
        let path = format!("/api/files/{}", job.id);
        self.signed(key, &job.id, &path, job.expires_at).await
    }

    /// For an export in parts, its published parts with their links.
    pub async fn published_parts(
        &self,
        db: &Database,
        job: &JobRecord,
    ) -> Result<Option<Vec<PartView>>, LinkFailure> {
        if !job.request().is_ok_and(|r| r.is_parted()) {
            return Ok(None);
        }
        let mut parts = Vec::new();
        for part in exporter_export::parts::store::parts_of(db, &job.id).await? {
            let link = self.part(job, &part).await?;
            parts.push(PartView::new(&part, link));
        }
        Ok(Some(parts))
    }

    /// A signed link to one published part: while the export runs, and
    /// until its files expire.
    pub async fn part(
        &self,
        job: &JobRecord,
        part: &PartRecord,
    ) -> Result<Option<(String, i64)>, LinkFailure> {
        if matches!(job.status(), JobStatus::Expired | JobStatus::Cancelled) {
            return Ok(None);
        }
        let number = part.part_index + 1;
        let subject = part_link_subject(&job.id, number);
        let path = format!("/api/files/{}/parts/{number}", job.id);
        let file_expires = job
            .expires_at
            .filter(|_| job.status() == JobStatus::Completed);
        self.signed(&part.blob_key, &subject, &path, file_expires)
            .await
    }

    /// A store-signed URL for `key`, or our own link to `path` signed over
    /// `subject`, valid for the link TTL but never past `file_expires`.
    async fn signed(
        &self,
        key: &str,
        subject: &str,
        path: &str,
        file_expires: Option<i64>,
    ) -> Result<Option<(String, i64)>, LinkFailure> {
        let now = now_micros();
        let expires = (now + self.ttl.as_micros() as i64).min(file_expires.unwrap_or(i64::MAX));
        if expires <= now {
            return Ok(None);
        }
        let key = self
            .blobs
            .parse_key(key)
            .map_err(|e| LinkFailure::Internal(e.to_string()))?;
        let ttl = Duration::from_micros((expires - now) as u64);
        if let Some(signed) = self.blobs.presigned_url(&key, ttl).await {
            let url = signed
                .map_err(|e| LinkFailure::Internal(format!("signing a download link: {e}")))?;
            return Ok(Some((url.to_string(), expires)));
        }
        let expires_seconds = (expires / 1_000_000) as u64;
        let sig = self.signer.sign(subject, expires_seconds);
        let url = format!(
            "{}{path}?expires={expires_seconds}&sig={sig}",
            self.public_url
        );
        Ok(Some((url, expires_seconds as i64 * 1_000_000)))
    }
}

/// What a part's link signs: not a job id (ULIDs have no `/`), so a part's
/// link never opens the job's file or another part.
pub fn part_link_subject(job_id: &str, number: i64) -> String {
    format!("{job_id}/parts/{number}")
}
