//! Extractors whose rejections are problem details, and the bearer-token
//! authentication extractor.

use axum::extract::{FromRequest, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::problem::Problem;
use super::state::AppState;
use crate::auth::{Caller, TokenError};

/// JSON in and out, with problem+json rejections.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct AppJson<T>(pub T);

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct AppPath<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct AppQuery<T>(pub T);

/// The authenticated caller (`Authorization: Bearer <JWT>`).
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            Problem::unauthorized("send a bearer token: Authorization: Bearer <token>")
        })?;
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
        match state.keys.verify(token) {
            Ok(caller) => Ok(Auth(caller)),
            Err(TokenError::Expired) => Err(Problem::unauthorized("the token has expired")),
            Err(e) => {
                tracing::debug!(error = %e, "token refused");
                Err(Problem::unauthorized("the token is not valid"))
            }
        }
    }
}
