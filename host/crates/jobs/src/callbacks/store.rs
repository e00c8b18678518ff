//! The callback bookkeeping in the database: which deliveries are due,
//! claims, attempts, and each organization's signing secret. One set of
//! SQL for both engines (`?` placeholders).

use exporter_store::db::{self, Arg, Database, now_micros};

/// The final statuses a callback reports.
const FINAL: &str = "('Completed', 'Failed', 'Cancelled')";

/// One delivery attempt, as the job's status shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Attempt {
    pub event: String,
    pub attempt: i64,
    /// Microseconds since the epoch (UTC).
    pub at: i64,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Where a job's callback stands.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CallbackState {
    pub callback_url: Option<String>,
    pub callback_event: Option<String>,
    pub callback_state: Option<String>,
    pub callback_attempts: i64,
    pub callback_next_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Id {
    id: String,
}

#[derive(sqlx::FromRow)]
struct Secrets {
    secret: String,
    rotated_at: i64,
    previous_secret: Option<String>,
    previous_valid_until: Option<i64>,
}

/// Jobs whose callback is due now, oldest change first.
pub async fn due(db: &Database, limit: i64) -> sqlx::Result<Vec<String>> {
    let now = now_micros();
    let sql = format!(
        "SELECT id FROM export_jobs WHERE callback_url IS NOT NULL \
         AND (callback_state IS NULL OR callback_state = 'Pending') AND status IN {FINAL} \
         AND COALESCE(callback_next_at, 0) <= ? AND COALESCE(callback_claimed_until, 0) < ? \
         ORDER BY updated_at LIMIT ?"
    );
    let rows: Vec<Id> = db::fetch_all(db, &sql, &[now.into(), now.into(), limit.into()]).await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Claims a due delivery until `until` (microseconds); the first claim of
/// an event starts its count. False when another dispatcher has it, or it
/// is no longer due.
pub async fn claim(db: &Database, id: &str, until: i64) -> sqlx::Result<bool> {
    let now = now_micros();
    let sql = format!(
        "UPDATE export_jobs SET callback_claimed_until = ?, \
         callback_attempts = CASE WHEN callback_event = status THEN callback_attempts ELSE 0 END, \
         callback_state = 'Pending', callback_event = status \
         WHERE id = ? AND callback_url IS NOT NULL \
         AND (callback_state IS NULL OR callback_state = 'Pending') AND status IN {FINAL} \
         AND COALESCE(callback_claimed_until, 0) < ?"
    );
    Ok(db::execute(db, &sql, &[until.into(), id.into(), now.into()]).await? == 1)
}

/// Records attempt number `attempt` of the claimed delivery and what comes
/// next: `Delivered`, a retry at `next_at`, or `GaveUp`.
pub async fn record(db: &Database, id: &str, outcome: &Attempt, next: Next) -> sqlx::Result<()> {
    db::execute(
        db,
        "INSERT INTO callback_attempts (job_id, event, attempt, at, http_status, error, duration_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        &[
            id.into(),
            outcome.event.as_str().into(),
            outcome.attempt.into(),
            outcome.at.into(),
            outcome.http_status.into(),
            outcome.error.clone().into(),
            outcome.duration_ms.into(),
        ],
    )
    .await?;
    let (state, next_at) = match next {
        Next::Delivered => ("Delivered", None),
        Next::RetryAt(at) => ("Pending", Some(at)),
        Next::GaveUp => ("GaveUp", None),
    };
    db::execute(
        db,
        "UPDATE export_jobs SET callback_state = ?, callback_attempts = ?, callback_next_at = ?, \
         callback_claimed_until = NULL WHERE id = ? AND callback_event = ?",
        &[
            state.into(),
            outcome.attempt.into(),
            next_at.into(),
            id.into(),
            outcome.event.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAt(i64),
    GaveUp,
}

/// Where the job's callback stands.
pub async fn state_of(db: &Database, id: &str) -> sqlx::Result<Option<CallbackState>> {
    db::fetch_optional(
        db,
        "SELECT callback_url, callback_event, callback_state, callback_attempts, callback_next_at \
         FROM export_jobs WHERE id = ?",
        &[id.into()],
    )
    .await
}

/// The job's delivery attempts, oldest first.
pub async fn attempts_of(db: &Database, id: &str) -> sqlx::Result<Vec<Attempt>> {
    db::fetch_all(
        db,
        "SELECT event, attempt, at, http_status, error, duration_ms FROM callback_attempts \
         WHERE job_id = ? ORDER BY at, attempt",
        &[id.into()],
    )
    .await
}

/// An organization's secrets, created on first use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationSecret {
    pub secret: String,
    /// Microseconds since the epoch (UTC).
    pub rotated_at: i64,
    /// The secret before the last rotation, while it still signs.
    pub previous: Option<(String, i64)>,
}

impl OrganizationSecret {
    /// The secrets to sign with now: the current one, then the previous
    /// one during its grace period.
    pub fn signing(&self, now: i64) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let Some((previous, until)) = &self.previous
            && *until > now
        {
            secrets.push(previous);
        }
        secrets
    }
}

pub async fn secret(db: &Database, organization_id: &str) -> sqlx::Result<OrganizationSecret> {
    if let Some(secret) = read_secret(db, organization_id).await? {
        return Ok(secret);
    }
    // First use: create it; of two concurrent first uses, the first insert wins.
    db::execute(
        db,
        "INSERT INTO callback_secrets (organization_id, secret, rotated_at) VALUES (?, ?, ?) \
         ON CONFLICT (organization_id) DO NOTHING",
        &[
            organization_id.into(),
            super::signing::new_secret().into(),
            now_micros().into(),
        ],
    )
    .await?;
    read_secret(db, organization_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

async fn read_secret(
    db: &Database,
    organization_id: &str,
) -> sqlx::Result<Option<OrganizationSecret>> {
    let row: Option<Secrets> = db::fetch_optional(
        db,
        "SELECT secret, rotated_at, previous_secret, previous_valid_until FROM callback_secrets \
         WHERE organization_id = ?",
        &[organization_id.into()],
    )
    .await?;
    Ok(row.map(|row| OrganizationSecret {
        secret: row.secret,
        rotated_at: row.rotated_at,
        previous: row.previous_secret.zip(row.previous_valid_until),
    }))
}

/// A new secret; the old one keeps signing for `grace_micros`.
pub async fn rotate(
    db: &Database,
    organization_id: &str,
    grace_micros: i64,
) -> sqlx::Result<OrganizationSecret> {
    secret(db, organization_id).await?;
    let now = now_micros();
    db::execute(
        db,
        "UPDATE callback_secrets SET previous_secret = secret, previous_valid_until = ?, \
         secret = ?, rotated_at = ? WHERE organization_id = ?",
        &[
            Arg::from(now + grace_micros),
            super::signing::new_secret().into(),
            now.into(),
            organization_id.into(),
        ],
    )
    .await?;
    secret(db, organization_id).await
}
