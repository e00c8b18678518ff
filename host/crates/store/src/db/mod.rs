//! The application database: SQLite (embedded default) or PostgreSQL
//! (scale-out), chosen by URL.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

mod error;

pub use error::{DbFailure, classify, classify_chain};

/// Our migrations' history table: apart from the queue's `_sqlx_migrations`
/// so each migrator only ever sees its own history.
const MIGRATIONS_TABLE: &str = "_exporter_migrations";

/// A connection pool to one of the supported engines.
#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The engine behind a [`Database`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Database {
    /// Connects to `url`: `sqlite://path/to/file.db` (created if missing) or
    /// `postgres://user@host/db`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            if let Some(dir) = sqlite_parent_dir(url) {
                std::fs::create_dir_all(&dir).with_context(|| {
                    format!("creating the database directory {}", dir.display())
                })?;
            }
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("parsing database URL {url}"))?
                .create_if_missing(true)
                // WAL lets readers (API) and the writer (worker) proceed
                // together; NORMAL under WAL loses no committed transaction
                // on a process crash.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .with_context(|| format!("opening SQLite database {url}"))?;
            Ok(Database::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .with_context(|| format!("parsing database URL {}", redact(url)))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                // While the database is unreachable, a request gets its 503
                // (with Retry-After) in seconds rather than hanging.
                .acquire_timeout(Duration::from_secs(3))
                .connect_with(options)
                .await
                .with_context(|| format!("connecting to PostgreSQL at {}", redact(url)))?;
            Ok(Database::Postgres(pool))
        } else {
            anyhow::bail!(
                "unsupported database URL {}: use sqlite://PATH or postgres://...",
                redact(url)
            )
        }
    }

    pub fn engine(&self) -> Engine {
        match self {
            Database::Sqlite(_) => Engine::Sqlite,
            Database::Postgres(_) => Engine::Postgres,
        }
    }

    /// Applies the application's migrations for this engine.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Database::Sqlite(pool) => {
                let mut migrator = sqlx::migrate!("../../../migrations/sqlite");
                migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
                migrator.run(pool).await.context("migrating SQLite")?;
            }
            Database::Postgres(pool) => {
                let mut migrator = sqlx::migrate!("../../../migrations/postgres");
                migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
                migrator.run(pool).await.context("migrating PostgreSQL")?;
            }
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Database::Sqlite(pool) => pool.close().await,
            Database::Postgres(pool) => pool.close().await,
        }
    }
}

/// The directory of a `sqlite://dir/file.db` URL, to create before opening.
fn sqlite_parent_dir(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_path_buf())
}

/// A database URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:s3cret@db.internal:5432/exports"),
            "postgres://app:***@db.internal:5432/exports"
        );
        assert_eq!(
            redact("sqlite://data/exporter.db"),
            "sqlite://data/exporter.db"
        );
    }

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            postgres_placeholders("UPDATE t SET a = ?, b = ? WHERE id = ?"),
            "UPDATE t SET a = $1, b = $2 WHERE id = $3"
        );
    }

    #[test]
    fn sqlite_directories_are_found() {
        assert_eq!(
            sqlite_parent_dir("sqlite://data/exporter.db?mode=rwc"),
            Some("data".into())
        );
        assert_eq!(sqlite_parent_dir("sqlite://exporter.db"), None);
        assert_eq!(sqlite_parent_dir("sqlite::memory:"), None);
    }
}

/// A bound query value that both engines encode the same way.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Arg::Text(Some(value.to_owned()))
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Arg::Text(Some(value))
    }
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Self {
        Arg::Text(value)
    }
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Arg::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg {
    fn from(value: Option<i64>) -> Self {
        Arg::Int(value)
    }
}

/// Binds [`Arg`]s to a sqlx query of either engine.
#[macro_export]
#[doc(hidden)]
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::db::Arg::Text(value) => query.bind(value.clone()),
                $crate::db::Arg::Int(value) => query.bind(*value),
            };
        }
        query
    }};
}

/// Rewrites `?` placeholders as PostgreSQL's `$1, $2, ...`. Our SQL text
/// never has a `?` inside a literal; values are always bound.
pub fn postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Rows of `sql` (with `?` placeholders) as `T`, on either engine.
pub async fn fetch_all<T>(db: &Database, sql: &str, args: &[Arg]) -> sqlx::Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    use sqlx::AssertSqlSafe;
    match db {
        Database::Sqlite(pool) => {
            bind_args!(sqlx::query_as::<_, T>(AssertSqlSafe(sql.to_owned())), args)
                .fetch_all(pool)
                .await
        }
        Database::Postgres(pool) => {
            bind_args!(
                sqlx::query_as::<_, T>(AssertSqlSafe(postgres_placeholders(sql))),
                args
            )
            .fetch_all(pool)
            .await
        }
    }
}

/// The first row of `sql` as `T`, if any, on either engine.
pub async fn fetch_optional<T>(db: &Database, sql: &str, args: &[Arg]) -> sqlx::Result<Option<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    use sqlx::AssertSqlSafe;
    match db {
        Database::Sqlite(pool) => {
            bind_args!(sqlx::query_as::<_, T>(AssertSqlSafe(sql.to_owned())), args)
                .fetch_optional(pool)
                .await
        }
        Database::Postgres(pool) => {
            bind_args!(
                sqlx::query_as::<_, T>(AssertSqlSafe(postgres_placeholders(sql))),
                args
            )
            .fetch_optional(pool)
            .await
        }
    }
}

/// Runs `sql` on either engine; returns the rows it changed.
pub async fn execute(db: &Database, sql: &str, args: &[Arg]) -> sqlx::Result<u64> {
    use sqlx::AssertSqlSafe;
    Ok(match db {
        Database::Sqlite(pool) => bind_args!(sqlx::query(AssertSqlSafe(sql.to_owned())), args)
            .execute(pool)
            .await?
            .rows_affected(),
        Database::Postgres(pool) => {
            bind_args!(sqlx::query(AssertSqlSafe(postgres_placeholders(sql))), args)
                .execute(pool)
                .await?
                .rows_affected()
        }
    })
}

/// Current time in microseconds since the epoch, the unit of our instants.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
