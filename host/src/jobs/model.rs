//! What a client asks for and what the service records about it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::batch::time;
use crate::blob::Compression;
use crate::source::{DataType, ExportQuery};

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

/// `POST /api/export-jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportRequest {
    /// `sessions`, `users` or `analytics`.
    #[schema(example = "sessions")]
    pub data_type: String,
    /// An installed format: `csv`, `json`, `ndjson`, ... (`excel` means `xlsx`).
    #[schema(example = "csv")]
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_range: Option<DateRange>,
    #[serde(default, skip_serializing_if = "Filters::is_empty")]
    pub filters: Filters,
    /// Columns to export, in order; all of the dataset's when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Format options, as the format's `options` list describes them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, OptionValue>,
    /// Compress the file as it is written: `gzip` or `zstd`. The file's
    /// name, media type, size and sha256 are then the compressed file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
    /// POSTed the job's JSON, signed, when the job is Completed, Failed or
    /// Cancelled (see `GET /api/callback-secret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://hooks.example.com/exports")]
    pub callback_url: Option<String>,
    /// Write the export as several files of at most this many rows each,
    /// plus `manifest.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 1000000)]
    pub part_max_rows: Option<u64>,
    /// Write the export as several files, each closed at the first row
    /// after its format has written this many bytes (before compression;
    /// at least 1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_max_bytes: Option<u64>,
}

/// Inclusive days, `YYYY-MM-DD` (UTC).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DateRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-01-01")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-01-31")]
    pub to: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// SuperAdmin only; everyone else exports their own organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

impl Filters {
    fn is_empty(&self) -> bool {
        self.user_id.is_none() && self.organization_id.is_none()
    }
}

/// A format option's value: options are text to the plugin, but JSON
/// clients may send numbers and booleans as themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OptionValue {
    Text(String),
    Bool(bool),
    Number(serde_json::Number),
}

impl utoipa::PartialSchema for OptionValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .into()
    }
}

impl utoipa::ToSchema for OptionValue {}

impl OptionValue {
    pub fn to_text(&self) -> String {
        match self {
            OptionValue::Text(text) => text.clone(),
            OptionValue::Bool(b) => b.to_string(),
            OptionValue::Number(n) => n.to_string(),
        }
    }
}

/// Why a request cannot become a query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("dataType {0:?} is not one of sessions, users, analytics")]
    DataType(String),
    #[error("dateRange.{field} {value:?} is not a date like 2026-01-31")]
    Date { field: &'static str, value: String },
}

impl ExportRequest {
    /// The dataset, checked.
    pub fn data_type(&self) -> Result<DataType, RequestError> {
        match self.data_type.as_str() {
            "sessions" => Ok(DataType::Sessions),
            "users" => Ok(DataType::Users),
            "analytics" => Ok(DataType::Analytics),
            other => Err(RequestError::DataType(other.to_owned())),
        }
    }

    /// The query this request runs. `filters.organizationId` must already be
    /// resolved to the caller's scope (see the API's create handler).
    pub fn query(&self) -> Result<ExportQuery, RequestError> {
        let range = self.date_range.clone().unwrap_or_default();
        Ok(ExportQuery {
            data_type: self.data_type()?,
            organization_id: self.filters.organization_id.clone(),
            user_id: self.filters.user_id.clone(),
            from: parse_day("from", range.from.as_deref())?,
            to: parse_day("to", range.to.as_deref())?,
            columns: self.columns.clone(),
        })
    }

    /// Whether the export is written in parts.
    pub fn is_parted(&self) -> bool {
        self.part_max_rows.is_some() || self.part_max_bytes.is_some()
    }

    /// The format options as the plugin takes them.
    pub fn plugin_options(&self) -> Vec<(String, String)> {
        self.options
            .iter()
            .map(|(k, v)| (k.clone(), v.to_text()))
            .collect()
    }
}

fn parse_day(field: &'static str, value: Option<&str>) -> Result<Option<i32>, RequestError> {
    value
        .map(|text| {
            time::parse_date(text).ok_or_else(|| RequestError::Date {
                field,
                value: text.to_owned(),
            })
        })
        .transpose()
}

/// One row of `export_jobs`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRecord {
    pub id: String,
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
}

impl JobRecord {
    pub fn status(&self) -> JobStatus {
        // The table's CHECK constraint admits only these values.
        JobStatus::parse(&self.status).unwrap_or(JobStatus::Failed)
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
        let query = request.query().unwrap();
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
            serde_json::from_str(r#"{"dataType":"dashboard","format":"csv"}"#).unwrap();
        assert_eq!(
            request.query().unwrap_err(),
            RequestError::DataType("dashboard".into())
        );
        request.data_type = "users".into();
        request.date_range = Some(DateRange {
            from: Some("2026-13-01".into()),
            to: None,
        });
        assert!(
            request
                .query()
                .unwrap_err()
                .to_string()
                .contains("dateRange.from")
        );
    }
}
