//! Users as the service knows them: looked up by email for token issuing,
//! and by id for every request, so a token names someone who exists.

use anyhow::Context as _;

use super::{Caller, Role};
use exporter_store::db::Database;

/// The active user with this email.
pub async fn find_user(db: &Database, email: &str) -> anyhow::Result<Caller> {
    const SQLITE: &str = "SELECT id, organization_id, role, active FROM users WHERE email = ?";
    const POSTGRES: &str = "SELECT id, organization_id, role, active FROM users WHERE email = $1";
    let row: Option<(String, String, String, bool)> = match db {
        Database::Sqlite(pool) => {
            sqlx::query_as(SQLITE)
                .bind(email)
                .fetch_optional(pool)
                .await?
        }
        Database::Postgres(pool) => {
            sqlx::query_as(POSTGRES)
                .bind(email)
                .fetch_optional(pool)
                .await?
        }
    };
    let (user_id, organization_id, role, active) = row
        .with_context(|| format!("no user {email:?} (seed the demo with `exporter demo-data`)"))?;
    anyhow::ensure!(active, "user {email:?} is deactivated");
    let role = Role::parse(&role)
        .with_context(|| format!("user {email:?} has an unknown role {role:?}"))?;
    Ok(Caller {
        user_id,
        organization_id,
        role,
    })
}

/// The user `id` as they are now (role and organization), if active: the
/// callback dispatcher checks that a job's creator is still entitled to its
/// rows before sending them a link.
pub async fn current_user(db: &Database, id: &str) -> sqlx::Result<Option<Caller>> {
    let row: Option<(String, String, String, bool)> = exporter_store::db::fetch_optional(
        db,
        "SELECT id, organization_id, role, active FROM users WHERE id = ?",
        &[id.into()],
    )
    .await?;
    Ok(row.and_then(|(user_id, organization_id, role, active)| {
        Some(Caller {
            user_id,
            organization_id,
            role: Role::parse(&role)?,
        })
        .filter(|_| active)
    }))
}

/// Whether `user_id` is a user of `organization_id`. A validly signed token
/// naming anyone else (a deleted user, a made-up organization) names no one
/// the service knows. One primary-key lookup.
pub async fn is_member(
    db: &Database,
    user_id: &str,
    organization_id: &str,
) -> Result<bool, sqlx::Error> {
    let row: Option<(i32,)> = exporter_store::db::fetch_optional(
        db,
        "SELECT 1 FROM users WHERE id = ? AND organization_id = ?",
        &[user_id.into(), organization_id.into()],
    )
    .await?;
    Ok(row.is_some())
}

/// Whether an organization with this id exists.
pub async fn organization_exists(db: &Database, id: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(i32,)> = exporter_store::db::fetch_optional(
        db,
        "SELECT 1 FROM organizations WHERE id = ?",
        &[id.into()],
    )
    .await?;
    Ok(row.is_some())
}
