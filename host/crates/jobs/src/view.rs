//! The API's JSON shapes for jobs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::callbacks;
use crate::model::{DateRange, Filters, JobRecord, JobStatus, OptionValue};
use crate::repo::AttemptError;
use exporter_auth::Coverage;
use exporter_export::compress::Compression;
use exporter_export::parts::PartRecord;
use exporter_runtime::Warning;
use exporter_runtime::batch::time::format_timestamp;

/// An export job as clients see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub id: String,
    pub status: JobStatus,
    pub data_type: String,
    /// The catalog version of the dataset the job reads (absent for jobs
    /// created before the catalog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_version: Option<i64>,
    pub format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_range: Option<DateRange>,
    pub filters: Filters,
    pub columns: Vec<String>,
    pub options: BTreeMap<String, OptionValue>,
    /// The time zone instants are shown in (asked for, or the
    /// organization's default when the job was created); absent: UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_max_rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_max_bytes: Option<u64>,
    /// The organization of the user who created the job.
    pub organization_id: String,
    /// Whose rows the job's files hold; who may see the job follows from it.
    pub coverage: CoverageView,
    pub created_by: String,
    pub progress: ProgressView,
    pub attempts: i64,
    pub max_attempts: i64,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// When the file is deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Why the job failed (or, while it is retried, why the last attempt did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the format's plugin had to change in the data to fit the
    /// format (cells cut at Excel's limit, characters the PDF font cannot
    /// draw), each kind with its count and first examples. Set when the
    /// job completes; empty when the file holds the rows unaltered.
    pub warnings: Vec<WarningView>,
    /// Failed after its last attempt: an operator can re-drive it with
    /// `POST /api/admin/export-jobs/{id}/retry`.
    pub dead_lettered: bool,
    /// While Pending, on a single job's view: 1 + the Pending jobs created
    /// before it (of every organization).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<i64>,
    /// Every failed attempt's error, oldest first (on a single job's view).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_history: Vec<AttemptErrorView>,
    /// For an export in parts, on a single job's view: every part
    /// published so far, each downloadable at once (while later parts are
    /// still being written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<PartView>>,
    /// The job's file: for an export in parts, its `manifest.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileView>,
    /// A signed link that needs no token, while Completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url_expires_at: Option<String>,
}

/// Whose rows a job holds: one organization's, or every organization's.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoverageView {
    /// The organization whose rows it holds; absent for every organization's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// Every organization's rows (a SuperAdmin's export with no
    /// organization filter): visible to SuperAdmins only.
    pub all_organizations: bool,
}

impl From<&Coverage> for CoverageView {
    fn from(coverage: &Coverage) -> Self {
        Self {
            organization_id: coverage.to_column(),
            all_organizations: *coverage == Coverage::AllOrganizations,
        }
    }
}

/// One published part of an export in parts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartView {
    /// 1-based.
    pub index: i64,
    pub name: String,
    pub content_type: String,
    pub rows: i64,
    /// Stored bytes.
    pub size: i64,
    /// Lowercase hex sha256 of the stored bytes.
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncompressed_size: Option<i64>,
    /// RFC 3339, UTC.
    pub published_at: String,
    /// A signed link that needs no token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url_expires_at: Option<String>,
}

impl PartView {
    pub fn new(part: &PartRecord, link: Option<(String, i64)>) -> Self {
        let (download_url, download_url_expires_at) = match link {
            Some((url, expires)) => (Some(url), Some(format_timestamp(expires))),
            None => (None, None),
        };
        Self {
            index: part.part_index + 1,
            name: part.name.clone(),
            content_type: part.content_type.clone(),
            rows: part.row_count,
            size: part.size,
            sha256: part.sha256.clone(),
            uncompressed_size: part.uncompressed_size,
            published_at: format_timestamp(part.published_at),
            download_url,
            download_url_expires_at,
        }
    }
}

/// One failed attempt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptErrorView {
    pub attempt: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub error: String,
}

impl From<&AttemptError> for AttemptErrorView {
    fn from(error: &AttemptError) -> Self {
        Self {
            attempt: error.attempt,
            at: format_timestamp(error.at),
            error: error.error.clone(),
        }
    }
}

/// The job's completion callback.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackView {
    pub url: String,
    /// Once the job is final: `Pending` (being delivered), `Delivered` or
    /// `GaveUp` (every attempt failed). On a single job's view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The next attempt, while one is scheduled (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    /// Every delivery attempt, oldest first. On a single job's view.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<CallbackAttemptView>,
}

/// One delivery of a callback.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackAttemptView {
    /// The status the delivery reported.
    pub event: String,
    pub attempt: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// The receiver's answer, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i64>,
    /// Why the attempt failed; absent when delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgressView {
    pub rows_written: i64,
    /// Known once the export has counted its rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_rows: Option<i64>,
    pub bytes_written: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileView {
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub rows: i64,
    /// Lowercase hex sha256 of the file's bytes (as stored: compressed,
    /// when the export asked for compression).
    pub sha256: String,
    /// The size before compression, for a compressed file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncompressed_size: Option<i64>,
    pub plugin: PluginRef,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PluginRef {
    pub name: String,
    pub version: String,
    /// sha256 of the exact component that wrote the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// One kind of change a plugin made to the data to fit its format.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WarningView {
    /// Stable, lower-kebab-case: `cell-truncated`, `glyph-missing`, ...
    #[schema(example = "cell-truncated")]
    pub code: String,
    /// How many times it happened in the whole export.
    pub count: u64,
    /// The first few occurrences, one line each (at most 5 per code).
    pub examples: Vec<String>,
}

impl From<&Warning> for WarningView {
    fn from(warning: &Warning) -> Self {
        Self {
            code: warning.code.clone(),
            count: warning.count,
            examples: warning.examples.clone(),
        }
    }
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobPage {
    pub items: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A fresh signed link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    pub download_url: String,
    pub expires_at: String,
}

impl JobView {
    /// With the job's error history.
    pub fn with_errors(mut self, errors: &[AttemptError]) -> Self {
        self.error_history = errors.iter().map(AttemptErrorView::from).collect();
        self
    }

    /// Adds where the callback stands and its every attempt.
    pub fn with_callback(
        mut self,
        state: Option<&callbacks::store::CallbackState>,
        attempts: &[callbacks::store::Attempt],
    ) -> Self {
        if let (Some(view), Some(state)) = (&mut self.callback, state) {
            view.state = state.callback_state.clone();
            view.next_attempt_at = state
                .callback_next_at
                .filter(|_| state.callback_state.as_deref() == Some("Pending"))
                .map(format_timestamp);
            view.attempts = attempts
                .iter()
                .map(|a| CallbackAttemptView {
                    event: a.event.clone(),
                    attempt: a.attempt,
                    at: format_timestamp(a.at),
                    http_status: a.http_status,
                    error: a.error.clone(),
                    duration_ms: a.duration_ms,
                })
                .collect();
        }
        self
    }

    pub fn new(job: &JobRecord, link: Option<(String, i64)>) -> Self {
        let request = job.request().ok();
        let status = job.status();
        let percent = match (status, job.total_rows) {
            (JobStatus::Completed | JobStatus::Expired, _) => Some(100.0),
            (_, Some(0)) => Some(0.0),
            (_, Some(total)) => {
                Some(((job.rows_written as f64 / total as f64) * 1000.0).round() / 10.0)
            }
            _ => None,
        }
        .map(|p: f64| p.min(100.0));
        let file = match (status, &job.file_name, &job.sha256) {
            (JobStatus::Completed | JobStatus::Expired, Some(name), Some(sha256)) => {
                Some(FileView {
                    name: name.clone(),
                    content_type: job.content_type.clone().unwrap_or_default(),
                    size: job.file_size.unwrap_or_default(),
                    rows: job.file_rows.unwrap_or_default(),
                    sha256: sha256.clone(),
                    uncompressed_size: job.uncompressed_size,
                    plugin: PluginRef {
                        name: job.plugin_name.clone().unwrap_or_default(),
                        version: job.plugin_version.clone().unwrap_or_default(),
                        sha256: job.plugin_sha256.clone(),
                    },
                })
            }
            _ => None,
        };
        let (download_url, download_url_expires_at) = match link {
            Some((url, expires)) => (Some(url), Some(format_timestamp(expires))),
            None => (None, None),
        };
        Self {
            id: job.id.clone(),
            status,
            data_type: job.data_type.clone(),
            dataset_version: job.dataset_version,
            format: job.format.clone(),
            date_range: request.as_ref().and_then(|r| r.date_range.clone()),
            filters: request
                .as_ref()
                .map(|r| r.filters.clone())
                .unwrap_or_default(),
            columns: request
                .as_ref()
                .map(|r| r.columns.clone())
                .unwrap_or_default(),
            time_zone: request.as_ref().and_then(|r| r.time_zone.clone()),
            compression: request.as_ref().and_then(|r| r.compression),
            part_max_rows: request.as_ref().and_then(|r| r.part_max_rows),
            part_max_bytes: request.as_ref().and_then(|r| r.part_max_bytes),
            callback: job.callback_url.clone().map(|url| CallbackView {
                url,
                state: None,
                next_attempt_at: None,
                attempts: Vec::new(),
            }),
            options: request.map(|r| r.options).unwrap_or_default(),
            organization_id: job.organization_id.clone(),
            coverage: CoverageView::from(&job.coverage()),
            created_by: job.created_by.clone(),
            progress: ProgressView {
                rows_written: job.rows_written,
                total_rows: job.total_rows,
                bytes_written: job.bytes_written,
                percent,
            },
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            created_at: format_timestamp(job.created_at),
            updated_at: format_timestamp(job.updated_at),
            started_at: job.started_at.map(format_timestamp),
            finished_at: job.finished_at.map(format_timestamp),
            expires_at: job
                .expires_at
                .filter(|_| status == JobStatus::Completed)
                .map(format_timestamp),
            error: job.error.clone(),
            warnings: job
                .warnings()
                .as_slice()
                .iter()
                .map(WarningView::from)
                .collect(),
            dead_lettered: job.dead_lettered != 0,
            queue_position: None,
            error_history: Vec::new(),
            parts: None,
            file,
            download_url,
            download_url_expires_at,
        }
    }
}
