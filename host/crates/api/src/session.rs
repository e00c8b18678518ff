//! The console's sign-in: a session cookie opened from a demo account, a
//! pasted bearer token, or an OpenID Connect provider's sign-in.
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no
//! other site's page sends it) and `Secure` when the service is served over
//! https. A request authenticated by the cookie that changes something must
//! also carry the session's CSRF token in `X-CSRF-Token`: a header no form
//! of another origin can set. The REST API's bearer tokens work as before;
//! with one, no cookie is read.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};

use super::extract::{AppJson, AppQuery, SESSION_COOKIE, caller, cookie, cookie_named, storable};
use super::problem::Problem;
use super::responses::{Forbidden, NotFound, Unauthorized, Unavailable, Unprocessable};
use super::state::AppState;
use exporter_auth::Role;
use exporter_auth::oidc::{PendingSignIn, SignInError};
use exporter_auth::sessions::{self, SESSION_TTL, Session};

/// A sign-in on its way through the identity provider.
const SIGN_IN_COOKIE: &str = "exporter_oidc";
/// Where the sign-in cookie is sent: the callback only.
const SIGN_IN_PATH: &str = "/api/session/oidc";

/// How one can sign in here.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignInOptions {
    /// The demo accounts (only when the service runs with `--demo`).
    demo_accounts: Option<Vec<DemoAccount>>,
    /// The identity provider, when one is configured.
    oidc: Option<OidcOption>,
    /// Pasting a bearer token always works.
    token: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DemoAccount {
    email: &'static str,
    name: &'static str,
    role: &'static str,
    /// The demo organization's short name (`acme`, `globex`).
    organization: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcOption {
    /// Navigate the browser here to sign in.
    login_url: &'static str,
    issuer: String,
}

/// How to sign in to the console.
#[utoipa::path(get, path = "/api/session/options", operation_id = "getSignInOptions", tag = "console",
    responses((status = 200, description = "The ways to sign in", body = SignInOptions)))]
pub async fn options(State(state): State<AppState>) -> AppJson<SignInOptions> {
    AppJson(SignInOptions {
        demo_accounts: state.settings.demo.then(|| {
            exporter_source::demo::ACCOUNTS
                .iter()
                .map(|&(email, name, role, organization)| DemoAccount {
                    email,
                    name,
                    role,
                    organization,
                })
                .collect()
        }),
        oidc: state.oidc.as_ref().map(|oidc| OidcOption {
            login_url: "/api/session/oidc/login",
            issuer: oidc.issuer().to_owned(),
        }),
        token: true,
    })
}

/// The signed-in user, and the token to send back in `X-CSRF-Token`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    user_id: String,
    email: String,
    name: String,
    role: Role,
    organization_id: String,
    csrf_token: String,
    /// RFC 3339, UTC.
    expires_at: String,
}

impl From<Session> for SessionView {
    fn from(session: Session) -> Self {
        Self {
            user_id: session.caller.user_id,
            email: session.email,
            name: session.name,
            role: session.caller.role,
            organization_id: session.caller.organization_id,
            csrf_token: session.csrf_token,
            expires_at: exporter_runtime::batch::time::format_timestamp(session.expires_at),
        }
    }
}

/// The session this browser holds.
#[utoipa::path(get, path = "/api/session", operation_id = "getSession", tag = "console",
    responses((status = 200, description = "Signed in", body = SessionView),
        (status = 401, response = Unauthorized)))]
pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let session = match cookie(&headers) {
        Some(value) => sessions::find(&state.db, &value).await?,
        None => None,
    }
    .ok_or_else(|| Problem::unauthorized("not signed in"))?;
    let mut response = AppJson(SessionView::from(session)).into_response();
    no_store(&mut response);
    Ok(response)
}

/// How to open a session: one of the two.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignIn {
    /// A demo account's email (only with `--demo`).
    demo_account: Option<String>,
    /// A bearer token this service accepts.
    token: Option<String>,
}

/// Opens a session (sets the session cookie).
#[utoipa::path(post, path = "/api/session", operation_id = "signIn", tag = "console",
    request_body = SignIn,
    responses((status = 200, description = "Signed in; the cookie is set", body = SessionView),
        (status = 401, response = Unauthorized), (status = 422, response = Unprocessable)))]
pub async fn create(
    State(state): State<AppState>,
    AppJson(body): AppJson<SignIn>,
) -> Result<Response, Problem> {
    let user_id = match (body.demo_account, body.token) {
        (Some(email), None) => {
            let demo = exporter_source::demo::ACCOUNTS
                .iter()
                .any(|&(demo, ..)| demo.eq_ignore_ascii_case(&email));
            if !state.settings.demo || !demo {
                return Err(Problem::unprocessable(
                    "invalid-body",
                    "demoAccount: demo accounts sign in only on a service started with --demo; sign in with a token or your identity provider",
                ));
            }
            sessions::user_by_email(&state.db, &email)
                .await?
                .ok_or_else(|| {
                    Problem::unauthorized(format!(
                        "the demo account {email} is not in the database; seed it with `exporter demo-data`"
                    ))
                })?
        }
        (None, Some(token)) => {
            let caller = state.keys.verify(token.trim()).map_err(|e| {
                tracing::debug!(error = %e, "sign-in token refused");
                Problem::unauthorized(format!("token: {e}"))
            })?;
            storable("token", &caller.user_id)?;
            if !exporter_auth::is_member(&state.db, &caller.user_id, &caller.organization_id)
                .await?
            {
                return Err(Problem::unauthorized(
                    "token: it names no user of its organization",
                ));
            }
            caller.user_id
        }
        _ => {
            return Err(Problem::unprocessable(
                "invalid-body",
                "send exactly one of demoAccount and token",
            ));
        }
    };
    let opened = sessions::open(&state.db, &user_id)
        .await?
        .ok_or_else(|| Problem::unauthorized("this user is deactivated"))?;
    let mut response = AppJson(SessionView::from(opened.session)).into_response();
    set_cookie(&mut response, session_cookie(&state, opened.cookie_value));
    no_store(&mut response);
    Ok(response)
}

/// Signs out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/api/session", operation_id = "signOut", tag = "console",
    responses((status = 204, description = "Signed out"),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden)))]
pub async fn delete(State(state): State<AppState>, parts: Parts) -> Result<Response, Problem> {
    if let Some(value) = cookie(&parts.headers) {
        // Only the page holding the CSRF token signs its user out.
        caller(&state, &parts, &value).await?;
        sessions::close(&state.db, &value).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_cookie(&mut response, removal(&state, SESSION_COOKIE, "/"));
    Ok(response)
}

/// Starts a sign-in with the identity provider: redirects the browser there.
#[utoipa::path(get, path = "/api/session/oidc/login", operation_id = "startOidcSignIn", tag = "console",
    responses((status = 303, description = "To the identity provider"),
        (status = 404, response = NotFound), (status = 503, response = Unavailable)))]
pub async fn oidc_login(State(state): State<AppState>) -> Result<Response, Problem> {
    let oidc = state
        .oidc
        .as_ref()
        .ok_or_else(|| Problem::not_found("identity provider (none is configured)"))?;
    let (url, pending) = oidc.begin().await.map_err(|e| {
        tracing::warn!(error = format!("{e:#}"), "identity provider unreachable");
        Problem::unavailable(
            "the identity provider does not answer; try again, or sign in with a token",
        )
    })?;
    let mut response = redirect(&url);
    // Lax, not Strict: it must come back with the provider's redirect,
    // which another site starts.
    let sign_in = Cookie::build((SIGN_IN_COOKIE, pending.to_cookie()))
        .http_only(true)
        .secure(state.settings.secure_cookies)
        .same_site(SameSite::Lax)
        .path(SIGN_IN_PATH)
        .max_age(cookie::time::Duration::minutes(10))
        .build();
    set_cookie(&mut response, sign_in);
    Ok(response)
}

/// What the provider sends back.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider's redirect back: opens the session of the user whose
/// verified email it names, or sends the browser to the sign-in page with
/// why not.
#[utoipa::path(get, path = "/api/session/oidc/callback", operation_id = "finishOidcSignIn", tag = "console",
    params(Callback),
    responses((status = 200, description = "Signed in: a page that continues to the console"),
        (status = 303, description = "Refused: to the sign-in page, with why"),
        (status = 404, response = NotFound)))]
pub async fn oidc_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(callback): AppQuery<Callback>,
) -> Result<Response, Problem> {
    let Some(oidc) = state.oidc.as_ref() else {
        return Err(Problem::not_found("identity provider (none is configured)"));
    };
    let outcome = async {
        if let Some(error) = callback.error {
            return Err(SignInError::Refused(match callback.error_description {
                Some(description) => format!("{error} ({description})"),
                None => error,
            }));
        }
        let pending = cookie_named(&headers, SIGN_IN_COOKIE)
            .and_then(|value| PendingSignIn::from_cookie(&value))
            .ok_or(SignInError::StateMismatch)?;
        let (code, returned_state) = callback
            .code
            .zip(callback.state)
            .ok_or_else(|| SignInError::Refused("no code came back".into()))?;
        oidc.finish(&pending, &returned_state, &code).await
    }
    .await;
    let refused = |why: String| {
        let mut response = redirect(&format!(
            "/?signInError={}#/sign-in",
            url::form_urlencoded::byte_serialize(why.as_bytes()).collect::<String>()
        ));
        set_cookie(&mut response, removal(&state, SIGN_IN_COOKIE, SIGN_IN_PATH));
        response
    };
    let email = match outcome {
        Ok(email) => email,
        Err(e) => {
            tracing::info!(error = %e, "identity provider sign-in refused");
            return Ok(refused(e.to_string()));
        }
    };
    let Some(user_id) = sessions::user_by_email(&state.db, &email).await? else {
        tracing::info!(email, "identity provider sign-in of an unknown email");
        return Ok(refused(format!(
            "{email} is not a user of this service; ask an administrator to add you"
        )));
    };
    let Some(opened) = sessions::open(&state.db, &user_id).await? else {
        return Ok(refused(format!("{email} is deactivated")));
    };
    // A page of our own continues to the console rather than a redirect: a
    // SameSite=Strict cookie set in a navigation another site started is
    // not sent until a navigation this origin starts.
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url=/#/exports\">\
         <title>Signed in</title><p>Signed in. <a href=\"/#/exports\">Continue to the console</a>.</p>\n",
    )
        .into_response();
    exporter_console::security_headers(response.headers_mut());
    set_cookie(&mut response, session_cookie(&state, opened.cookie_value));
    set_cookie(&mut response, removal(&state, SIGN_IN_COOKIE, SIGN_IN_PATH));
    no_store(&mut response);
    Ok(response)
}

fn session_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .secure(state.settings.secure_cookies)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(cookie::time::Duration::seconds(SESSION_TTL.as_secs() as i64))
        .build()
}

/// A cookie that deletes `name`.
fn removal(state: &AppState, name: &'static str, path: &'static str) -> Cookie<'static> {
    Cookie::build((name, ""))
        .http_only(true)
        .secure(state.settings.secure_cookies)
        .same_site(SameSite::Strict)
        .path(path)
        .max_age(cookie::time::Duration::ZERO)
        .build()
}

fn set_cookie(response: &mut Response, cookie: Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
