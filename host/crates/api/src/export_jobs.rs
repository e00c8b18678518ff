//! `/api/export-jobs`: create, poll, list, cancel, re-link.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::extract::{AppJson, AppPath, AppQuery, Auth, SignedCaller};
use super::problem::Problem;
use super::responses::{Conflict, Forbidden, Gone, NotFound};
use super::state::AppState;
use exporter_auth::{Caller, Coverage};
use exporter_jobs::repo::AttemptError;
use exporter_jobs::view::{JobPage, JobView, LinkView, PartView};
use exporter_jobs::{ExportRequest, JobFilter, JobRecord, JobStatus, NewJob};
use exporter_registry::formats::FormatRegistry;
use exporter_runtime::batch::time;
use exporter_source::Dataset;
use exporter_source::query::Access;

const IDEMPOTENCY_KEY: &str = "idempotency-key";
const MAX_PAGE: i64 = 100;
const DEFAULT_PAGE: i64 = 20;
/// How soon a client polling an unfinished job should ask again.
const RETRY_AFTER_SECONDS: &str = "1";

/// Create an export job.
#[utoipa::path(post, path = "/api/export-jobs", operation_id = "createExportJob", tag = "export jobs",
    request_body = ExportRequest,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Makes a retried create return the same job \
        (202 with `Idempotent-Replayed: true`) rather than a second one; the same key with another body is a 422. \
        Keys are per user. Once the key's job has expired, or its file was deleted (`DELETE`), the key is free again: \
        the next create with it makes a new job, and the old job keeps its record")),
    responses(
        (status = 202, description = "Queued; with `Idempotent-Replayed: true`, the job an earlier create with the same key made",
            body = JobView, headers(("Location" = String, description = "The job's URL"),
                ("Idempotent-Replayed" = String, description = "`true` when the job was made by an earlier create with the same key"))),
        (status = 403, response = Forbidden),
        (status = 422, description = "Invalid request, or idempotency key reused with another body",
            body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    headers: HeaderMap,
    AppJson(request): AppJson<ExportRequest>,
) -> Result<Response, Problem> {
    if !caller.can_use_export_jobs() {
        return Err(Problem::forbidden(
            "export jobs are for SuperAdmins, Admins and Managers",
        ));
    }
    let idempotency_key = idempotency_key(&headers)?;
    let (mut request, dataset) = normalize(&state, &caller, request)?;
    // What the job will read decides who sees it, for its whole life: the
    // organization it is filtered to, or every organization's when it has
    // no filter (only a SuperAdmin's can lack one: `normalize` pins
    // everyone else's).
    let coverage = Coverage::from_column(request.filters.organization_id.as_deref());
    if !caller.is_entitled_to(&coverage) {
        return Err(Problem::forbidden(
            "only SuperAdmins can export another organization's data",
        ));
    }
    // No zone asked for: the organization's default, recorded with the
    // job, so that a change of the setting reaches new jobs only.
    if request.time_zone.is_none()
        && let Coverage::Organization(organization) = &coverage
        && let Some(settings) = exporter_auth::organization(&state.db, organization).await?
    {
        request.time_zone = settings.time_zone;
    }
    if let Some(url) = &request.callback_url {
        if coverage == Coverage::AllOrganizations {
            // Its payload carries links to every organization's data, and no
            // one organization's secret could vouch for it.
            return Err(Problem::unprocessable(
                "invalid-callback-url",
                "callbackUrl needs filters.organizationId: an export of every organization's data \
                 has no organization whose secret could sign its callback",
            ));
        }
        // Refused now, with the reason, rather than at the first delivery.
        let policy = &state.settings.callback_policy;
        let invalid = |e: exporter_jobs::callbacks::TargetError| {
            Problem::unprocessable("invalid-callback-url", e.to_string())
        };
        let parsed = policy.check_url(url).map_err(invalid)?;
        policy.resolve(&parsed).await.map_err(invalid)?;
    }
    let body = serde_json::to_string(&request).map_err(Problem::internal)?;
    let request_hash = hex::encode(Sha256::digest(body.as_bytes()));
    let job = NewJob {
        id: new_job_id(),
        organization_id: caller.organization_id.clone(),
        created_by: caller.user_id.clone(),
        data_type: request.data_type.clone(),
        dataset_version: dataset.version,
        reader_role: caller.role,
        format: request.format.clone(),
        request: body,
        max_attempts: i64::from(state.settings.max_attempts),
        idempotency_key,
        request_hash: Some(request_hash.clone()),
        callback_url: request.callback_url.clone(),
        covered_organization_id: coverage.to_column(),
    };
    let mut created = state.queue.create(&job).await;
    if let Ok(Err(existing)) = &created
        && existing.status() == JobStatus::Expired
        && caller.can_see_job(&existing.coverage(), &existing.created_by)
        && state.repo.release_idempotency_key(&existing.id).await?
    {
        // The key's job has no file any more: the key is free again, and
        // makes this new job (a concurrent create with the same key that
        // wins the insert is replayed below, as for any key).
        created = state.queue.create(&job).await;
    }
    let (record, replayed) = match created {
        Ok(Ok(record)) => (record, false),
        Ok(Err(existing)) => {
            if !caller.can_see_job(&existing.coverage(), &existing.created_by) {
                // The same user, since moved or demoted: no replay of a job
                // that is no longer theirs to see.
                return Err(Problem::unprocessable(
                    "idempotency-key-reused",
                    "this Idempotency-Key was already used for a job you may no longer see; use another key",
                ));
            }
            if existing.request_hash.as_deref() != Some(request_hash.as_str()) {
                return Err(Problem::unprocessable(
                    "idempotency-key-reused",
                    "this Idempotency-Key was already used with a different request body",
                ));
            }
            (existing, true)
        }
        Err(e) => {
            return Err(Problem::from_chain(
                &e,
                "the job could not be queued; try again shortly",
            ));
        }
    };
    let location = format!("/api/export-jobs/{}", record.id);
    let view = JobView::new(&record, None);
    let mut response = (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        AppJson(view),
    )
        .into_response();
    if replayed {
        response.headers_mut().insert(
            HeaderName::from_static("idempotent-replayed"),
            "true".parse().expect("valid header"),
        );
    }
    Ok(response)
}

/// A job id: a ULID, monotonic within this process so that jobs created in
/// the same millisecond still list newest first (the list's order and
/// cursor are the id). Plain `Ulid::generate` orders such ids at random.
fn new_job_id() -> String {
    static IDS: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());
    let mut ids = IDS.lock().unwrap_or_else(|e| e.into_inner());
    // Overflow needs 2^80 ids in one millisecond.
    ids.generate()
        .map(|id| id.to_string())
        .unwrap_or_else(|_| ulid::Ulid::generate().to_string())
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::bad_request(
            "invalid-idempotency-key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// Checks a request and pins it to what the caller may export: the
/// dataset's current version, and the caller's organization.
fn normalize(
    state: &AppState,
    caller: &Caller,
    mut request: ExportRequest,
) -> Result<(ExportRequest, Arc<Dataset>), Problem> {
    request.data_type = request.data_type.to_ascii_lowercase();
    request.format = FormatRegistry::canonical(&request.format);
    request.filters.organization_id = caller
        .organization_scope(request.filters.organization_id.take())
        .map_err(|_| {
            Problem::forbidden("only SuperAdmins can export another organization's data")
        })?;
    request.time_zone = match request.time_zone.take() {
        Some(name) => Some(
            exporter_export::request::time_zone(&name)
                .map_err(|e| Problem::unprocessable("invalid-request", e.to_string()))?,
        ),
        None => None,
    };
    let Some(dataset) = state.catalog.get(&request.data_type) else {
        let datasets = state.catalog.list();
        return Err(Problem::unprocessable(
            "unknown-dataset",
            request
                .unknown_dataset(datasets.iter().map(|d| d.name.as_str()))
                .to_string(),
        ));
    };
    let access = Access {
        role: caller.role,
        key: state
            .masks
            .key_for(request.filters.organization_id.as_deref()),
    };
    let query = request
        .query(dataset.clone(), access)
        .map_err(|e| Problem::unprocessable("invalid-request", e.to_string()))?;
    query.selected()?;
    if request.part_max_rows == Some(0) {
        return Err(Problem::unprocessable(
            "invalid-request",
            "partMaxRows must be at least 1",
        ));
    }
    if let Some(bytes) = request.part_max_bytes
        && bytes < exporter_export::parts::MIN_PART_BYTES
    {
        return Err(Problem::unprocessable(
            "invalid-request",
            format!(
                "partMaxBytes must be at least {} (1 MiB)",
                exporter_export::parts::MIN_PART_BYTES
            ),
        ));
    }
    let formatter = state
        .formats
        .get_for(&caller.organization_id, &request.format)
        .ok_or_else(|| {
            Problem::unprocessable(
                "unknown-format",
                format!(
                    "format {:?} is not installed; installed: {}",
                    request.format,
                    state.formats.names().join(", ")
                ),
            )
        })?;
    formatter
        .info()
        .check_options(&request.plugin_options())
        .map_err(|e| Problem::unprocessable("invalid-options", e))?;
    Ok((request, dataset))
}

/// Loads a job the caller may see; anything else is "not found".
pub(super) async fn visible_job(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<JobRecord, Problem> {
    if !caller.can_use_export_jobs() {
        return Err(Problem::forbidden(
            "export jobs are for SuperAdmins, Admins and Managers",
        ));
    }
    match state.repo.get(id).await? {
        Some(job) if caller.can_see_job(&job.coverage(), &job.created_by) => Ok(job),
        _ => Err(Problem::not_found("export job")),
    }
}

/// [`visible_job`] with its error history, for a caller whose membership
/// is checked by the same statement that reads the job.
async fn polled_job(
    state: &AppState,
    signed: SignedCaller,
    id: &str,
) -> Result<(JobRecord, Vec<AttemptError>), Problem> {
    let polled = state
        .repo
        .get_polled(id, signed.user_id(), signed.organization_id())
        .await?;
    // The same order of refusals as `Auth` then `visible_job`: an unknown
    // user, a role without export jobs, then a job it may not see.
    let (caller, polled) = match polled {
        Some(polled) => (signed.confirmed(polled.member)?, Some(polled)),
        None => (signed.confirm(state).await?, None),
    };
    if !caller.can_use_export_jobs() {
        return Err(Problem::forbidden(
            "export jobs are for SuperAdmins, Admins and Managers",
        ));
    }
    match polled {
        Some(polled) if caller.can_see_job(&polled.job.coverage(), &polled.job.created_by) => {
            Ok((*polled.job, polled.errors))
        }
        _ => Err(Problem::not_found("export job")),
    }
}

/// A signed download link for a completed job: (url, expires, µs).
pub async fn download_link(
    state: &AppState,
    job: &JobRecord,
) -> Result<Option<(String, i64)>, Problem> {
    Ok(state.job_links.download(job).await?)
}

/// For an export in parts, its published parts with their links.
pub async fn published_parts(
    state: &AppState,
    job: &JobRecord,
) -> Result<Option<Vec<PartView>>, Problem> {
    Ok(state.job_links.published_parts(&state.db, job).await?)
}

/// Poll a job.
#[utoipa::path(get, path = "/api/export-jobs/{id}", operation_id = "getExportJob", tag = "export jobs",
    params(("id" = String, Path)),
    responses((status = 200, description = "The job", body = JobView,
            headers(("Retry-After" = String, description = "While Pending or Processing: seconds until the next poll"),
                ("Cache-Control" = String, description = "`no-store`"))),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    signed: SignedCaller,
    AppPath(id): AppPath<String>,
) -> Result<Response, Problem> {
    let (job, errors) = polled_job(&state, signed, &id).await?;
    let active = job.status().is_active();
    let view = full_view(&state, &job, &errors).await?;
    let mut response = AppJson(view).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("valid header"),
    );
    if active {
        headers.insert(
            header::RETRY_AFTER,
            RETRY_AFTER_SECONDS.parse().expect("valid header"),
        );
    }
    Ok(response)
}

/// A job as `GET /api/export-jobs/{id}` shows it (and the event stream
/// sends it): links, parts, errors, callback and queue position.
pub(crate) async fn full_view(
    state: &AppState,
    job: &JobRecord,
    errors: &[AttemptError],
) -> Result<JobView, Problem> {
    let link = download_link(state, job).await?;
    let mut view = JobView::new(job, link).with_errors(errors);
    view.parts = published_parts(state, job).await?;
    if job.callback_url.is_some() {
        let callback = exporter_jobs::callbacks::store::state_of(&state.db, &job.id).await?;
        let attempts = exporter_jobs::callbacks::store::attempts_of(&state.db, &job.id).await?;
        view = view.with_callback(callback.as_ref(), &attempts);
    }
    if job.status() == JobStatus::Pending {
        view.queue_position = Some(state.repo.pending_ahead(&job.id).await? + 1);
    }
    Ok(view)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    status: Option<String>,
    data_type: Option<String>,
    format: Option<String>,
    /// Created on or after (YYYY-MM-DD or RFC 3339).
    created_from: Option<String>,
    /// Created on or before (a day is inclusive; an instant exclusive).
    created_to: Option<String>,
    /// SuperAdmins only.
    organization_id: Option<String>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// List the caller's jobs, newest first.
#[utoipa::path(get, path = "/api/export-jobs", operation_id = "listExportJobs", tag = "export jobs", params(ListParams),
    responses((status = 200, description = "A page of jobs", body = JobPage),
        (status = 403, response = Forbidden)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(params): AppQuery<ListParams>,
) -> Result<Response, Problem> {
    if !caller.can_use_export_jobs() {
        return Err(Problem::forbidden(
            "export jobs are for SuperAdmins, Admins and Managers",
        ));
    }
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::bad_request(
            "invalid-query",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    // Visibility first, in the query itself, so pages, cursors and the
    // next-page check count only jobs the caller may see.
    let mut filter = JobFilter::new(caller.job_scope(), limit + 1);
    // `organizationId`: the jobs of that organization's data.
    filter.covering = caller
        .organization_scope(params.organization_id.clone())
        .map_err(|_| Problem::forbidden("only SuperAdmins can list another organization's jobs"))?;
    if let Some(status) = &params.status {
        filter.status = Some(JobStatus::parse(status).ok_or_else(|| {
            Problem::bad_request(
                "invalid-query",
                format!("status {status:?} is not one of Pending, Processing, Completed, Failed, Cancelled, Expired"),
            )
        })?);
    }
    filter.data_type = params.data_type.as_ref().map(|d| d.to_ascii_lowercase());
    filter.format = params.format.as_deref().map(FormatRegistry::canonical);
    filter.created_from = params
        .created_from
        .as_deref()
        .map(|t| instant("createdFrom", t, false))
        .transpose()?;
    filter.created_before = params
        .created_to
        .as_deref()
        .map(|t| instant("createdTo", t, true))
        .transpose()?;
    if let Some(cursor) = &params.cursor {
        if ulid::Ulid::from_string(cursor).is_err() {
            return Err(Problem::bad_request(
                "invalid-cursor",
                "cursor is not one this API returned",
            ));
        }
        filter.before_id = Some(cursor.clone());
    }
    let mut jobs = state.repo.list(&filter).await?;
    let next_cursor = if jobs.len() as i64 > limit {
        jobs.truncate(limit as usize);
        jobs.last().map(|j| j.id.clone())
    } else {
        None
    };
    let mut items = Vec::with_capacity(jobs.len());
    for job in &jobs {
        items.push(JobView::new(job, download_link(&state, job).await?));
    }
    let mut response = AppJson(JobPage { items, next_cursor }).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("valid header"),
    );
    Ok(response)
}

/// A day (`2026-01-31`) or an RFC 3339 instant, as µs. A day as an upper
/// bound includes the whole day.
fn instant(name: &str, text: &str, upper: bool) -> Result<i64, Problem> {
    if let Some(day) = time::parse_date(text) {
        let day = i64::from(day) + i64::from(upper);
        return Ok(day * 86_400_000_000);
    }
    time::parse_timestamp(text).ok_or_else(|| {
        Problem::bad_request(
            "invalid-query",
            format!("{name} {text:?} is not a date (2026-01-31) or an RFC 3339 instant"),
        )
    })
}

/// Cancel a pending or running job, or delete a finished job's file.
#[utoipa::path(delete, path = "/api/export-jobs/{id}", operation_id = "deleteExportJob", tag = "export jobs",
    params(("id" = String, Path)),
    responses((status = 200, description = "The job after the change", body = JobView),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Response, Problem> {
    let job = visible_job(&state, &caller, &id).await?;
    if job.status().is_active() && state.repo.cancel(&id).await? {
        // Stops the export at once if it runs in this process; a worker
        // elsewhere notices at its next progress write.
        state.running.cancel(&id);
    }
    let job = state
        .repo
        .get(&id)
        .await?
        .ok_or_else(|| Problem::not_found("export job"))?;
    let unavailable = |e: anyhow::Error| {
        tracing::error!(error = %format!("{e:#}"), "deleting a job's files failed");
        Problem::unavailable("the blob store is not available; try again shortly")
    };
    if job.status() == JobStatus::Completed {
        if let Some(key) = &job.file_key {
            let key = state.blobs.parse_key(key).map_err(Problem::internal)?;
            state
                .blobs
                .delete(&key)
                .await
                .map_err(|e| unavailable(e.into()))?;
        }
        exporter_export::parts::discard(&state.db, &state.blobs, &id)
            .await
            .map_err(unavailable)?;
        state.repo.expire(&id).await?;
    } else if matches!(job.status(), JobStatus::Cancelled | JobStatus::Failed) {
        // What a cancelled or failed export in parts had published.
        exporter_export::parts::discard(&state.db, &state.blobs, &id)
            .await
            .map_err(unavailable)?;
    }
    let job = state
        .repo
        .get(&id)
        .await?
        .ok_or_else(|| Problem::not_found("export job"))?;
    Ok(AppJson(JobView::new(&job, None)).into_response())
}

/// A fresh signed link for a completed file, without re-running the export.
///
/// The link is minted by this request: valid for the service's link TTL
/// (`links.ttl`, 24 hours by default) from now, but never past the file's
/// own `expiresAt`, when the file is deleted; so near the end of a file's
/// life the expiry is the file's, not now plus the TTL. Use it when a link
/// from an earlier poll or a callback has expired or is about to. A poll
/// (`GET /api/export-jobs/{id}`) mints its `downloadUrl` the same way, so
/// the two agree when asked in the same second.
#[utoipa::path(post, path = "/api/export-jobs/{id}/link", operation_id = "createDownloadLink", tag = "export jobs",
    params(("id" = String, Path)),
    responses((status = 200, description = "A new link to the file", body = LinkView),
        (status = 403, response = Forbidden), (status = 404, response = NotFound),
        (status = 409, response = Conflict), (status = 410, response = Gone)),
    security(("bearer" = [])))]
pub async fn link(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Response, Problem> {
    let job = visible_job(&state, &caller, &id).await?;
    finished_file(&job)?;
    let (download_url, expires) = download_link(&state, &job)
        .await?
        .ok_or_else(|| Problem::gone("expired", "the file has expired"))?;
    Ok(AppJson(LinkView {
        download_url,
        expires_at: time::format_timestamp(expires),
    })
    .into_response())
}

/// The job has a file to serve, or the problem saying why not.
pub(super) fn finished_file(job: &JobRecord) -> Result<(), Problem> {
    match job.status() {
        JobStatus::Completed => Ok(()),
        JobStatus::Expired => Err(Problem::gone(
            "expired",
            "the file has expired or was deleted",
        )),
        status => Err(Problem::conflict(
            "not-completed",
            format!(
                "the job is {}; only a Completed job has a file",
                status.as_str()
            ),
        )),
    }
}
