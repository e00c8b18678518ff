//! The registry's tables (`plugin_versions`, `plugin_activations`): one set
//! of SQL for SQLite and PostgreSQL, `?` placeholders renumbered for
//! PostgreSQL, as in `jobs::repo`.

use serde::Serialize;

use exporter_store::db::{self, Arg, Database, now_micros};

/// The scope of an activation for everyone; a canary's scope is its
/// organization id.
pub const GLOBAL_SCOPE: &str = "";

const VERSION_COLUMNS: &str = "name, sha256, version, contract, media_type, file_extension, \
    description, size, blob_key, status, status_reason, report, source, installed_by, \
    installed_at, consecutive_failures";

const ACTIVATION_COLUMNS: &str = "name, scope, sha256, previous_sha256, activated_by, activated_at";

/// One installed component: a plugin version.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct VersionRecord {
    pub name: String,
    pub sha256: String,
    pub version: String,
    pub contract: Option<String>,
    pub media_type: Option<String>,
    pub file_extension: Option<String>,
    pub description: Option<String>,
    pub size: i64,
    #[serde(skip)]
    pub blob_key: String,
    #[sqlx(try_from = "String")]
    pub status: VersionStatus,
    pub status_reason: Option<String>,
    /// The install report, JSON.
    #[serde(skip)]
    pub report: String,
    /// `builtin`, `api`, `cli` or `watch`.
    pub source: String,
    pub installed_by: String,
    pub installed_at: i64,
    pub consecutive_failures: i64,
}

/// Whether a version may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VersionStatus {
    /// Passed validation; may be activated.
    Ready,
    /// Failed validation; never activated. Kept with its report.
    Refused,
    /// Rolled back automatically after crashing exports; an operator may
    /// activate it again by hand.
    Disabled,
}

impl VersionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Ready => "Ready",
            VersionStatus::Refused => "Refused",
            VersionStatus::Disabled => "Disabled",
        }
    }
}

impl std::fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so a table's `{:<9}` lines up.
        f.pad(self.as_str())
    }
}

impl TryFrom<String> for VersionStatus {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        [
            VersionStatus::Ready,
            VersionStatus::Refused,
            VersionStatus::Disabled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| format!("{text:?} is not a plugin version status"))
    }
}

/// Which version a format runs in one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ActivationRecord {
    pub name: String,
    pub scope: String,
    pub sha256: String,
    pub previous_sha256: Option<String>,
    pub activated_by: String,
    pub activated_at: i64,
}

#[derive(Debug, Clone)]
pub struct RegistryStore {
    db: Database,
}

impl RegistryStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub async fn versions(&self) -> sqlx::Result<Vec<VersionRecord>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM plugin_versions ORDER BY name, installed_at, sha256"
        );
        self.fetch_all(&sql, &[]).await
    }

    pub async fn version(&self, name: &str, sha256: &str) -> sqlx::Result<Option<VersionRecord>> {
        let sql =
            format!("SELECT {VERSION_COLUMNS} FROM plugin_versions WHERE name = ? AND sha256 = ?");
        Ok(self
            .fetch_all(&sql, &[name.into(), sha256.into()])
            .await?
            .pop())
    }

    /// Every version of `name` carrying the semver `version`.
    pub async fn by_version(&self, name: &str, version: &str) -> sqlx::Result<Vec<VersionRecord>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM plugin_versions WHERE name = ? AND version = ? ORDER BY installed_at"
        );
        self.fetch_all(&sql, &[name.into(), version.into()]).await
    }

    /// Any version with these bytes, whatever it was installed as.
    pub async fn by_digest(&self, sha256: &str) -> sqlx::Result<Vec<VersionRecord>> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM plugin_versions WHERE sha256 = ?");
        self.fetch_all(&sql, &[sha256.into()]).await
    }

    /// Inserts `record` unless that (name, sha256) exists; true if inserted.
    pub async fn insert_version(&self, record: &VersionRecord) -> sqlx::Result<bool> {
        let sql = format!(
            "INSERT INTO plugin_versions ({VERSION_COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (name, sha256) DO NOTHING"
        );
        let args: Vec<Arg> = vec![
            record.name.as_str().into(),
            record.sha256.as_str().into(),
            record.version.as_str().into(),
            record.contract.clone().into(),
            record.media_type.clone().into(),
            record.file_extension.clone().into(),
            record.description.clone().into(),
            record.size.into(),
            record.blob_key.as_str().into(),
            record.status.as_str().into(),
            record.status_reason.clone().into(),
            record.report.as_str().into(),
            record.source.as_str().into(),
            record.installed_by.as_str().into(),
            record.installed_at.into(),
            record.consecutive_failures.into(),
        ];
        Ok(self.execute(&sql, &args).await? == 1)
    }

    pub async fn delete_version(&self, name: &str, sha256: &str) -> sqlx::Result<bool> {
        let sql = "DELETE FROM plugin_versions WHERE name = ? AND sha256 = ? \
             AND NOT EXISTS (SELECT 1 FROM plugin_activations a WHERE a.name = plugin_versions.name AND a.sha256 = plugin_versions.sha256)";
        Ok(self.execute(sql, &[name.into(), sha256.into()]).await? == 1)
    }

    pub async fn set_status(
        &self,
        name: &str,
        sha256: &str,
        status: VersionStatus,
        reason: Option<String>,
    ) -> sqlx::Result<()> {
        let sql = "UPDATE plugin_versions SET status = ?, status_reason = ?, consecutive_failures = 0 \
             WHERE name = ? AND sha256 = ?";
        self.execute(
            sql,
            &[
                status.as_str().into(),
                reason.into(),
                name.into(),
                sha256.into(),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn set_report(&self, name: &str, sha256: &str, report: &str) -> sqlx::Result<()> {
        let sql = "UPDATE plugin_versions SET report = ? WHERE name = ? AND sha256 = ?";
        self.execute(sql, &[report.into(), name.into(), sha256.into()])
            .await?;
        Ok(())
    }

    /// Counts one more export in a row that the plugin failed; returns the
    /// new count.
    pub async fn count_failure(&self, name: &str, sha256: &str) -> sqlx::Result<i64> {
        let sql = "UPDATE plugin_versions SET consecutive_failures = consecutive_failures + 1 \
             WHERE name = ? AND sha256 = ?";
        self.execute(sql, &[name.into(), sha256.into()]).await?;
        Ok(self
            .version(name, sha256)
            .await?
            .map_or(0, |v| v.consecutive_failures))
    }

    /// A successful export ends a run of failures. Writes only when there
    /// was one, so the common case costs no write.
    pub async fn clear_failures(&self, name: &str, sha256: &str) -> sqlx::Result<()> {
        let sql = "UPDATE plugin_versions SET consecutive_failures = 0 \
             WHERE name = ? AND sha256 = ? AND consecutive_failures > 0";
        self.execute(sql, &[name.into(), sha256.into()]).await?;
        Ok(())
    }

    pub async fn activations(&self) -> sqlx::Result<Vec<ActivationRecord>> {
        let sql =
            format!("SELECT {ACTIVATION_COLUMNS} FROM plugin_activations ORDER BY name, scope");
        self.fetch_all(&sql, &[]).await
    }

    /// Makes `sha256` the version of `name` in `scope`, remembering the one
    /// it replaces for automatic rollback.
    pub async fn activate(
        &self,
        name: &str,
        scope: &str,
        sha256: &str,
        by: &str,
    ) -> sqlx::Result<()> {
        let now = now_micros();
        let update = || async {
            let sql = "UPDATE plugin_activations SET \
                 previous_sha256 = CASE WHEN sha256 = ? THEN previous_sha256 ELSE sha256 END, \
                 sha256 = ?, activated_by = ?, activated_at = ? WHERE name = ? AND scope = ?";
            let args: [Arg; 6] = [
                sha256.into(),
                sha256.into(),
                by.into(),
                now.into(),
                name.into(),
                scope.into(),
            ];
            self.execute(sql, &args).await
        };
        if update().await? == 0 && !self.activate_if_unset(name, scope, sha256, by).await? {
            // Another process inserted first: update over it.
            update().await?;
        }
        Ok(())
    }

    /// Activates `sha256` in `scope` only if nothing is active there yet;
    /// true if it did. Start-up uses it so concurrent processes agree.
    pub async fn activate_if_unset(
        &self,
        name: &str,
        scope: &str,
        sha256: &str,
        by: &str,
    ) -> sqlx::Result<bool> {
        let insert = format!(
            "INSERT INTO plugin_activations ({ACTIVATION_COLUMNS}) VALUES (?, ?, ?, NULL, ?, ?) \
             ON CONFLICT (name, scope) DO NOTHING"
        );
        Ok(self
            .execute(
                &insert,
                &[
                    name.into(),
                    scope.into(),
                    sha256.into(),
                    by.into(),
                    now_micros().into(),
                ],
            )
            .await?
            == 1)
    }

    /// Moves `scope` back from `failing` to `restore` (or removes a canary
    /// when `restore` is `None`), unless someone changed it meanwhile.
    pub async fn roll_back(
        &self,
        name: &str,
        scope: &str,
        failing: &str,
        restore: Option<&str>,
    ) -> sqlx::Result<bool> {
        let changed = match restore {
            Some(restore) => {
                let sql = "UPDATE plugin_activations SET sha256 = ?, previous_sha256 = NULL, \
                     activated_by = 'system:rollback', activated_at = ? \
                     WHERE name = ? AND scope = ? AND sha256 = ?";
                self.execute(
                    sql,
                    &[
                        restore.into(),
                        now_micros().into(),
                        name.into(),
                        scope.into(),
                        failing.into(),
                    ],
                )
                .await?
            }
            None => {
                let sql =
                    "DELETE FROM plugin_activations WHERE name = ? AND scope = ? AND sha256 = ?";
                self.execute(sql, &[name.into(), scope.into(), failing.into()])
                    .await?
            }
        };
        Ok(changed == 1)
    }

    /// Ends a canary: the organization gets everyone's version again.
    pub async fn remove_activation(&self, name: &str, scope: &str) -> sqlx::Result<bool> {
        let sql = "DELETE FROM plugin_activations WHERE name = ? AND scope = ?";
        Ok(self.execute(sql, &[name.into(), scope.into()]).await? == 1)
    }

    /// Canaries running `sha256`, which a global activation of it ends.
    pub async fn remove_canaries_of(&self, name: &str, sha256: &str) -> sqlx::Result<u64> {
        let sql = "DELETE FROM plugin_activations WHERE name = ? AND sha256 = ? AND scope <> ''";
        self.execute(sql, &[name.into(), sha256.into()]).await
    }

    /// Points activations of an old build at a new build of the same
    /// version (a rebuilt built-in).
    pub async fn repoint(&self, name: &str, from: &str, to: &str) -> sqlx::Result<u64> {
        let sql = "UPDATE plugin_activations SET sha256 = ? WHERE name = ? AND sha256 = ?";
        self.execute(sql, &[to.into(), name.into(), from.into()])
            .await
    }

    async fn fetch_all<T>(&self, sql: &str, args: &[Arg]) -> sqlx::Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        db::fetch_all(&self.db, sql, args).await
    }

    async fn execute(&self, sql: &str, args: &[Arg]) -> sqlx::Result<u64> {
        db::execute(&self.db, sql, args).await
    }
}
