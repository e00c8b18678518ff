//! The REST API (axum): routes, handlers one file per resource, problem+json
//! errors, bearer authentication.

mod admin_formatters;
mod admin_jobs;
mod callback_secret;
mod data_export;
mod download;
mod export_jobs;
mod extract;
mod formats;
mod health;
mod openapi;
mod problem;
mod state;
mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use export_jobs::{download_link, published_parts};
pub use openapi::ApiDoc;
pub use problem::Problem;
pub use state::{AppState, Shared};
pub use views::JobView;

/// Request bodies are small JSON documents.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What a worker-only process serves: health, readiness and metrics.
pub fn operations_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(problem::not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/export-jobs",
            post(export_jobs::create).get(export_jobs::list),
        )
        .route(
            "/api/export-jobs/{id}",
            get(export_jobs::get).delete(export_jobs::delete),
        )
        .route("/api/export-jobs/{id}/download", get(download::download))
        .route("/api/export-jobs/{id}/link", post(export_jobs::link))
        .route("/api/export-jobs/{id}/manifest", get(download::manifest))
        .route("/api/export-jobs/{id}/parts/{number}", get(download::part))
        .route("/api/files/{id}", get(download::signed))
        .route("/api/files/{id}/parts/{number}", get(download::signed_part))
        .route("/api/formats", get(formats::list))
        .route("/api/admin/formatters", get(admin_formatters::list))
        .route(
            "/api/admin/formatters/{name}",
            put(admin_formatters::install)
                .layer(DefaultBodyLimit::max(admin_formatters::MAX_COMPONENT_BYTES)),
        )
        .route(
            "/api/admin/formatters/{name}/activate",
            post(admin_formatters::activate),
        )
        .route(
            "/api/admin/formatters/{name}/versions/{version}",
            delete(admin_formatters::delete),
        )
        .route(
            "/api/admin/formatters/{name}/canary/{organization_id}",
            delete(admin_formatters::end_canary),
        )
        .route("/api/admin/export-jobs/{id}/retry", post(admin_jobs::retry))
        .route("/api/callback-secret", get(callback_secret::get))
        .route("/api/callback-secret/rotate", post(callback_secret::rotate))
        .route("/api/dataexport/{data_type}", get(data_export::data_export))
        .route("/api/admindashboard/export", get(data_export::dashboard))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/docs", get(openapi::docs))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(problem::not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(problem::panic_response))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
