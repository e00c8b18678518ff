//! The OpenAPI document, generated from the handlers' annotations, and an
//! offline docs page that renders it.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin_formatters, admin_jobs, callback_secret, data_export, download, export_jobs, formats,
    health, problem,
};
use exporter_auth::Role;
use exporter_jobs::{self as jobs, view as views};

#[derive(OpenApi)]
#[openapi(
    info(title = "Exporter", description = "Asynchronous data exports whose formats are sandboxed WebAssembly plugins."),
    paths(
        export_jobs::create, export_jobs::get, export_jobs::list, export_jobs::delete, export_jobs::link,
        download::download, download::signed, download::part, download::signed_part, download::manifest,
        formats::list,
        data_export::data_export, data_export::dashboard,
        health::healthz, health::readyz, health::metrics,
        admin_formatters::install, admin_formatters::list, admin_formatters::activate,
        admin_formatters::delete, admin_formatters::end_canary, admin_jobs::retry,
        callback_secret::get, callback_secret::rotate,
    ),
    components(schemas(
        jobs::ExportRequest, jobs::DateRange, jobs::Filters, jobs::OptionValue, jobs::JobStatus,
        views::JobView, views::CoverageView, views::AttemptErrorView, views::ProgressView, views::FileView, views::PluginRef, views::JobPage, views::LinkView,
        views::CallbackView, views::CallbackAttemptView, views::PartView, callback_secret::CallbackSecretView, exporter_export::compress::Compression,
        formats::FormatView, problem::Problem, health::Health, Role,
    )),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `GET /api/openapi.json`.
pub async fn document() -> Response {
    let json = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], json).into_response()
}

/// `GET /api/docs`: a self-contained page (no CDN) listing every operation.
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
