//! The OpenAPI document, generated from the handlers' annotations, and an
//! offline docs page that renders it.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin_formatters, admin_jobs, admin_queue, callback_secret, data_export, datasets, download,
    events, export_jobs, formats, health, organization, problem, responses, session,
};
use exporter_auth::Role;
use exporter_jobs::{self as jobs, view as views};
use responses::ImpliedProblems;

#[derive(OpenApi)]
#[openapi(
    info(title = "Exporter", description = "Asynchronous data exports whose formats are sandboxed WebAssembly plugins."),
    paths(
        export_jobs::create, export_jobs::get, export_jobs::list, export_jobs::delete, export_jobs::link,
        download::download, download::signed, download::part, download::signed_part, download::manifest,
        formats::list,
        datasets::list, datasets::get, datasets::put, datasets::delete,
        data_export::data_export, data_export::dashboard,
        health::healthz, health::readyz, health::metrics,
        admin_formatters::install, admin_formatters::list, admin_formatters::activate,
        admin_formatters::delete, admin_formatters::end_canary, admin_jobs::retry,
        callback_secret::get, callback_secret::rotate,
        organization::get, organization::update,
        events::events, admin_queue::queue, admin_queue::health,
        session::options, session::get, session::create, session::delete,
        session::oidc_login, session::oidc_callback,
    ),
    components(schemas(
        jobs::ExportRequest, jobs::DateRange, jobs::Filters, jobs::OptionValue, jobs::JobStatus,
        views::JobView, views::CoverageView, views::AttemptErrorView, views::ProgressView, views::FileView, views::PluginRef, views::JobPage, views::LinkView,
        views::CallbackView, views::CallbackAttemptView, views::PartView, callback_secret::CallbackSecretView, exporter_export::compress::Compression,
        formats::FormatView, problem::Problem, health::Health, Role,
        datasets::DatasetView, datasets::ColumnView, datasets::InstalledView,
        exporter_source::Dataset, exporter_source::DatasetColumn, exporter_source::catalog::EngineSql,
        exporter_source::catalog::Mask, exporter_source::query::filter::ColumnFilter,
        exporter_source::query::filter::FilterValue,
        organization::OrganizationView, organization::OrganizationChange,
        admin_queue::QueueView, admin_queue::OrganizationQueue, admin_queue::LastHourView,
        admin_queue::HealthView, admin_queue::Readiness, admin_queue::WorkerReadiness,
        session::SignInOptions, session::DemoAccount, session::OidcOption, session::SessionView,
        session::SignIn,
    )),
    modifiers(&Bearer, &ImpliedProblems),
)]
pub struct ApiDoc;

/// The bearer scheme every protected operation names, and the reusable
/// problem responses ([`responses`]).
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
                    .description(Some(format!(
                        "A JWT naming the user (`sub`), their organization (`org`) and `role`, \
                         signed with the service's secret (HS256) or verified with an identity \
                         provider's public key (RS256, ES256). It is refused once past its `exp`, with \
                         {} seconds of leeway for clock skew between the issuer and this service. \
                         Without a bearer token, the web console's session cookie (`exporter_session`, \
                         from `POST /api/session`) authenticates instead; a request that changes \
                         something must then also send the session's `csrfToken` in `X-CSRF-Token`.",
                        responses::TOKEN_LEEWAY_SECONDS
                    )))
                    .build(),
            ),
        );
        components.responses.extend(responses::all());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{KINDS, TYPE_PREFIX};
    use serde_json::Value;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).expect("the document is JSON")
    }

    /// A `$ref` followed to what it names.
    fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
        match value["$ref"].as_str() {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                document.pointer(pointer).expect("the $ref resolves")
            }
            None => value,
        }
    }

    fn operations(document: &Value) -> Vec<(String, &Value)> {
        let mut operations = Vec::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                operations.push((format!("{} {path}", method.to_uppercase()), operation));
            }
        }
        operations
    }

    #[test]
    fn every_error_answer_is_a_problem_with_its_media_type() {
        let document = document();
        let mut errors = 0;
        for (name, operation) in operations(&document) {
            let responses = operation["responses"].as_object().expect("responses");
            assert!(responses.contains_key("500"), "{name} lacks 500");
            for (status, response) in responses {
                let response = resolve(&document, response);
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{name} {status} has no description"
                );
                if status.as_str() < "400" {
                    continue;
                }
                errors += 1;
                let content = response["content"].as_object().expect("content");
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{name} {status}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{name} {status}"
                );
            }
        }
        assert!(errors > 100, "{errors} error answers");
    }

    #[test]
    fn every_protected_operation_names_the_scheme_and_answers_401() {
        let document = document();
        let open = ["GET /healthz", "GET /readyz", "GET /metrics"];
        for (name, operation) in operations(&document) {
            // Signing in and out of the console: no bearer token; the
            // session cookie is the operation's own business (a 401 says
            // there is none).
            if name.contains(" /api/session") {
                assert!(operation.get("security").is_none(), "{name}");
                continue;
            }
            let signed_link = name.starts_with("GET /api/files/");
            if open.contains(&name.as_str()) || signed_link {
                assert!(operation.get("security").is_none(), "{name}");
                assert!(operation["responses"].get("401").is_none(), "{name}");
                continue;
            }
            assert_eq!(
                operation["security"],
                serde_json::json!([{"bearer": []}]),
                "{name}"
            );
            assert!(operation["responses"].get("401").is_some(), "{name}");
        }
        let scheme = &document["components"]["securitySchemes"]["bearer"];
        assert!(
            scheme["description"]
                .as_str()
                .is_some_and(|d| d.contains("30 seconds of leeway")),
            "{scheme}"
        );
        assert!(
            document["components"]["responses"]["Unauthorized"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("30 seconds")),
        );
    }

    /// Generators name a client's functions after them.
    #[test]
    fn every_operation_has_its_own_id() {
        let document = document();
        let mut ids: Vec<&str> = operations(&document)
            .into_iter()
            .map(|(name, operation)| {
                operation["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name} has no operationId"))
            })
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "operationIds repeat: {ids:?}");
    }

    #[test]
    fn the_problem_type_enumerates_every_kind() {
        let document = document();
        let schema = &document["components"]["schemas"]["Problem"]["properties"]["type"];
        let listed: Vec<String> = KINDS
            .iter()
            .map(|kind| format!("{TYPE_PREFIX}{kind}"))
            .collect();
        assert_eq!(schema["enum"], serde_json::json!(listed), "{schema}");
    }

    #[test]
    fn a_component_is_uploaded_as_wasm_bytes() {
        let document = document();
        let body = &document["paths"]["/api/admin/formatters/{name}"]["put"]["requestBody"];
        let content = body["content"].as_object().expect("content");
        assert_eq!(content.keys().collect::<Vec<_>>(), ["application/wasm"]);
        assert_eq!(
            content["application/wasm"]["schema"],
            serde_json::json!({"type": "string", "format": "binary"})
        );
    }

    /// The kinds the sources pass to `Problem`'s constructors, as string
    /// literals: the first argument, or the second of `new`.
    fn kinds_in(source: &str) -> Vec<String> {
        let mut kinds = Vec::new();
        for (call, index) in [
            ("Problem::new(", 1),
            ("Self::new(", 1),
            ("Problem::bad_request(", 0),
            ("Problem::unprocessable(", 0),
            ("Problem::conflict(", 0),
            ("Problem::gone(", 0),
        ] {
            for (at, _) in source.match_indices(call) {
                let arguments = arguments(&source[at + call.len()..]);
                if let Some(kind) = arguments
                    .get(index)
                    .and_then(|a| a.trim().strip_prefix('"'))
                    .and_then(|a| a.strip_suffix('"'))
                {
                    kinds.push(kind.to_owned());
                }
            }
        }
        kinds
    }

    /// A call's arguments, split at its top-level commas.
    fn arguments(text: &str) -> Vec<&str> {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        let (mut start, mut arguments) = (0, Vec::new());
        for (i, c) in text.char_indices() {
            if in_string {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_string = true,
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' if depth == 0 => {
                    arguments.push(&text[start..i]);
                    return arguments;
                }
                ')' | ']' | '}' => depth -= 1,
                ',' if depth == 0 => {
                    arguments.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        arguments
    }

    #[test]
    fn every_kind_the_sources_use_is_listed() {
        let mut used = Vec::new();
        // Every source file, in folders too (`events/`).
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).expect("src") {
                let path = entry.expect("entry").path();
                match path.is_dir() {
                    true => dirs.push(path),
                    false => files.push(path),
                }
            }
        }
        for path in files {
            if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).expect("source");
                for kind in kinds_in(&source) {
                    used.push((
                        kind,
                        path.file_name().unwrap().to_string_lossy().into_owned(),
                    ));
                }
            }
        }
        // The scanner itself works: it finds the kinds of this crate's
        // many constructors, a wrong one included.
        assert!(used.len() > 40, "{used:?}");
        assert_eq!(
            kinds_in("Problem::new(StatusCode::GONE, \"gone-away\", format!(\"a, b\"))"),
            ["gone-away"]
        );
        for (kind, file) in &used {
            assert!(
                KINDS.contains(&kind.as_str()),
                "{file} answers problem kind {kind:?}, which problem::KINDS (and so the document) does not list"
            );
        }
        for kind in KINDS {
            assert!(
                used.iter().any(|(k, _)| k == kind),
                "problem::KINDS lists {kind:?}, which no constructor uses: remove it"
            );
        }
    }
}
