//! The answers the OpenAPI document declares, so that a client generated
//! from it handles every one: a reusable `application/problem+json`
//! response per error status (`#/components/responses/NotFound`, ...),
//! the media types of downloads, and [`ImpliedProblems`], which adds to
//! each operation the problems its shape alone can cause.
//!
//! Who declares what: a handler's `#[utoipa::path]` names the answers of
//! its own logic (`response = NotFound`, `response = Conflict`, ...);
//! [`ImpliedProblems`] adds the ones every operation of that shape shares
//! (401 with a bearer token, 400 and 422 with parameters or a body, 413
//! and 415 with a JSON body, 503 and 500), unless the handler already
//! declared that status with its own description.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Ref, RefOr, Schema};

/// The media type of every error answer (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// How far past its `exp` a token is still accepted, for clock skew.
pub const TOKEN_LEEWAY_SECONDS: u64 = exporter_auth::EXPIRY_LEEWAY_SECONDS;

/// Bytes of any media type: a downloaded file, whose type is its format's
/// (`text/csv`, `application/json`, ... as `GET /api/formats` lists them).
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .build()
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

/// A problem answer: the `Problem` schema as `application/problem+json`,
/// with the headers that status carries.
fn problem(description: &str, headers: &[(&str, &str)]) -> Response {
    let mut builder = ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    for (name, description) in headers {
        builder = builder.header(
            *name,
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(*description))
                .build(),
        );
    }
    builder.build()
}

/// One reusable problem response per status: `(status = 404, response =
/// NotFound)` in a handler's annotation, a `$ref` in the document.
macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident: $description:expr $(, header $header:literal = $header_doc:literal)*;)*) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), problem(&$description, &[$(($header, $header_doc)),*]).into())
                }
            }
        )*

        /// Every problem response, for the document's components.
        pub fn all() -> Vec<(String, RefOr<Response>)> {
            vec![$({
                let (name, response) = <$name as utoipa::ToResponse>::response();
                (name.to_owned(), response)
            }),*]
        }
    };
}

problem_responses! {
    /// 400.
    BadRequest: "The request cannot be read: a path or query parameter, a header or the body is \
        malformed or unknown (`invalid-path`, `invalid-query`, `invalid-cursor`, \
        `invalid-idempotency-key`, `malformed-json`, `bad-body`, ...). `detail` names the field, \
        what was expected and what was received.";
    /// 401.
    Unauthorized: format!("No bearer token, or one that is not valid, has expired (a token is \
        accepted up to {TOKEN_LEEWAY_SECONDS} seconds past its `exp`, for clock skew), or names no \
        user of its organization (`unauthorized`)."),
        header "WWW-Authenticate" = "`Bearer`";
    /// 403.
    Forbidden: "The caller's role may not do this, or the organization named is not theirs \
        (`forbidden`); for a signed link, a tampered (`invalid-link`) or expired \
        (`link-expired`) one.";
    /// 404.
    NotFound: "Nothing the caller may see is there (`not-found`): a job of another tenant is not \
        found either. `no-manifest` for a job not written in parts.";
    /// 409.
    Conflict: "Not in a state to do this: the job is not Completed (`not-completed`) or not \
        Failed (`not-failed`), or the plugin version is active or ambiguous (`plugin-conflict`).";
    /// 410.
    Gone: "The file has expired or was deleted (`expired`).";
    /// 413.
    PayloadTooLarge: "The body is larger than this endpoint accepts (`bad-body`, \
        `component-too-large`), or a direct export has more rows than it may stream \
        (`too-many-rows`: create an export job instead).";
    /// 415.
    UnsupportedMediaType: "The body must be JSON: `Content-Type: application/json` \
        (`content-type`).";
    /// 416.
    RangeNotSatisfiable: "The `Range` starts past the end of the file \
        (`range-not-satisfiable`).",
        header "Content-Range" = "`bytes */<size>`";
    /// 422.
    Unprocessable: "The request was read but cannot be done: a field's value is not acceptable \
        (`invalid-body`, `invalid-request`, `invalid-options`, `unknown-format`, \
        `invalid-callback-url`, `idempotency-key-reused`, `plugin-refused`), or text holds a NUL \
        character, which no database stores (`invalid-text`).";
    /// 500.
    Internal: "A failure on our side (`internal`): logged in full with the problem's \
        `requestId`, reported without internals.";
    /// 503.
    Unavailable: "A dependency (the database, the blob store, plugin validation) is not \
        available for a while (`unavailable`, `validation-busy`): try again after `Retry-After` \
        seconds.",
        header "Retry-After" = "Seconds to wait before trying again";
}

/// Adds to every operation the problems its shape implies (see the module
/// docs); a status the handler declared itself is left as it is.
pub struct ImpliedProblems;

impl utoipa::Modify for ImpliedProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                imply(path, operation);
            }
        }
    }
}

fn imply(path: &str, operation: &mut Operation) {
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let has_input = operation
        .parameters
        .as_ref()
        .is_some_and(|parameters| !parameters.is_empty())
        || operation.request_body.is_some();
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| body.content.contains_key("application/json"));
    let mut implied: Vec<(&str, &str)> = Vec::new();
    if has_input {
        implied.push(("400", "BadRequest"));
    }
    if secured {
        implied.push(("401", "Unauthorized"));
    }
    if json_body {
        implied.push(("413", "PayloadTooLarge"));
        implied.push(("415", "UnsupportedMediaType"));
    }
    if has_input {
        implied.push(("422", "Unprocessable"));
    }
    implied.push(("500", "Internal"));
    // Liveness answers without a dependency; everything else reads the
    // database (authentication too).
    if path != "/healthz" {
        implied.push(("503", "Unavailable"));
    }
    let responses = &mut operation.responses.responses;
    for (status, name) in implied {
        if !responses.contains_key(status) {
            responses.insert(
                status.to_owned(),
                RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))),
            );
        }
    }
}
