//! `/api/organization`: an organization's settings. Read by anyone of the
//! organization; changed by its Admins (and SuperAdmins, for any).

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::extract::{AppJson, AppQuery, Auth, managed_organization};
use super::problem::Problem;
use super::responses::{Forbidden, NotFound, Unprocessable};
use super::state::AppState;
use exporter_auth::Organization;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct OrganizationQuery {
    /// SuperAdmins: the organization (default: their own).
    organization_id: Option<String>,
}

/// An organization and its settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationView {
    pub id: String,
    pub slug: String,
    pub name: String,
    /// Where its exports show instants when a request names no zone (an
    /// IANA name); absent: UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Europe/Paris")]
    pub time_zone: Option<String>,
}

impl From<Organization> for OrganizationView {
    fn from(o: Organization) -> Self {
        OrganizationView {
            id: o.id,
            slug: o.slug,
            name: o.name,
            time_zone: o.time_zone,
        }
    }
}

/// A change of settings: the fields given are set.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganizationChange {
    /// An IANA time zone (`Europe/Paris`); `null` for UTC.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "Europe/Paris")]
    pub time_zone: Option<Option<String>>,
}

/// A member that is present, `null` included (absent stays `None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The caller's organization (a SuperAdmin may name another).
#[utoipa::path(get, path = "/api/organization", operation_id = "getOrganization", tag = "organization",
    params(OrganizationQuery),
    responses((status = 200, description = "The organization", body = OrganizationView),
        (status = 403, response = Forbidden), (status = 404, response = NotFound)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(query): AppQuery<OrganizationQuery>,
) -> Result<AppJson<OrganizationView>, Problem> {
    let id = match query.organization_id {
        // Anyone may read their own organization's settings.
        None => caller.organization_id.clone(),
        requested => {
            managed_organization(&state, &caller, requested, "organization settings").await?
        }
    };
    read(&state, &id).await.map(AppJson)
}

/// Changes the organization's settings (Admins; SuperAdmins for any).
#[utoipa::path(patch, path = "/api/organization", operation_id = "updateOrganization", tag = "organization",
    params(OrganizationQuery),
    request_body = OrganizationChange,
    responses((status = 200, description = "The organization, changed", body = OrganizationView),
        (status = 403, response = Forbidden), (status = 404, response = NotFound),
        (status = 422, response = Unprocessable)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(query): AppQuery<OrganizationQuery>,
    AppJson(change): AppJson<OrganizationChange>,
) -> Result<AppJson<OrganizationView>, Problem> {
    let id = managed_organization(
        &state,
        &caller,
        query.organization_id,
        "organization settings",
    )
    .await?;
    if let Some(time_zone) = change.time_zone {
        let time_zone = time_zone
            .map(|name| {
                exporter_export::request::time_zone(&name)
                    .map_err(|e| Problem::unprocessable("invalid-request", e.to_string()))
            })
            .transpose()?;
        exporter_auth::set_time_zone(&state.db, &id, time_zone.as_deref()).await?;
        tracing::info!(organization = %id, by = %caller.user_id, time_zone = ?time_zone, "organization time zone set");
    }
    read(&state, &id).await.map(AppJson)
}

async fn read(state: &AppState, id: &str) -> Result<OrganizationView, Problem> {
    exporter_auth::organization(&state.db, id)
        .await?
        .map(OrganizationView::from)
        .ok_or_else(|| Problem::not_found(&format!("organization {id:?}")))
}
