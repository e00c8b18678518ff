//! `GET /api/formats`: what clients can ask for.

use axum::extract::State;
use serde::Serialize;

use super::extract::{AppJson, Auth};
use super::state::AppState;
use exporter_runtime::OptionSpec;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FormatView {
    pub name: String,
    pub version: String,
    pub media_type: String,
    pub file_extension: String,
    pub description: String,
    /// Other names clients may use for this format.
    pub aliases: Vec<String>,
    /// sha256 of the plugin component.
    pub digest: String,
    #[schema(value_type = Vec<Object>)]
    pub options: Vec<OptionSpec>,
}

/// The formats the caller's exports run on (an organization with a canary
/// sees its canary version) and their options.
#[utoipa::path(get, path = "/api/formats", operation_id = "listFormats", tag = "formats",
    responses((status = 200, description = "The installed formats", body = Vec<FormatView>)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, Auth(caller): Auth) -> AppJson<Vec<FormatView>> {
    let formats = state
        .formats
        .names()
        .into_iter()
        .filter_map(|name| state.formats.get_for(&caller.organization_id, &name))
        .map(|formatter| {
            let info = formatter.info().clone();
            let aliases = exporter_registry::formats::aliases_of(&info.name);
            FormatView {
                name: info.name,
                version: info.version,
                media_type: info.media_type,
                file_extension: info.file_extension,
                description: info.description,
                aliases,
                digest: formatter.digest().to_owned(),
                options: info.options,
            }
        })
        .collect();
    AppJson(formats)
}
