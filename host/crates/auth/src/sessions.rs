//! Console sessions: a signed-in browser, held by an `HttpOnly` cookie.
//!
//! The cookie carries 32 random bytes; the table keeps only their SHA-256,
//! so reading the table opens no session. Each session has its own CSRF
//! token, which the console echoes in `X-CSRF-Token` on every request that
//! changes something. The user is read afresh on every request: a
//! deactivated user's session stops working at once, and a changed role
//! applies to the next request.

use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::{Caller, Role};
use exporter_store::db::{self, Database, now_micros};

/// How long a console session lasts from sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// A session just opened: the cookie's value goes to the browser once.
pub struct NewSession {
    pub cookie_value: String,
    pub session: Session,
}

/// A live session and the user it belongs to, as they are now.
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Caller,
    pub email: String,
    pub name: String,
    pub csrf_token: String,
    /// Microseconds since the epoch (UTC).
    pub expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    user_id: String,
    organization_id: String,
    role: String,
    email: String,
    name: String,
    csrf_token: String,
    expires_at: i64,
}

impl SessionRow {
    fn into_session(self) -> Option<Session> {
        Some(Session {
            caller: Caller {
                user_id: self.user_id,
                organization_id: self.organization_id,
                role: Role::parse(&self.role)?,
            },
            email: self.email,
            name: self.name,
            csrf_token: self.csrf_token,
            expires_at: self.expires_at,
        })
    }
}

/// 32 random bytes, URL-safe base64: a cookie value, a CSRF token, an
/// OIDC state, nonce or PKCE verifier.
pub(crate) fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn digest(cookie_value: &str) -> String {
    hex::encode(Sha256::digest(cookie_value.as_bytes()))
}

/// Opens a session for `user_id`, who must be an active user; `None` when
/// they are not.
pub async fn open(db: &Database, user_id: &str) -> sqlx::Result<Option<NewSession>> {
    let cookie_value = random_token();
    let now = now_micros();
    let expires_at = now + SESSION_TTL.as_micros() as i64;
    let inserted = db::execute(
        db,
        "INSERT INTO console_sessions (token_sha256, user_id, organization_id, csrf_token, created_at, expires_at) \
         SELECT ?, id, organization_id, ?, ?, ? FROM users WHERE id = ? AND active",
        &[
            digest(&cookie_value).into(),
            random_token().into(),
            now.into(),
            expires_at.into(),
            user_id.into(),
        ],
    )
    .await?;
    if inserted == 0 {
        return Ok(None);
    }
    // Best effort: expired sessions of everyone go when anyone signs in.
    if let Err(e) = db::execute(
        db,
        "DELETE FROM console_sessions WHERE expires_at <= ?",
        &[now.into()],
    )
    .await
    {
        tracing::debug!(error = %e, "pruning expired console sessions");
    }
    Ok(find(db, &cookie_value).await?.map(|session| NewSession {
        cookie_value,
        session,
    }))
}

/// The live session a cookie holds, with its user as they are now.
pub async fn find(db: &Database, cookie_value: &str) -> sqlx::Result<Option<Session>> {
    let row: Option<SessionRow> = db::fetch_optional(
        db,
        "SELECT u.id AS user_id, u.organization_id, u.role, u.email, u.name, s.csrf_token, s.expires_at \
         FROM console_sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_sha256 = ? AND s.expires_at > ? AND u.active \
           AND u.organization_id = s.organization_id",
        &[digest(cookie_value).into(), now_micros().into()],
    )
    .await?;
    Ok(row.and_then(SessionRow::into_session))
}

/// Ends the session a cookie holds (signing out); ending one that is gone
/// is no error.
pub async fn close(db: &Database, cookie_value: &str) -> sqlx::Result<()> {
    db::execute(
        db,
        "DELETE FROM console_sessions WHERE token_sha256 = ?",
        &[digest(cookie_value).into()],
    )
    .await?;
    Ok(())
}

/// Whether `sent` is the session's CSRF token, compared in constant time.
pub fn csrf_matches(session: &Session, sent: &str) -> bool {
    same_secret(&session.csrf_token, sent)
}

/// Whether two secrets are equal, in time that does not depend on where
/// they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The active user with this email, for a sign-in by an identity provider
/// or the demo picker: `None` when there is none.
pub async fn user_by_email(db: &Database, email: &str) -> sqlx::Result<Option<String>> {
    let row: Option<(String,)> = db::fetch_optional(
        db,
        "SELECT id FROM users WHERE lower(email) = lower(?) AND active",
        &[email.into()],
    )
    .await?;
    Ok(row.map(|(id,)| id))
}
