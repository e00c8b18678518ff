//! `/api/admin/formatters`: the plugin registry for operators (SuperAdmin
//! only): install, list, activate (also rollback and canary), delete.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::extract::{AppJson, AppPath, AppQuery, Auth};
use super::problem::Problem;
use super::responses::{BadRequest, Binary, Conflict, Forbidden, NotFound, PayloadTooLarge};
use super::state::AppState;
use exporter_auth::Caller;
use exporter_registry::{Installer, RegistryError, Selector, VersionView};

/// The largest component the API accepts (a Python plugin is ~18 MB).
pub const MAX_COMPONENT_BYTES: usize = 64 << 20;

fn require_superadmin(caller: &Caller) -> Result<(), Problem> {
    super::extract::require_superadmin(caller, "managing formatter plugins")
}

impl From<RegistryError> for Problem {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::NotFound(detail) => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", detail)
            }
            RegistryError::Conflict(detail) => Problem::conflict("plugin-conflict", detail),
            RegistryError::Invalid(detail) => Problem::bad_request("invalid-plugin", detail),
            RegistryError::Refused(installed) => {
                let detail = format!(
                    "the component was refused: {}",
                    installed
                        .report
                        .reason
                        .as_deref()
                        .unwrap_or("see the report")
                );
                Problem::unprocessable("plugin-refused", detail)
                    .with_extension("sha256", installed.version.sha256.clone().into())
                    .with_extension(
                        "report",
                        serde_json::to_value(&installed.report).unwrap_or_default(),
                    )
            }
            RegistryError::Busy(detail) => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "validation-busy", detail)
                    .with_header(axum::http::header::RETRY_AFTER, "60")
            }
            RegistryError::Database(e) => Problem::from(e),
            RegistryError::Internal(e) => Problem::internal(format!("{e:#}")),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstallParams {
    /// Activate once it passes (default true).
    activate: Option<bool>,
    /// Activate for this organization only (a canary).
    organization_id: Option<String>,
}

/// Installs a component (the body); validates it and, unless
/// `activate=false`, activates it. 201 when new, 200 when these bytes were
/// already installed, 422 with the report when refused.
#[utoipa::path(put, path = "/api/admin/formatters/{name}", operation_id = "installFormatter", tag = "plugin registry",
    params(("name" = String, Path, description = "The format the component implements"),
        ("activate" = Option<bool>, Query, description = "Activate once it passes (default true)"),
        ("organizationId" = Option<String>, Query, description = "Activate for this organization only (canary)")),
    request_body(description = "The plugin's WebAssembly component, as built (`.wasm`)",
        content = inline(Binary), content_type = "application/wasm"),
    responses((status = 201, description = "Validated and installed", body = Object),
        (status = 200, description = "These bytes were already installed", body = Object),
        (status = 400, response = BadRequest), (status = 403, response = Forbidden),
        (status = 404, response = NotFound), (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, description = "Refused (`plugin-refused`): `report` says why, `sha256` names the bytes", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many installs wait for validation (`validation-busy`), or the database is unavailable (`unavailable`): try again after `Retry-After`",
            body = Problem, content_type = "application/problem+json", headers(("Retry-After" = String)))),
    security(("bearer" = [])))]
pub async fn install(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(name): AppPath<String>,
    AppQuery(params): AppQuery<InstallParams>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    require_superadmin(&caller)?;
    // Axum's own rejection is text/plain; the API promises problem+json.
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "component-too-large",
                format!(
                    "the component is larger than {MAX_COMPONENT_BYTES} bytes, the most this endpoint accepts"
                ),
            )
        } else {
            Problem::bad_request("unreadable-body", rejection.body_text())
        }
    })?;
    let installer = Installer {
        source: "api",
        by: caller.user_id.clone(),
    };
    let installed = state
        .registry
        .install(
            body,
            Some(&name),
            &installer,
            params.activate.unwrap_or(true),
            params.organization_id.as_deref(),
        )
        .await?;
    let status = if installed.already_installed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, AppJson(installed)).into_response())
}

/// Every version, which is active where, and its install report.
#[utoipa::path(get, path = "/api/admin/formatters", operation_id = "listFormatterVersions", tag = "plugin registry",
    responses((status = 200, description = "Every installed version", body = Vec<Object>), (status = 403, response = Forbidden)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> Result<AppJson<Vec<VersionView>>, Problem> {
    require_superadmin(&caller)?;
    Ok(AppJson(state.registry.list().await?))
}

/// Which version to activate, and for whom.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivateBody {
    version: String,
    /// Needed only when two builds carry the same version.
    sha256: Option<String>,
    /// Activate for this organization only (a canary).
    organization_id: Option<String>,
}

/// Activates a version: for everyone, or as one organization's canary.
/// Activating the previous version is the rollback.
#[utoipa::path(post, path = "/api/admin/formatters/{name}/activate", operation_id = "activateFormatter", tag = "plugin registry",
    params(("name" = String, Path)), request_body = ActivateBody,
    responses((status = 200, description = "Activated", body = Object), (status = 403, response = Forbidden),
        (status = 404, response = NotFound), (status = 409, response = Conflict)),
    security(("bearer" = [])))]
pub async fn activate(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(name): AppPath<String>,
    AppJson(body): AppJson<ActivateBody>,
) -> Result<AppJson<serde_json::Value>, Problem> {
    require_superadmin(&caller)?;
    let selector = Selector {
        version: body.version,
        sha256: body.sha256,
    };
    let record = state
        .registry
        .activate(
            &name,
            &selector,
            body.organization_id.as_deref(),
            &caller.user_id,
        )
        .await?;
    Ok(AppJson(serde_json::json!({
        "name": record.name,
        "version": record.version,
        "sha256": record.sha256,
        "organizationId": body.organization_id,
        "activated": true,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteParams {
    sha256: Option<String>,
}

/// Deletes an inactive version.
#[utoipa::path(delete, path = "/api/admin/formatters/{name}/versions/{version}", operation_id = "deleteFormatterVersion", tag = "plugin registry",
    params(("name" = String, Path), ("version" = String, Path),
        ("sha256" = Option<String>, Query, description = "Needed when two builds carry the version")),
    responses((status = 204, description = "Deleted"), (status = 403, response = Forbidden),
        (status = 404, response = NotFound), (status = 409, response = Conflict)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((name, version)): AppPath<(String, String)>,
    AppQuery(params): AppQuery<DeleteParams>,
) -> Result<StatusCode, Problem> {
    require_superadmin(&caller)?;
    let selector = Selector {
        version,
        sha256: params.sha256,
    };
    state.registry.delete(&name, &selector).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends an organization's canary: it gets everyone's version again.
#[utoipa::path(delete, path = "/api/admin/formatters/{name}/canary/{organization_id}", operation_id = "endFormatterCanary", tag = "plugin registry",
    params(("name" = String, Path), ("organization_id" = String, Path)),
    responses((status = 204, description = "Ended"), (status = 403, response = Forbidden),
        (status = 404, response = NotFound), (status = 409, response = Conflict)),
    security(("bearer" = [])))]
pub async fn end_canary(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((name, organization)): AppPath<(String, String)>,
) -> Result<StatusCode, Problem> {
    require_superadmin(&caller)?;
    state.registry.end_canary(&name, &organization).await?;
    Ok(StatusCode::NO_CONTENT)
}
