//! Organizations (the tenants) and their settings.

use exporter_store::db::{self, Database};

/// An organization as its settings page shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Organization {
    pub id: String,
    pub slug: String,
    pub name: String,
    /// Where its exports render instants when a request names no zone (an
    /// IANA name); `None`: UTC.
    pub time_zone: Option<String>,
}

/// The organization `id`, if it exists.
pub async fn organization(db: &Database, id: &str) -> Result<Option<Organization>, sqlx::Error> {
    db::fetch_optional(
        db,
        "SELECT id, slug, name, time_zone FROM organizations WHERE id = ?",
        &[id.into()],
    )
    .await
}

/// Sets (or, with `None`, clears) the organization's default time zone;
/// whether it exists. The caller checked the name.
pub async fn set_time_zone(
    db: &Database,
    id: &str,
    time_zone: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let changed = db::execute(
        db,
        "UPDATE organizations SET time_zone = ? WHERE id = ?",
        &[time_zone.map(str::to_owned).into(), id.into()],
    )
    .await?;
    Ok(changed == 1)
}
