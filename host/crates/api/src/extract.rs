//! Extractors whose rejections are problem details, and the authentication
//! extractor (a bearer token, or the console's session cookie).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::problem::Problem;
use super::rejection;
use super::state::AppState;
use cookie::Cookie;
use exporter_auth::sessions;
use exporter_auth::{Caller, TokenError};

/// Refuses text no engine can store: PostgreSQL `text` cannot hold NUL
/// (U+0000), and every other Unicode scalar value can be stored (invalid
/// UTF-8 never gets this far: the extractors refuse it). Every text input
/// (JSON bodies, query parameters, path segments) passes through here, so
/// such a value is the client's 422, never a database failure.
pub fn storable(field: &str, value: &str) -> Result<(), Problem> {
    if value.contains('\0') {
        return Err(Problem::unprocessable(
            "invalid-text",
            format!("{field} contains a NUL character (U+0000), which cannot be stored; remove it"),
        ));
    }
    Ok(())
}

/// [`storable`] over every string and key of a JSON document; `path`
/// names the member as the client wrote it (`filters.userId`, `columns[1]`).
fn storable_json(path: &str, value: &serde_json::Value) -> Result<(), Problem> {
    use serde_json::Value;
    let member = |name: &str| match path {
        "" => name.to_owned(),
        _ => format!("{path}.{name}"),
    };
    match value {
        Value::String(text) => storable(if path.is_empty() { "the body" } else { path }, text),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| storable_json(&format!("{path}[{i}]"), item)),
        Value::Object(members) => members.iter().try_for_each(|(name, item)| {
            storable("a member name", name)?;
            storable_json(&member(name), item)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// JSON in and out, with problem+json rejections; the body is an object,
/// and every string in it is [`storable`].
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        if !content_type.as_deref().is_some_and(is_json) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content-type",
                format!(
                    "the body must be JSON, sent with Content-Type: application/json; received {}",
                    content_type.map_or("no Content-Type".to_owned(), |t| format!("{t:?}"))
                ),
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "bad-body",
                    "the body is larger than this endpoint accepts (64 KiB)",
                )
            } else {
                Problem::new(
                    e.status(),
                    "bad-body",
                    "the body could not be read to its end",
                )
            }
        })?;
        let document: serde_json::Value = rejection::json_body(&bytes)?;
        // Every body is an object: serde would also take a struct from an
        // array (`[]` as a struct with every member absent).
        if !document.is_object() {
            return Err(Problem::unprocessable(
                "invalid-body",
                format!(
                    "the body must be a JSON object; received {}",
                    match document {
                        serde_json::Value::Array(_) => "an array",
                        serde_json::Value::String(_) => "a string",
                        serde_json::Value::Number(_) => "a number",
                        serde_json::Value::Bool(_) => "a boolean",
                        _ => "null",
                    }
                ),
            ));
        }
        let value = rejection::json_body::<T>(&bytes)?;
        storable_json("", &document)?;
        Ok(AppJson(value))
    }
}

/// `application/json`, or a `+json` type, as axum's `Json` accepts.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence.starts_with("application/") && essence.ends_with("+json")
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters, with problem+json rejections; every segment is
/// [`storable`].
pub struct AppPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for AppPath<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let raw = RawPathParams::from_request_parts(parts, state).await.ok();
        let names: Vec<String> = raw
            .iter()
            .flat_map(|raw| raw.iter().map(|(name, _)| name.to_owned()))
            .collect();
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| rejection::path(e, &names))?;
        for (name, segment) in raw.iter().flat_map(|raw| raw.iter()) {
            storable(name, segment)?;
        }
        Ok(AppPath(value))
    }
}

/// Query parameters, with problem+json rejections; every name and value is
/// [`storable`].
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let value = rejection::query::<T>(parts.uri.query().unwrap_or_default())?;
        for (name, text) in
            url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
        {
            storable("a query parameter name", &name)?;
            storable(&name, &text)?;
        }
        Ok(AppQuery(value))
    }
}

/// The authenticated caller (`Authorization: Bearer <JWT>`): a valid
/// token naming a user of its organization.
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let signed = SignedCaller::from_request_parts(parts, state).await?;
        Ok(Auth(signed.confirm(state).await?))
    }
}

/// A caller whose token is validly signed and unexpired, but not yet known
/// to name a user of its organization. For the one handler that checks
/// that in the same statement as its own read (polling a job, the hottest
/// path); the caller is only reachable through [`SignedCaller::confirmed`]
/// or [`SignedCaller::confirm`], so the check cannot be skipped.
pub struct SignedCaller(Caller);

impl SignedCaller {
    pub fn user_id(&self) -> &str {
        &self.0.user_id
    }

    pub fn organization_id(&self) -> &str {
        &self.0.organization_id
    }

    /// The caller, given whether a statement found its user in its
    /// organization.
    pub fn confirmed(self, member: bool) -> Result<Caller, Problem> {
        if !member {
            tracing::debug!(user = %self.0.user_id, organization = %self.0.organization_id,
                "token names no known user");
            return Err(Problem::unauthorized(
                "the token names no user of its organization",
            ));
        }
        Ok(self.0)
    }

    /// The caller, checked by its own lookup.
    pub async fn confirm(self, state: &AppState) -> Result<Caller, Problem> {
        // A validly signed token may still name a user who is gone, or an
        // organization that never existed: nobody the service knows.
        let member =
            exporter_auth::is_member(&state.db, &self.0.user_id, &self.0.organization_id).await?;
        self.confirmed(member)
    }
}

impl FromRequestParts<AppState> for SignedCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        // A bearer token wins; without one, the console's session cookie.
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return match cookie(&parts.headers) {
                Some(cookie) => caller(state, parts, &cookie).await.map(SignedCaller),
                None => Err(Problem::unauthorized(
                    "send a bearer token: Authorization: Bearer <token>",
                )),
            };
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Problem::unauthorized("the Authorization header must be: Bearer <token>")
            })?;
        let caller = match state.keys.verify(token) {
            Ok(caller) => caller,
            Err(TokenError::Expired) => return Err(Problem::unauthorized("the token has expired")),
            Err(e) => {
                tracing::debug!(error = %e, "token refused");
                return Err(Problem::unauthorized("the token is not valid"));
            }
        };
        // Text no database can store names no one: refused before any
        // statement sees it.
        if storable("", &caller.user_id).is_err() || storable("", &caller.organization_id).is_err()
        {
            return Err(Problem::unauthorized(
                "the token names no user of its organization",
            ));
        }
        Ok(SignedCaller(caller))
    }
}

// The console's session cookie (see `session` for signing in and out).

/// The session cookie.
pub const SESSION_COOKIE: &str = "exporter_session";
/// The header that carries the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session cookie's value, if the request has one.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    cookie_named(headers, SESSION_COOKIE)
}

pub(crate) fn cookie_named(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The caller of a request authenticated by its session cookie; a request
/// that changes something must carry the session's CSRF token.
pub(crate) async fn caller(
    state: &AppState,
    parts: &Parts,
    cookie: &str,
) -> Result<Caller, Problem> {
    let session = sessions::find(&state.db, cookie)
        .await?
        .ok_or_else(|| Problem::unauthorized("the session has ended; sign in again"))?;
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !sessions::csrf_matches(&session, sent) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "a request signed in by the session cookie that changes something must send the session's csrfToken (GET /api/session) in X-CSRF-Token",
            ));
        }
    }
    Ok(session.caller)
}

/// Refuses a caller who is not a SuperAdmin: `task` says what needs the
/// role ("managing the dataset catalog").
pub(super) fn require_superadmin(caller: &Caller, task: &str) -> Result<(), Problem> {
    if caller.role == exporter_auth::Role::SuperAdmin {
        Ok(())
    } else {
        Err(Problem::forbidden(format!(
            "{task} needs the SuperAdmin role"
        )))
    }
}

/// The organization an Admin or SuperAdmin manages in this request: their
/// own, or for a SuperAdmin the one they name (`requested`), which must
/// exist. `what` names the resource in the refusals ("callback secrets").
pub(super) async fn managed_organization(
    state: &AppState,
    caller: &Caller,
    requested: Option<String>,
    what: &str,
) -> Result<String, Problem> {
    use exporter_auth::Role;
    if !matches!(caller.role, Role::SuperAdmin | Role::Admin) {
        return Err(Problem::forbidden(format!(
            "{what} are for Admins and SuperAdmins"
        )));
    }
    let organization = match caller.organization_scope(requested) {
        Ok(Some(organization)) => organization,
        Ok(None) => caller.organization_id.clone(),
        Err(_) => {
            return Err(Problem::forbidden(format!(
                "only SuperAdmins can manage another organization's {what}"
            )));
        }
    };
    // The caller's own organization exists (authentication checked it);
    // another one is looked up, so a mistyped id is a 404.
    if organization != caller.organization_id
        && !exporter_auth::organization_exists(&state.db, &organization).await?
    {
        return Err(Problem::not_found(&format!(
            "organization {organization:?}"
        )));
    }
    Ok(organization)
}
