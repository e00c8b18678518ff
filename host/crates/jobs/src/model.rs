//! What a client asks for and what the service records about it.

use serde::{Deserialize, Serialize};

use exporter_auth::{Coverage, Role};
pub use exporter_export::request::{DateRange, ExportRequest, Filters, OptionValue, RequestError};
use exporter_runtime::Warnings;

/// A job's state. `Pending -> Processing -> Completed -> Expired`, or
/// `Failed` / `Cancelled` on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum JobStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
    Expired,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Pending,
        JobStatus::Processing,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "Pending",
            JobStatus::Processing => "Processing",
            JobStatus::Completed => "Completed",
            JobStatus::Failed => "Failed",
            JobStatus::Cancelled => "Cancelled",
            JobStatus::Expired => "Expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Still going: clients should poll again.
    pub fn is_active(self) -> bool {
        matches!(self, JobStatus::Pending | JobStatus::Processing)
    }
}

/// One row of `export_jobs`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRecord {
    pub id: String,
    /// The organization of the user who created the job (where its files
    /// are stored and whose format canary it runs). Not whose data it
    /// holds: see `covered_organization_id`.
    pub organization_id: String,
    pub created_by: String,
    pub data_type: String,
    pub format: String,
    pub request: String,
    pub status: String,
    pub rows_written: i64,
    pub total_rows: Option<i64>,
    pub bytes_written: i64,
    pub attempts: i64,
    pub max_attempts: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub file_key: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub file_size: Option<i64>,
    pub file_rows: Option<i64>,
    pub sha256: Option<String>,
    pub plugin_name: Option<String>,
    pub plugin_version: Option<String>,
    pub plugin_sha256: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    /// 1 when the job failed after its last attempt (a dead letter).
    pub dead_lettered: i64,
    /// What the plugin wrote, when the stored file is compressed.
    pub uncompressed_size: Option<i64>,
    pub callback_url: Option<String>,
    /// The organization whose rows the job reads; NULL for every
    /// organization's. Who may see the job follows from it (`coverage`).
    pub covered_organization_id: Option<String>,
    /// What the plugin reported changing in the data, as JSON; set when
    /// the job completes (see [`JobRecord::warnings`]).
    pub warnings: Option<String>,
    /// The catalog version of `data_type` the job reads; NULL for jobs
    /// created before the catalog, which read its current version.
    pub dataset_version: Option<i64>,
    /// The role its creator had when it was created (see
    /// [`JobRecord::reader_role`]).
    pub reader_role: Option<String>,
}

impl JobRecord {
    /// Whose rows the job's files hold.
    pub fn coverage(&self) -> Coverage {
        Coverage::from_column(self.covered_organization_id.as_deref())
    }

    /// The role whose view of the dataset the job exports: its creator's
    /// when it was created. Jobs from before column access read as a
    /// Manager, the least a role that exports may see.
    pub fn reader_role(&self) -> Role {
        self.reader_role
            .as_deref()
            .and_then(Role::parse)
            .unwrap_or(Role::Manager)
    }

    pub fn status(&self) -> JobStatus {
        // The table's CHECK constraint admits only these values.
        JobStatus::parse(&self.status).unwrap_or(JobStatus::Failed)
    }

    /// The plugin's warnings; an unreadable column reads as none (it is
    /// only ever written from [`Warnings`]).
    pub fn warnings(&self) -> Warnings {
        self.warnings
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }

    pub fn request(&self) -> anyhow::Result<ExportRequest> {
        serde_json::from_str(&self.request)
            .map_err(|e| anyhow::anyhow!("job {} has an unreadable request: {e}", self.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_typed_options_and_reject_unknown_fields() {
        let request: ExportRequest = serde_json::from_str(
            r#"{"dataType":"sessions","format":"csv","dateRange":{"from":"2026-01-01","to":"2026-01-31"},
                "filters":{"userId":"u1"},"columns":["id"],"options":{"header":false,"delimiter":";","x":3}}"#,
        )
        .unwrap();
        let query = request
            .query(
                exporter_source::catalog::seed::dataset("sessions"),
                exporter_source::query::Access::unkeyed_superadmin(),
            )
            .unwrap();
        assert_eq!(query.from, Some(20_454));
        assert_eq!(query.to, Some(20_484));
        assert_eq!(
            request.plugin_options(),
            vec![
                ("delimiter".to_owned(), ";".to_owned()),
                ("header".to_owned(), "false".to_owned()),
                ("x".to_owned(), "3".to_owned()),
            ]
        );
        assert!(
            serde_json::from_str::<ExportRequest>(
                r#"{"dataType":"users","format":"csv","colums":[]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let mut request: ExportRequest =
            serde_json::from_str(r#"{"dataType":"orders","format":"csv"}"#).unwrap();
        assert_eq!(
            request.unknown_dataset(["sessions", "users"]).to_string(),
            "dataType \"orders\" is not a dataset you can export; yours are: sessions, users \
             (GET /api/datasets lists them)"
        );
        request.data_type = "users".into();
        request.date_range = Some(DateRange {
            from: Some("2026-13-01".into()),
            to: None,
        });
        assert!(
            request
                .query(
                    exporter_source::catalog::seed::dataset("users"),
                    exporter_source::query::Access::unkeyed_superadmin(),
                )
                .unwrap_err()
                .to_string()
                .contains("dateRange.from")
        );
    }
}
