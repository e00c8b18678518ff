//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::extract::AppJson;
use super::problem::Problem;
use super::state::AppState;
use exporter_jobs::JobStatus;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "Up", body = Health)))]
pub async fn healthz() -> AppJson<Health> {
    AppJson(Health { status: "ok" })
}

/// The database answers and the blob store takes writes; a 503 names the
/// dependency that does not.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = Health),
        (status = 503, description = "A dependency is not ready; the problem's `dependency` names it (`database`, `blobStore`)",
            body = Problem, content_type = "application/problem+json", headers(("Retry-After" = String)))))]
pub async fn readyz(State(state): State<AppState>) -> Result<AppJson<Health>, Problem> {
    state.repo.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "database not ready");
        Problem::unavailable("the database is not available")
            .with_extension("dependency", "database".into())
    })?;
    state.blobs.check_writable().await.map_err(|e| {
        tracing::warn!(error = %e, "blob store not ready");
        Problem::unavailable("the blob store does not take writes")
            .with_extension("dependency", "blobStore".into())
    })?;
    Ok(AppJson(Health { status: "ready" }))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "Prometheus metrics, in the OpenMetrics text format",
        body = String, content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, Problem> {
    let by_status = state.repo.count_by_status().await?;
    let body = state
        .metrics
        .render(JobStatus::ALL.iter().map(|s| s.as_str()), &by_status);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
