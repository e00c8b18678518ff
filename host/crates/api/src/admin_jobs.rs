//! `/api/admin/export-jobs`: operators' actions on any organization's jobs
//! (SuperAdmin only).

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::extract::{AppJson, AppPath, Auth};
use super::problem::Problem;
use super::responses::{Conflict, Forbidden, NotFound};
use super::state::AppState;

use exporter_jobs::JobStatus;
use exporter_jobs::view::JobView;

/// Re-drives a Failed job (a dead letter, or one that failed for good and
/// whose cause is fixed): back to Pending with all its attempts, queued at
/// once. Its error history is kept.
#[utoipa::path(post, path = "/api/admin/export-jobs/{id}/retry", operation_id = "retryExportJob", tag = "export jobs",
    params(("id" = String, Path)),
    responses((status = 202, description = "Queued again", body = JobView), (status = 403, response = Forbidden),
        (status = 404, response = NotFound), (status = 409, response = Conflict)),
    security(("bearer" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Response, Problem> {
    super::extract::require_superadmin(&caller, "re-driving export jobs")?;
    let job = state
        .repo
        .get(&id)
        .await?
        .ok_or_else(|| Problem::not_found("export job"))?;
    let redriven = state.queue.redrive(&id).await.map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "re-driving a job failed");
        Problem::unavailable("the job could not be queued; try again shortly")
    })?;
    let Some(job) = redriven else {
        return Err(Problem::conflict(
            "not-failed",
            format!(
                "the job is {}; only a Failed job can be retried",
                job.status().as_str()
            ),
        ));
    };
    debug_assert_eq!(job.status(), JobStatus::Pending);
    tracing::info!(job = %id, by = %caller.user_id, "export job re-driven");
    let errors = state.repo.errors(&id).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        AppJson(JobView::new(&job, None).with_errors(&errors)),
    )
        .into_response())
}
