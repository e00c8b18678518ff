//! RFC 9457 problem details: every error the API returns, including the
//! ones axum's extractors and router produce on their own.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// What every problem's `type` starts with.
pub const TYPE_PREFIX: &str = "urn:exporter:problem:";

/// Every kind of problem the API answers with: a problem's `type` is
/// [`TYPE_PREFIX`] and one of these. The document's `Problem.type` enum is
/// made from this list, so a client can branch on every value; a kind not
/// listed here fails `every_kind_the_sources_use_is_listed` (and a debug
/// assertion in [`Problem::new`]). Keep each stable: clients match on it.
pub const KINDS: &[&str] = &[
    // 400: the request cannot be read.
    "bad-body",
    "invalid-path",
    "invalid-query",
    "invalid-cursor",
    "invalid-idempotency-key",
    "invalid-last-event-id",
    "malformed-json",
    "invalid-plugin",
    "unreadable-body",
    // 401, 403: who is asking, and may they.
    "unauthorized",
    "forbidden",
    "csrf",
    "invalid-link",
    "link-expired",
    // 404, 405: nothing there.
    "not-found",
    "no-manifest",
    "method-not-allowed",
    // 409, 410: not in a state to answer.
    "not-completed",
    "not-failed",
    "plugin-conflict",
    "expired",
    // 413, 415, 416: the request's size, media type or range.
    "component-too-large",
    "too-many-rows",
    "content-type",
    "range-not-satisfiable",
    // 422: read, but not acceptable.
    "invalid-body",
    "invalid-request",
    "invalid-text",
    "invalid-options",
    "invalid-callback-url",
    "idempotency-key-reused",
    "unknown-format",
    "unknown-dataset",
    "invalid-dataset",
    "plugin-refused",
    // 500, 503: our side.
    "internal",
    "unavailable",
    "validation-busy",
];

/// `Problem.type`: a string, one of [`KINDS`] after [`TYPE_PREFIX`].
fn type_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(
            "`urn:exporter:problem:<kind>`: stable, for programs to branch on.",
        ))
        .enum_values(Some(
            KINDS.iter().map(|kind| format!("{TYPE_PREFIX}{kind}")),
        ))
        .build()
}

/// An error response: `application/problem+json` (RFC 9457). Members
/// beyond these are extensions of one kind of problem: `report` and
/// `sha256` of `plugin-refused`, `dependency` of `readyz`'s `unavailable`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:exporter:problem:<kind>`: stable, for programs to branch on.
    #[serde(rename = "type")]
    #[schema(schema_with = type_schema)]
    pub kind: String,
    /// The status's reason phrase.
    #[schema(value_type = String)]
    pub title: &'static str,
    /// The HTTP status, repeated.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong with this request, in a sentence for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// RFC 9457 extension members (e.g. a refused plugin's `report`);
    /// boxed so the common case keeps `Result<_, Problem>` small. Not in
    /// the schema as a member: they are the object's other members, which
    /// the schema allows (the type's docs name them).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub extensions: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    /// The request's id (its `x-request-id`): quote it when reporting a
    /// problem, and its log lines are found.
    /// (`Box<str>` and the `&'static` title keep `Result<_, Problem>`
    /// small.)
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub request_id: Option<Box<str>>,
    #[serde(skip)]
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        debug_assert!(
            KINDS.contains(&kind),
            "problem kind {kind:?} is not in KINDS"
        );
        Self {
            kind: format!("{TYPE_PREFIX}{kind}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: Some(detail.into()),
            extensions: None,
            request_id: None,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    /// Adds an extension member.
    pub fn with_extension(mut self, name: &str, value: serde_json::Value) -> Self {
        self.extensions
            .get_or_insert_default()
            .insert(name.to_owned(), value);
        self
    }

    pub fn bad_request(kind: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, detail)
    }

    pub fn unprocessable(kind: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, kind, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
            .with_header(header::WWW_AUTHENTICATE, "Bearer")
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// Also the answer for things the caller may not see: a job of another
    /// tenant does not exist, as far as they can tell.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }

    pub fn conflict(kind: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, kind, detail)
    }

    pub fn gone(kind: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, kind, detail)
    }

    /// Something on our side is down for a while: try again.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
            .with_header(header::RETRY_AFTER, "5")
    }

    /// A bug or an unexpected failure: logged with its cause, reported
    /// without internals.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request failed on our side; it has been logged",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(mut self) -> Response {
        if self.request_id.is_none() {
            self.request_id = super::request_id::current().map(String::into_boxed_str);
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// A query the request cannot run: a column the caller's role may not see
/// is a refusal of permission (naming the column); anything else is the
/// request's mistake.
impl From<exporter_source::QueryError> for Problem {
    fn from(error: exporter_source::QueryError) -> Self {
        match error {
            exporter_source::QueryError::HiddenColumn { .. }
            | exporter_source::QueryError::MaskedFilter { .. } => {
                Problem::forbidden(error.to_string())
            }
            _ => Problem::unprocessable("invalid-request", error.to_string()),
        }
    }
}

impl From<sqlx::Error> for Problem {
    fn from(error: sqlx::Error) -> Self {
        let failure = exporter_store::db::classify(&error);
        Problem::database(failure, &error)
    }
}

impl From<exporter_jobs::links::LinkFailure> for Problem {
    fn from(failure: exporter_jobs::links::LinkFailure) -> Self {
        match failure {
            exporter_jobs::links::LinkFailure::Database(error) => error.into(),
            exporter_jobs::links::LinkFailure::Internal(error) => Problem::internal(error),
        }
    }
}

impl Problem {
    /// A failed database call, answered by what it means
    /// ([`exporter_store::db::classify`]): only an outage says "try again".
    pub fn database(failure: exporter_store::db::DbFailure, error: &dyn std::fmt::Display) -> Self {
        use exporter_store::db::DbFailure;
        match failure {
            DbFailure::Request => {
                tracing::info!(error = %error, "the database refused the request's values");
                Problem::unprocessable(
                    "invalid-request",
                    "the request names something that does not exist or holds a value that cannot be stored",
                )
            }
            DbFailure::Transient => {
                tracing::error!(error = %error, "database error");
                Problem::unavailable("the database is not available; try again shortly")
            }
            DbFailure::Internal => Problem::internal(format!("database error: {error}")),
        }
    }

    /// An `anyhow` error from a layer over the database: sorted by its
    /// `sqlx` cause; `outage` is the 503's detail when it is transient.
    pub fn from_chain(error: &anyhow::Error, outage: &str) -> Self {
        match exporter_store::db::classify_chain(error) {
            Some(exporter_store::db::DbFailure::Transient) => {
                tracing::error!(error = %format!("{error:#}"), "{outage}");
                Problem::unavailable(outage)
            }
            Some(failure) => Problem::database(failure, &format!("{error:#}")),
            None => Problem::internal(format!("{error:#}")),
        }
    }
}

/// Unknown routes.
pub async fn not_found() -> Problem {
    Problem::not_found("resource")
}

/// Known routes, wrong method.
pub async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this resource does not support that method",
    )
}

/// A handler panicked: answer 500 as a problem and keep serving.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    Problem::internal("a request handler panicked").into_response()
}
