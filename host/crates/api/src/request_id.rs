//! A request id for every request: `x-request-id` taken from the request
//! when it is a sane token (a proxy's or the client's), generated (a ULID)
//! otherwise. It names the request's span, so every log line of the
//! request carries it; it comes back in the response's `x-request-id` and
//! in every problem+json body (`requestId`), so a user's error report
//! finds its log lines.
//!
//! Hand-written rather than tower-http's `SetRequestId`, which keeps any
//! incoming value as it is: an id that goes into logs and JSON bodies is
//! checked first.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming id kept.
const MAX_LEN: usize = 128;

tokio::task_local! {
    /// The id of the request being answered, for problem bodies.
    static REQUEST_ID: String;
}

/// The id of the request this task is answering, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The middleware: outermost, so every answer (a handler's, a rejection, a
/// fallback, a caught panic) carries the id.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| acceptable(id))
        .map(str::to_owned)
        .unwrap_or_else(|| ulid::Ulid::generate().to_string());
    let value = HeaderValue::from_str(&id).expect("checked or generated: visible ASCII");
    request
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), value.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = REQUEST_ID
        .scope(id, next.run(request).instrument(span))
        .await;
    response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    response
}

/// 1 to [`MAX_LEN`] characters of `A-Z a-z 0-9 - _ . : /`: what request ids
/// of proxies and tracing systems use, and nothing that could forge a log
/// line or break out of a JSON string.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_plain_tokens_are_kept() {
        assert!(acceptable("01JD0ZQ8N7Y9W4X3V2T1S0R9QP"));
        assert!(acceptable("req-42_a.b:c/d"));
        assert!(acceptable(&"a".repeat(128)));
        assert!(!acceptable(""));
        assert!(!acceptable(&"a".repeat(129)));
        assert!(!acceptable("two words"));
        assert!(!acceptable("line\nbreak"));
        assert!(!acceptable("quote\"d"));
        assert!(!acceptable("ünïcode"));
    }
}
