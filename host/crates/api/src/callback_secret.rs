//! `/api/callback-secret`: the secret an organization's callbacks are
//! signed with (Admins of the organization, SuperAdmins for any), and its
//! rotation.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::extract::{AppJson, AppQuery, Auth, managed_organization};
use super::problem::Problem;
use super::responses::{Forbidden, NotFound};
use super::state::AppState;
use exporter_auth::Caller;
use exporter_jobs::callbacks::store::{self, OrganizationSecret};
use exporter_runtime::batch::time::format_timestamp;

/// How long a rotated-out secret keeps signing beside the new one, so
/// receivers can switch without missing a delivery.
const ROTATION_GRACE_MICROS: i64 = 24 * 3600 * 1_000_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SecretQuery {
    /// SuperAdmins: the organization (default: their own).
    organization_id: Option<String>,
}

/// An organization's callback signing secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackSecretView {
    pub organization_id: String,
    /// Verify `Exporter-Signature: t=...,v1=...` as HMAC-SHA256 of
    /// `"{t}.{body}"` with this secret.
    pub secret: String,
    /// RFC 3339, UTC.
    pub rotated_at: String,
    /// Until then, deliveries carry a second `v1=` signed with the secret
    /// before the last rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_valid_until: Option<String>,
    /// The header deliveries carry.
    pub header: &'static str,
}

impl CallbackSecretView {
    fn new(organization_id: String, secret: OrganizationSecret) -> Self {
        let now = exporter_store::db::now_micros();
        Self {
            organization_id,
            secret: secret.secret,
            rotated_at: format_timestamp(secret.rotated_at),
            previous_valid_until: secret
                .previous
                .map(|(_, until)| until)
                .filter(|until| *until > now)
                .map(format_timestamp),
            header: exporter_jobs::callbacks::signing::SIGNATURE_HEADER,
        }
    }
}

async fn organization(
    state: &AppState,
    caller: &Caller,
    query: SecretQuery,
) -> Result<String, Problem> {
    managed_organization(state, caller, query.organization_id, "callback secrets").await
}

/// The organization's callback secret (created on first use).
#[utoipa::path(get, path = "/api/callback-secret", operation_id = "getCallbackSecret", tag = "callbacks",
    params(SecretQuery),
    responses((status = 200, description = "The organization's secret", body = CallbackSecretView),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(query): AppQuery<SecretQuery>,
) -> Result<AppJson<CallbackSecretView>, Problem> {
    let organization = organization(&state, &caller, query).await?;
    let secret = store::secret(&state.db, &organization).await?;
    Ok(AppJson(CallbackSecretView::new(organization, secret)))
}

/// A new secret; the previous one keeps signing, beside it, for 24 hours.
#[utoipa::path(post, path = "/api/callback-secret/rotate", operation_id = "rotateCallbackSecret", tag = "callbacks",
    params(SecretQuery),
    responses((status = 200, description = "The organization's secret", body = CallbackSecretView),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)),
    security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(query): AppQuery<SecretQuery>,
) -> Result<AppJson<CallbackSecretView>, Problem> {
    let organization = organization(&state, &caller, query).await?;
    let secret = store::rotate(&state.db, &organization, ROTATION_GRACE_MICROS).await?;
    tracing::info!(organization = %organization, by = %caller.user_id, "callback secret rotated");
    Ok(AppJson(CallbackSecretView::new(organization, secret)))
}
