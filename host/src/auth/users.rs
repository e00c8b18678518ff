//! Users as the service knows them: looked up by email for token issuing.

use anyhow::Context as _;

use super::{Caller, Role};
use crate::db::Database;

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
