//! `/api/datasets`: what a caller may export; `/api/admin/datasets`: the
//! catalog for operators (SuperAdmin), the same entries `exporter dataset
//! apply` installs from a file.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::extract::{AppJson, AppPath, Auth};
use super::problem::Problem;
use super::responses::{Forbidden, NotFound, Unprocessable};
use super::state::AppState;
use exporter_auth::{Caller, Role};
use exporter_runtime::ColumnType;
use exporter_source::catalog::store::{Installed, ORIGIN_OPERATOR};
use exporter_source::catalog::{ColumnAccess, Mask};
use exporter_source::catalog::{DEFAULT_SOURCE, validate};
use exporter_source::check::check;
use exporter_source::query::filter::Op;
use exporter_source::{Dataset, DatasetColumn};

/// A dataset as a client sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetView {
    /// What `dataType` names.
    #[schema(example = "sessions")]
    pub name: String,
    pub description: String,
    /// The catalog version new jobs read (a job records its own).
    pub version: i64,
    pub columns: Vec<ColumnView>,
    /// The column a `dateRange` filters on; none: no date range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_column: Option<String>,
    /// Columns the export is ordered by, after the range column.
    pub key: Vec<String>,
    /// Filters a request may set beyond the date range and the columns'
    /// own (`filters.columns`, listed with each column).
    pub filters: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnView {
    pub name: String,
    /// boolean, int64, float64, decimal, text, date, timestamp or json.
    #[serde(rename = "type")]
    #[schema(example = "timestamp")]
    pub kind: String,
    /// A heading for people.
    pub label: String,
    pub description: String,
    /// How this column's values are masked for the caller (`redact`,
    /// `hash`, `email-domain` or `last4`; the column is then text);
    /// absent: in clear. Columns the caller may not see are not listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked: Option<Mask>,
    /// The comparisons `filters.columns` may apply to this column (`eq`,
    /// `in`, `gt`, `gte`, `lt`, `lte`); absent: it cannot be filtered on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(example = json!(["eq", "in"]))]
    pub filter: Vec<&'static str>,
}

impl DatasetView {
    /// `dataset` as `role` sees it.
    fn new(dataset: &Dataset, role: Role) -> Self {
        let visible = |name: &str| {
            dataset
                .column(name)
                .is_some_and(|c| c.access(role) != ColumnAccess::Hidden)
        };
        let mut filters = Vec::new();
        if dataset.user_column.as_deref().is_some_and(visible) {
            filters.push("userId".to_owned());
        }
        filters.push("organizationId".to_owned());
        DatasetView {
            name: dataset.name.clone(),
            description: dataset.description.clone(),
            version: dataset.version,
            columns: dataset
                .columns
                .iter()
                .filter_map(|c| ColumnView::new(c, role))
                .collect(),
            range_column: dataset.range_column.clone().filter(|c| visible(c)),
            key: dataset.key.iter().filter(|k| visible(k)).cloned().collect(),
            filters,
        }
    }
}

impl ColumnView {
    fn new(column: &DatasetColumn, role: Role) -> Option<Self> {
        let (kind, masked) = match column.access(role) {
            ColumnAccess::Hidden => return None,
            ColumnAccess::Clear => (column.kind, None),
            ColumnAccess::Masked(mask) => (ColumnType::Text, Some(mask)),
        };
        // Filters apply to values in clear only.
        let filter = match column.filterable && masked.is_none() {
            true => Op::for_kind(column.kind)
                .iter()
                .map(|op| op.as_str())
                .collect(),
            false => Vec::new(),
        };
        Some(ColumnView {
            name: column.name.clone(),
            kind: kind.as_str().to_owned(),
            label: column.label(),
            description: column.description.clone(),
            masked,
            filter,
        })
    }
}

/// The datasets the caller may export, with their columns. Empty for a
/// role that exports nothing (Member).
#[utoipa::path(get, path = "/api/datasets", operation_id = "listDatasets", tag = "datasets",
    responses((status = 200, description = "The datasets, in name order", body = Vec<DatasetView>)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, Auth(caller): Auth) -> AppJson<Vec<DatasetView>> {
    if !caller.can_use_export_jobs() {
        return AppJson(Vec::new());
    }
    AppJson(
        state
            .catalog
            .list()
            .iter()
            .map(|d| DatasetView::new(d, caller.role))
            .collect(),
    )
}

/// One dataset the caller may export.
#[utoipa::path(get, path = "/api/datasets/{name}", operation_id = "getDataset", tag = "datasets",
    params(("name" = String, Path, description = "The dataset's name")),
    responses((status = 200, description = "The dataset", body = DatasetView),
        (status = 404, response = NotFound)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(name): AppPath<String>,
) -> Result<AppJson<DatasetView>, Problem> {
    match state.catalog.get(&name) {
        Some(dataset) if caller.can_use_export_jobs() => {
            Ok(AppJson(DatasetView::new(&dataset, caller.role)))
        }
        _ => Err(Problem::not_found(&format!("dataset {name:?}"))),
    }
}

/// What an install did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstalledView {
    pub name: String,
    /// The version new jobs now read.
    pub version: i64,
    /// The version it replaced (0: the dataset is new).
    pub previous_version: i64,
    /// False when the catalog already held exactly this definition.
    pub changed: bool,
    /// Rows read from the source to check the declared types.
    pub sampled_rows: u64,
    /// What the check found that does not stop the dataset from working.
    pub warnings: Vec<String>,
}

fn require_superadmin(caller: &Caller) -> Result<(), Problem> {
    super::extract::require_superadmin(caller, "managing the dataset catalog")
}

/// Install a dataset, or a new version of one (SuperAdmin). Checked first:
/// the entry itself (read-only SQL, declared key and range columns), then
/// against its source (the SQL runs with every filter the host adds, and a
/// sample of rows decodes to the declared types). Every process uses the
/// new version within a second; running exports finish on theirs.
#[utoipa::path(put, path = "/api/admin/datasets/{name}", operation_id = "putDataset", tag = "datasets",
    params(("name" = String, Path, description = "The dataset's name: lower-case letters, digits, `_` and `-`")),
    request_body(content = Dataset, description = "The catalog entry, as in a catalog file's `[datasets.NAME]`"),
    responses((status = 200, description = "Installed (or already installed as is)", body = InstalledView),
        (status = 201, description = "Installed: a dataset new to the catalog", body = InstalledView),
        (status = 403, response = Forbidden), (status = 422, response = Unprocessable)),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(name): AppPath<String>,
    AppJson(mut dataset): AppJson<Dataset>,
) -> Result<Response, Problem> {
    require_superadmin(&caller)?;
    dataset.name = name;
    let invalid = |detail: String| Problem::unprocessable("invalid-dataset", detail);
    validate(&dataset).map_err(|e| invalid(e.to_string()))?;
    let Some(source) = state.sources.get(&dataset.source) else {
        return Err(invalid(format!(
            "dataset {:?}: source {:?} is not configured; add [sources.{}] to the configuration, or use \"{DEFAULT_SOURCE}\" (the service's database)",
            dataset.name, dataset.source, dataset.source
        )));
    };
    let dataset = Arc::new(dataset);
    let report = check(&dataset, &source)
        .await
        .map_err(|e| invalid(e.to_string()))?;
    let installed = state
        .catalog
        .store()
        .install(&dataset, ORIGIN_OPERATOR, &caller.user_id)
        .await
        .map_err(Problem::internal)?;
    // This process answers with the new version at once.
    state.catalog.refresh().await.map_err(Problem::internal)?;
    let (version, previous_version, changed) = match installed {
        Installed::New { version, previous } => (version, previous, true),
        Installed::Unchanged { version } => (version, version, false),
    };
    let status = match previous_version {
        0 => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    tracing::info!(
        dataset = dataset.name,
        version,
        changed,
        by = caller.user_id,
        "dataset installed"
    );
    Ok((
        status,
        AppJson(InstalledView {
            name: dataset.name.clone(),
            version,
            previous_version,
            changed,
            sampled_rows: report.sampled_rows,
            warnings: report.warnings,
        }),
    )
        .into_response())
}

/// Remove a dataset (SuperAdmin): new jobs can no longer ask for it;
/// jobs already created on it finish on their version.
#[utoipa::path(delete, path = "/api/admin/datasets/{name}", operation_id = "deleteDataset", tag = "datasets",
    params(("name" = String, Path, description = "The dataset's name")),
    responses((status = 204, description = "Removed"),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(name): AppPath<String>,
) -> Result<StatusCode, Problem> {
    require_superadmin(&caller)?;
    if !state
        .catalog
        .store()
        .remove(&name, &caller.user_id)
        .await
        .map_err(Problem::internal)?
    {
        return Err(Problem::not_found(&format!("dataset {name:?}")));
    }
    state.catalog.refresh().await.map_err(Problem::internal)?;
    tracing::info!(dataset = name, by = caller.user_id, "dataset removed");
    Ok(StatusCode::NO_CONTENT)
}
