//! `manifest.json`: what an export written in parts consists of, for a
//! client to check it is whole and unaltered without asking the API.

use serde::{Deserialize, Serialize};

use super::store::PartRecord;
use crate::compress::Compression;
use crate::request::{DateRange, ExportRequest, Filters};
use exporter_runtime::batch::time::format_timestamp;
use exporter_runtime::{Column, Warnings};
use exporter_source::catalog::Mask;

/// The manifest's own format version.
pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub manifest_version: u32,
    pub job_id: String,
    pub organization_id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub completed_at: String,
    pub query: ManifestQuery,
    pub format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
    pub plugin: ManifestPlugin,
    /// The columns of every part, in order.
    pub schema: Vec<ManifestColumn>,
    pub total_rows: u64,
    /// The parts' stored bytes.
    pub total_bytes: u64,
    /// What the plugin reported changing in the data to fit the format,
    /// summed over the parts; absent when nothing was changed.
    #[serde(default, skip_serializing_if = "Warnings::is_empty")]
    pub warnings: Warnings,
    pub parts: Vec<ManifestPart>,
}

/// What was exported: the job's request, as normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestQuery {
    pub data_type: String,
    /// The catalog version of the dataset the export read.
    pub dataset_version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_range: Option<DateRange>,
    pub filters: Filters,
    /// Empty when every column was asked for.
    pub columns: Vec<String>,
    /// The time zone instants were shown in; absent: UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_max_rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_max_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestPlugin {
    pub name: String,
    pub version: String,
    /// sha256 of the component that wrote every part.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestColumn {
    pub name: String,
    /// `boolean`, `int64`, `float64`, `decimal`, `text`, `date`,
    /// `timestamp` or `json`.
    #[serde(rename = "type")]
    pub kind: String,
    /// How the column's values were masked for the job's reader (`redact`,
    /// `hash`, `email-domain`, `last4`); absent: in clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked: Option<Mask>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestPart {
    /// 1-based.
    pub index: u32,
    pub name: String,
    pub rows: u64,
    /// Stored bytes (compressed, when compression was asked for).
    pub bytes: u64,
    /// Lowercase hex sha256 of the stored bytes.
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncompressed_bytes: Option<u64>,
    /// This part's share of the manifest's `warnings`.
    #[serde(default, skip_serializing_if = "Warnings::is_empty")]
    pub warnings: Warnings,
}

/// Everything a manifest is built from.
pub struct ManifestInput<'a> {
    pub job_id: &'a str,
    pub organization_id: &'a str,
    pub created_at: i64,
    pub completed_at: i64,
    pub request: &'a ExportRequest,
    pub dataset_version: i64,
    pub schema: &'a [Column],
    /// The masked columns of `schema`, by name.
    pub masked: &'a [(String, Mask)],
    pub plugin: ManifestPlugin,
    pub parts: &'a [PartRecord],
}

impl Manifest {
    pub fn new(input: ManifestInput<'_>) -> Self {
        let request = input.request;
        let parts: Vec<ManifestPart> = input
            .parts
            .iter()
            .map(|p| ManifestPart {
                index: p.part_index as u32 + 1,
                name: p.name.clone(),
                rows: p.row_count as u64,
                bytes: p.size as u64,
                sha256: p.sha256.clone(),
                uncompressed_bytes: p.uncompressed_size.map(|s| s as u64),
                warnings: p.warnings(),
            })
            .collect();
        let mut warnings = Warnings::default();
        for part in &parts {
            warnings.merge(&part.warnings);
        }
        Self {
            manifest_version: MANIFEST_VERSION,
            job_id: input.job_id.to_owned(),
            organization_id: input.organization_id.to_owned(),
            created_at: format_timestamp(input.created_at),
            completed_at: format_timestamp(input.completed_at),
            query: ManifestQuery {
                data_type: request.data_type.clone(),
                dataset_version: input.dataset_version,
                date_range: request.date_range.clone(),
                filters: request.filters.clone(),
                columns: request.columns.clone(),
                time_zone: request.time_zone.clone(),
                part_max_rows: request.part_max_rows,
                part_max_bytes: request.part_max_bytes,
            },
            format: request.format.clone(),
            compression: request.compression,
            plugin: input.plugin,
            schema: input
                .schema
                .iter()
                .map(|c| ManifestColumn {
                    name: c.name.clone(),
                    kind: c.kind.as_str().to_owned(),
                    masked: input
                        .masked
                        .iter()
                        .find(|(name, _)| *name == c.name)
                        .map(|(_, mask)| *mask),
                })
                .collect(),
            total_rows: parts.iter().map(|p| p.rows).sum(),
            total_bytes: parts.iter().map(|p| p.bytes).sum(),
            warnings,
            parts,
        }
    }
}
