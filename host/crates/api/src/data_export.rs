//! Synchronous exports streamed straight into the response, through the
//! same plugin pipeline as jobs: `/api/dataexport/{dataType}` and the admin
//! dashboard's `/api/admindashboard/export`. Capped at a row count; bigger
//! exports belong in a job.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::extract::{AppPath, AppQuery, Auth};
use super::problem::Problem;
use super::responses::{Binary, Forbidden, NotFound, PayloadTooLarge, Unprocessable};
use super::state::AppState;
use exporter_auth::Caller;
use exporter_export::{Export, Headings};
use exporter_runtime::batch::{DEFAULT_BATCH_ROWS, time};
use exporter_runtime::{ChunkSink, ExportContext};
use exporter_source::query::Access;
use exporter_source::sources::SourcePool;
use exporter_source::{Dataset, ExportQuery, SourceError, count_rows};
use exporter_store::db::now_micros;

/// Chunks queued between the plugin and the response.
const QUEUED_CHUNKS: usize = 8;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DirectParams {
    /// An installed format (`excel` means `xlsx`).
    format: String,
    /// First day, YYYY-MM-DD (UTC), inclusive.
    from: Option<String>,
    /// Last day, inclusive.
    to: Option<String>,
    user_id: Option<String>,
    /// SuperAdmins only.
    organization_id: Option<String>,
    /// Comma-separated columns, in order.
    columns: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DashboardParams {
    format: String,
    from: Option<String>,
    to: Option<String>,
    /// SuperAdmins only; everyone else gets their own organization.
    organization_id: Option<String>,
}

/// Export a dataset now, streamed (SuperAdmin, Admin).
#[utoipa::path(get, path = "/api/dataexport/{dataType}", operation_id = "exportDataset", tag = "direct export",
    params(("dataType" = String, Path, description = "A dataset of the catalog (`GET /api/datasets` lists them)"), DirectParams),
    responses((status = 200, description = "The file, streamed, as the format's media type (`GET /api/formats` lists them)",
            content_type = "*/*", body = inline(Binary), headers(("Content-Disposition" = String), ("X-Total-Rows" = i64))),
        (status = 403, response = Forbidden), (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge), (status = 422, response = Unprocessable)),
    security(("bearer" = [])))]
pub async fn data_export(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(data_type): AppPath<String>,
    AppQuery(params): AppQuery<DirectParams>,
) -> Result<Response, Problem> {
    let Some(dataset) = state.catalog.get(&data_type.to_ascii_lowercase()) else {
        return Err(Problem::not_found(&format!("dataset {data_type:?}")));
    };
    let columns = params
        .columns
        .as_deref()
        .map(|c| {
            c.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let direct = Direct {
        dataset,
        format: &params.format,
        from: params.from.as_deref(),
        to: params.to.as_deref(),
        organization_id: params.organization_id,
        user_id: params.user_id,
        columns,
    };
    stream(&state, &caller, direct).await
}

/// The per-organization, per-day activity summary (SuperAdmin, Admin).
#[utoipa::path(get, path = "/api/admindashboard/export", operation_id = "exportDashboard", tag = "direct export",
    params(DashboardParams),
    responses((status = 200, description = "The summary, streamed, as the format's media type (`GET /api/formats` lists them)",
            content_type = "*/*", body = inline(Binary), headers(("Content-Disposition" = String), ("X-Total-Rows" = i64))),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge), (status = 422, response = Unprocessable)),
    security(("bearer" = [])))]
pub async fn dashboard(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(params): AppQuery<DashboardParams>,
) -> Result<Response, Problem> {
    let Some(dataset) = state.catalog.get("dashboard") else {
        return Err(Problem::not_found("dataset \"dashboard\""));
    };
    let direct = Direct {
        dataset,
        format: &params.format,
        from: params.from.as_deref(),
        to: params.to.as_deref(),
        organization_id: params.organization_id,
        user_id: None,
        columns: Vec::new(),
    };
    stream(&state, &caller, direct).await
}

/// A direct export as its handler read it from the request.
struct Direct<'a> {
    dataset: Arc<Dataset>,
    format: &'a str,
    from: Option<&'a str>,
    to: Option<&'a str>,
    organization_id: Option<String>,
    user_id: Option<String>,
    columns: Vec<String>,
}

async fn stream(
    state: &AppState,
    caller: &Caller,
    direct: Direct<'_>,
) -> Result<Response, Problem> {
    let Direct {
        dataset,
        format,
        from,
        to,
        organization_id,
        user_id,
        columns,
    } = direct;
    if !caller.can_export_directly() {
        return Err(Problem::forbidden(
            "direct exports are for SuperAdmins and Admins",
        ));
    }
    let organization_id = caller.organization_scope(organization_id).map_err(|_| {
        Problem::forbidden("only SuperAdmins can export another organization's data")
    })?;
    let day = |name: &str, text: Option<&str>| -> Result<Option<i32>, Problem> {
        text.map(|t| {
            time::parse_request_date(t).map_err(|e| {
                let detail = match e {
                    time::DayError::NotADate => {
                        format!("{name} {t:?} is not a date like 2026-01-31")
                    }
                    time::DayError::OutOfRange => format!(
                        "{name} {t:?} is outside the supported range {}",
                        time::DAY_RANGE
                    ),
                };
                Problem::unprocessable("invalid-request", detail)
            })
        })
        .transpose()
    };
    let name = dataset.name.clone();
    let source = state.sources.get(&dataset.source).ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!(
                "dataset {name:?} reads source {:?}, which this service's configuration does not name",
                dataset.source
            ),
        )
    })?;
    let source = SourcePool::from(&*source);
    let access = Access {
        role: caller.role,
        key: state.masks.key_for(organization_id.as_deref()),
    };
    let query = ExportQuery {
        dataset,
        organization_id,
        user_id,
        from: day("from", from)?,
        to: day("to", to)?,
        columns,
        filters: Default::default(),
        access,
    };
    query.selected()?;
    let formatter = state
        .formats
        .get_for(&caller.organization_id, format)
        .ok_or_else(|| {
            Problem::unprocessable(
                "unknown-format",
                format!(
                    "format {format:?} is not installed; installed: {}",
                    state.formats.names().join(", ")
                ),
            )
        })?;
    let rows = count_rows(&source, &query).await.map_err(|e| match e {
        SourceError::Query(e) => Problem::unprocessable("invalid-request", e.to_string()),
        SourceError::Database { source, .. } => {
            Problem::from_chain(&source, "the database is not available; try again shortly")
        }
        SourceError::Closed => Problem::internal(e),
    })?;
    let cap = state.settings.sync_export_max_rows;
    if rows > cap {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-rows",
            format!(
                "{rows} rows exceed the {cap} a direct export may stream; create an export job instead (POST /api/export-jobs)"
            ),
        ));
    }

    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(QUEUED_CHUNKS);
    let info = formatter.info().clone();
    let context = ExportContext {
        title: format!("{name} export"),
        generated_at: now_micros(),
        properties: vec![("Data".to_owned(), name.clone())],
    };
    let metrics = state.metrics.clone();
    let format_name = info.name.clone();
    let errors = tx.clone();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let result = Export {
            source,
            query: &query,
            formatter: &formatter,
            headings: Headings::for_export(formatter.info(), &[]),
            options: Vec::new(),
            context,
            batch_rows: DEFAULT_BATCH_ROWS,
            progress: None,
        }
        .to_sink(Box::new(ChannelSink(tx)))
        .await;
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(stats) => metrics.export_finished(
                &format_name,
                "completed",
                seconds,
                stats.rows,
                stats.run.bytes,
            ),
            Err(error) => {
                tracing::warn!(error = %error, "direct export failed");
                metrics.export_finished(&format_name, "failed", seconds, 0, 0);
                // Ends the response with an error: the client sees a broken
                // transfer, never a file that looks complete.
                let _ = errors
                    .send(Err(std::io::Error::other(error.to_string())))
                    .await;
            }
        }
    });
    let body = Body::from_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&info.media_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    let extension = info.file_extension.trim_start_matches('.');
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"{name}.{extension}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert("x-total-rows", HeaderValue::from(rows));
    Ok(response)
}

/// Feeds the response body from the plugin thread, with back-pressure.
struct ChannelSink(mpsc::Sender<Result<Bytes, std::io::Error>>);

impl ChunkSink for ChannelSink {
    fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        self.0
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| anyhow::anyhow!("the client went away"))
    }
}
