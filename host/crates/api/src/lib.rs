//! The REST API (axum): routes, handlers one file per resource, problem+json
//! errors, bearer authentication.
//!
//! # Layout
//! One file per resource (`export_jobs`, `download`, `formats`, `datasets`,
//! `admin_formatters`, `admin_jobs`, `admin_queue`, `callback_secret`,
//! `data_export`, `health`, `session`: the console's sign-in), and `events`
//! (the job event stream), routed below; `extract` (JSON, path, query and the bearer
//! caller, each refusing bad input as problem+json), `rejection` (why
//! input was refused, in a sentence naming the field), `problem` (RFC 9457),
//! `state` (what handlers reach), `request_id` (the id every request,
//! its log lines and its problems carry), `openapi` (the document, from the
//! handlers' annotations), `responses` (the answers it declares: reusable
//! problem responses and the ones an operation's shape implies). A new endpoint is a function in its resource's
//! file, a route here and a line in `openapi.rs`.
//!
//! The top of the host's crates: only the binary imports it.

mod admin_formatters;
mod admin_jobs;
mod admin_queue;
mod callback_secret;
mod data_export;
mod datasets;
mod download;
mod events;
mod export_jobs;
mod extract;
mod formats;
mod health;
mod openapi;
mod organization;
mod problem;
mod rejection;
mod request_id;
mod responses;
mod session;
mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use events::{JobFeed, run_job_feed};
pub use export_jobs::{download_link, published_parts};
pub use exporter_jobs::view::JobView;
pub use openapi::ApiDoc;
pub use problem::Problem;
pub use state::{ApiSettings, AppState, Shared};

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
        .layer(http_trace())
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(state)
}

/// The request span maker of [`http_trace`].
type CurrentSpan = fn(&axum::http::Request<axum::body::Body>) -> tracing::Span;

/// tower-http's request and response events, inside the request's own
/// span (`request_id::layer`) rather than a second one.
fn http_trace() -> TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    CurrentSpan,
> {
    TraceLayer::new_for_http()
        .make_span_with(|_: &axum::http::Request<axum::body::Body>| tracing::Span::current())
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/export-jobs",
            post(export_jobs::create).get(export_jobs::list),
        )
        .route("/api/export-jobs/events", get(events::events))
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
        .route("/api/datasets", get(datasets::list))
        .route("/api/datasets/{name}", get(datasets::get))
        .route(
            "/api/admin/datasets/{name}",
            put(datasets::put).delete(datasets::delete),
        )
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
        .route("/api/admin/queue", get(admin_queue::queue))
        .route("/api/admin/health", get(admin_queue::health))
        .route(
            "/api/session",
            get(session::get)
                .post(session::create)
                .delete(session::delete),
        )
        .route("/api/session/options", get(session::options))
        .route("/api/session/oidc/login", get(session::oidc_login))
        .route("/api/session/oidc/callback", get(session::oidc_callback))
        .route("/api/callback-secret", get(callback_secret::get))
        .route("/api/callback-secret/rotate", post(callback_secret::rotate))
        .route(
            "/api/organization",
            get(organization::get).patch(organization::update),
        )
        .route("/api/dataexport/{data_type}", get(data_export::data_export))
        .route("/api/admindashboard/export", get(data_export::dashboard))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/docs", get(openapi::docs))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        // The web console: `/` and `/assets/...`.
        .merge(exporter_console::router())
        .fallback(problem::not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(problem::panic_response))
        .layer(http_trace())
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(state)
}
