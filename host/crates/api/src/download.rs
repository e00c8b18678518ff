//! Streaming downloads, whole or by `Range`: with a bearer token
//! (`/api/export-jobs/{id}/download`) or a signed link (`/api/files/{id}`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::export_jobs::{finished_file, visible_job};
use super::extract::{AppPath, AppQuery, Auth};
use super::problem::Problem;
use super::responses::{Binary, Conflict, Forbidden, Gone, NotFound, RangeNotSatisfiable};
use super::state::AppState;
use exporter_export::parts;
use exporter_jobs::links::part_link_subject;
use exporter_jobs::{JobRecord, JobStatus};
use exporter_store::blob::LinkError;

/// Download a completed job's file.
#[utoipa::path(get, path = "/api/export-jobs/{id}/download", operation_id = "downloadExportFile", tag = "export jobs",
    params(("id" = String, Path), ("Range" = Option<String>, Header, description = "One byte range, e.g. bytes=0-1023")),
    responses((status = 200, description = "The file, as its format's media type (`text/csv`, `application/json`, ...: `GET /api/formats` lists them)",
            content_type = "*/*", body = inline(Binary), headers(("Content-Disposition" = String), ("ETag" = String, description = "The file's quoted sha256"), ("Accept-Ranges" = String))),
        (status = 206, description = "The range asked for", content_type = "*/*", body = inline(Binary),
            headers(("Content-Range" = String), ("Content-Disposition" = String), ("ETag" = String), ("Accept-Ranges" = String))),
        (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 409, response = Conflict),
        (status = 410, response = Gone), (status = 416, response = RangeNotSatisfiable)),
    security(("bearer" = [])))]
pub async fn download(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let job = visible_job(&state, &caller, &id).await?;
    serve_file(&state, &job, &headers).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkParams {
    /// Unix seconds.
    expires: u64,
    sig: String,
}

/// Download through a signed link (no token needed).
#[utoipa::path(get, path = "/api/files/{id}", operation_id = "downloadSignedFile", tag = "export jobs",
    params(("id" = String, Path), LinkParams),
    responses((status = 200, description = "The file, as its format's media type (`text/csv`, `application/json`, ...: `GET /api/formats` lists them)",
            content_type = "*/*", body = inline(Binary), headers(("Content-Disposition" = String), ("ETag" = String, description = "The file's quoted sha256"), ("Accept-Ranges" = String))),
        (status = 206, description = "The range asked for", content_type = "*/*", body = inline(Binary),
            headers(("Content-Range" = String), ("Content-Disposition" = String), ("ETag" = String), ("Accept-Ranges" = String))),
        (status = 403, description = "A tampered (`invalid-link`) or expired (`link-expired`) link", body = Problem, content_type = "application/problem+json"),
        (status = 409, response = Conflict), (status = 410, response = Gone), (status = 416, response = RangeNotSatisfiable)))]
pub async fn signed(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    AppQuery(params): AppQuery<LinkParams>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    check_link(&state, &id, &params)?;
    let job = state
        .repo
        .get(&id)
        .await?
        .ok_or_else(|| Problem::gone("expired", "the file was deleted"))?;
    serve_file(&state, &job, &headers).await
}

/// What a download serves.
struct Served<'a> {
    job_id: &'a str,
    key: &'a str,
    size: i64,
    content_type: Option<&'a str>,
    name: Option<&'a str>,
    sha256: Option<&'a str>,
}

/// Checks a signed link to `subject` (a job, or one of its parts).
fn check_link(state: &AppState, subject: &str, params: &LinkParams) -> Result<(), Problem> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match state
        .links
        .verify(subject, params.expires, &params.sig, now)
    {
        Ok(()) => Ok(()),
        Err(LinkError::BadSignature) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "invalid-link",
            LinkError::BadSignature.to_string(),
        )),
        Err(LinkError::Expired) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "link-expired",
            "the link has expired; POST /api/export-jobs/{id}/link makes a new one for the file, \
             and GET /api/export-jobs/{id} lists fresh links to the parts",
        )),
    }
}

/// Download one published part of an export in parts (even while later
/// parts are being written).
#[utoipa::path(get, path = "/api/export-jobs/{id}/parts/{number}", operation_id = "downloadExportPart", tag = "export jobs",
    params(("id" = String, Path), ("number" = i64, Path, description = "1-based"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. bytes=0-1023")),
    responses((status = 200, description = "The part, as its format's media type (`text/csv`, `application/json`, ...: `GET /api/formats` lists them)",
            content_type = "*/*", body = inline(Binary), headers(("Content-Disposition" = String), ("ETag" = String, description = "The file's quoted sha256"), ("Accept-Ranges" = String))),
        (status = 206, description = "The range asked for", content_type = "*/*", body = inline(Binary),
            headers(("Content-Range" = String), ("Content-Disposition" = String), ("ETag" = String), ("Accept-Ranges" = String))),
        (status = 403, response = Forbidden), (status = 404, response = NotFound),
        (status = 410, response = Gone), (status = 416, response = RangeNotSatisfiable)),
    security(("bearer" = [])))]
pub async fn part(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((id, number)): AppPath<(String, i64)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let job = visible_job(&state, &caller, &id).await?;
    serve_part(&state, &job, number, &headers).await
}

/// Download one part through a signed link (no token needed).
#[utoipa::path(get, path = "/api/files/{id}/parts/{number}", operation_id = "downloadSignedPart", tag = "export jobs",
    params(("id" = String, Path), ("number" = i64, Path, description = "1-based"), LinkParams),
    responses((status = 200, description = "The part, as its format's media type (`text/csv`, `application/json`, ...: `GET /api/formats` lists them)",
            content_type = "*/*", body = inline(Binary), headers(("Content-Disposition" = String), ("ETag" = String, description = "The file's quoted sha256"), ("Accept-Ranges" = String))),
        (status = 206, description = "The range asked for", content_type = "*/*", body = inline(Binary),
            headers(("Content-Range" = String), ("Content-Disposition" = String), ("ETag" = String), ("Accept-Ranges" = String))),
        (status = 403, description = "A tampered (`invalid-link`) or expired (`link-expired`) link", body = Problem, content_type = "application/problem+json"),
        (status = 404, response = NotFound), (status = 410, response = Gone), (status = 416, response = RangeNotSatisfiable)))]
pub async fn signed_part(
    State(state): State<AppState>,
    AppPath((id, number)): AppPath<(String, i64)>,
    AppQuery(params): AppQuery<LinkParams>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    check_link(&state, &part_link_subject(&id, number), &params)?;
    let job = state
        .repo
        .get(&id)
        .await?
        .ok_or_else(|| Problem::gone("expired", "the file was deleted"))?;
    serve_part(&state, &job, number, &headers).await
}

/// The manifest of a completed export in parts.
#[utoipa::path(get, path = "/api/export-jobs/{id}/manifest", operation_id = "getExportManifest", tag = "export jobs",
    params(("id" = String, Path)),
    responses((status = 200, description = "manifest.json: every part's name, rows, bytes and sha256, the columns, the plugin and the query",
            body = Object, content_type = "application/json"),
        (status = 403, response = Forbidden), (status = 404, response = NotFound),
        (status = 409, response = Conflict), (status = 410, response = Gone)),
    security(("bearer" = [])))]
pub async fn manifest(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Response, Problem> {
    let job = visible_job(&state, &caller, &id).await?;
    if !job.request().is_ok_and(|r| r.is_parted()) {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "no-manifest",
            "the job was not written in parts, so it has no manifest; create it with partMaxRows or partMaxBytes",
        ));
    }
    finished_file(&job)?;
    let key = state
        .blobs
        .parse_key(job.file_key.as_deref().unwrap_or_default())
        .map_err(Problem::internal)?;
    let body = match state.blobs.read_all(&key).await {
        Ok(body) => body,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(Problem::gone(
                "expired",
                "the manifest has expired or was deleted",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, job = %job.id, "reading a manifest failed");
            return Err(Problem::unavailable(
                "the blob store is not available; try again shortly",
            ));
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

async fn serve_file(
    state: &AppState,
    job: &JobRecord,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    finished_file(job)?;
    let served = Served {
        job_id: &job.id,
        key: job.file_key.as_deref().unwrap_or_default(),
        size: job.file_size.unwrap_or_default(),
        content_type: job.content_type.as_deref(),
        name: job.file_name.as_deref(),
        sha256: job.sha256.as_deref(),
    };
    serve(state, &served, headers).await
}

/// Part `number` (1-based) of an export in parts, once published.
async fn serve_part(
    state: &AppState,
    job: &JobRecord,
    number: i64,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    if matches!(job.status(), JobStatus::Expired | JobStatus::Cancelled) {
        return Err(Problem::gone(
            "expired",
            "the export's files have expired or were deleted",
        ));
    }
    let part = match number.checked_sub(1) {
        Some(index) if index >= 0 => parts::store::part_of(&state.db, &job.id, index).await?,
        _ => None,
    }
    .ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("the job has no published part {number}; its status lists the published parts"),
        )
    })?;
    let served = Served {
        job_id: &job.id,
        key: &part.blob_key,
        size: part.size,
        content_type: Some(&part.content_type),
        name: Some(&part.name),
        sha256: Some(&part.sha256),
    };
    serve(state, &served, headers).await
}

async fn serve(
    state: &AppState,
    file: &Served<'_>,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let size = file.size.max(0) as u64;
    let key = state.blobs.parse_key(file.key).map_err(Problem::internal)?;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) => match parse_range(spec, size) {
            RangeRequest::Satisfiable(range) => Some(range),
            RangeRequest::Ignore => None,
            RangeRequest::Unsatisfiable => {
                return Err(Problem::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range-not-satisfiable",
                    format!("the file has {size} bytes"),
                )
                .with_header(header::CONTENT_RANGE, &format!("bytes */{size}")));
            }
        },
        None => None,
    };
    let stream = match state.blobs.read(&key, range.clone()).await {
        Ok(stream) => stream,
        Err(object_store::Error::NotFound { .. }) => {
            return Err(Problem::gone(
                "expired",
                "the file has expired or was deleted",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, job = %file.job_id, "reading a file failed");
            return Err(Problem::unavailable(
                "the blob store is not available; try again shortly",
            ));
        }
    };
    let (status, length) = match &range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, size),
    };
    let mut response = (status, Body::from_stream(stream)).into_response();
    let out = response.headers_mut();
    let content_type = file.content_type.unwrap_or("application/octet-stream");
    if let Ok(value) = HeaderValue::from_str(content_type) {
        out.insert(header::CONTENT_TYPE, value);
    }
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let name = file.name.unwrap_or("export");
    if let Ok(value) = HeaderValue::from_str(&content_disposition(name)) {
        out.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(sha) = file.sha256
        && let Ok(value) = HeaderValue::from_str(&format!("\"{sha}\""))
    {
        out.insert(header::ETAG, value);
    }
    if let Some(r) = &range
        && let Ok(value) = HeaderValue::from_str(&format!("bytes {}-{}/{size}", r.start, r.end - 1))
    {
        out.insert(header::CONTENT_RANGE, value);
    }
    Ok(response)
}

/// `attachment; filename="x.csv"; filename*=UTF-8''x.csv` (RFC 6266).
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    Satisfiable(std::ops::Range<u64>),
    /// Not a single byte range we serve: send the whole file (RFC 9110
    /// lets a server ignore Range).
    Ignore,
    Unsatisfiable,
}

/// One `bytes=` range against a file of `size` bytes.
fn parse_range(spec: &str, size: u64) -> RangeRequest {
    let Some(spec) = spec.trim().strip_prefix("bytes=") else {
        return RangeRequest::Ignore;
    };
    if spec.contains(',') {
        return RangeRequest::Ignore;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return RangeRequest::Ignore;
    };
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        // The last `end` bytes.
        let Ok(n) = end.parse::<u64>() else {
            return RangeRequest::Ignore;
        };
        if n == 0 || size == 0 {
            return RangeRequest::Unsatisfiable;
        }
        size.saturating_sub(n)..size
    } else {
        let Ok(first) = start.parse::<u64>() else {
            return RangeRequest::Ignore;
        };
        let last = if end.is_empty() {
            size.saturating_sub(1)
        } else {
            match end.parse::<u64>() {
                Ok(last) if last >= first => last.min(size.saturating_sub(1)),
                _ => return RangeRequest::Ignore,
            }
        };
        if first >= size {
            return RangeRequest::Unsatisfiable;
        }
        first..last + 1
    };
    RangeRequest::Satisfiable(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-9", 100), Satisfiable(0..10));
        assert_eq!(parse_range("bytes=90-", 100), Satisfiable(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Satisfiable(90..100));
        assert_eq!(parse_range("bytes=-1000", 100), Satisfiable(0..100));
        assert_eq!(parse_range("bytes=50-1000", 100), Satisfiable(50..100));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignore);
        assert_eq!(parse_range("bytes=9-1", 100), Ignore);
        assert_eq!(parse_range("items=0-1", 100), Ignore);
    }

    proptest::proptest! {
        /// Any header text, any size: an answer, never a panic, and a
        /// range to serve is never empty or past the end.
        #[test]
        fn any_range_header_is_answered_within_the_file(spec in "\\PC*|bytes=[0-9 ,-]{0,24}", size: u64) {
            if let RangeRequest::Satisfiable(range) = parse_range(&spec, size) {
                proptest::prop_assert!(range.start < range.end && range.end <= size, "{spec} {size}: {range:?}");
            }
        }

        #[test]
        fn valid_ranges_are_served_exactly(size in 1u64..u64::MAX, a: u64, b: u64) {
            let (first, last) = (a.min(b) % size, a.max(b) % size);
            let (first, last) = (first.min(last), first.max(last));
            proptest::prop_assert_eq!(
                parse_range(&format!("bytes={first}-{last}"), size),
                RangeRequest::Satisfiable(first..last + 1)
            );
        }
    }

    #[test]
    fn filenames_are_quoted_and_encoded() {
        assert_eq!(
            content_disposition("sessions_all.csv"),
            "attachment; filename=\"sessions_all.csv\"; filename*=UTF-8''sessions_all.csv"
        );
        assert!(content_disposition("Zoë \"x\".csv").contains("filename=\"Zo_ _x_.csv\""));
    }
}
