//! Named data sources: databases other than the service's own that export
//! rows are read from (issue 19, "Bring your own data").
//!
//! # Layout
//! - `config`: what an operator writes (`[sources.NAME]`), its checks, and
//!   the one way a source's URL reaches a message ([`redact`], [`scrub`]).
//! - this file: the opened connections, [`Sources`], one [`Source`] per
//!   name, always with `default`, the service's own database.
//! - [`introspect`]: a table's columns and keys, read from the engine's
//!   catalog and mapped to the contract's column types.
//!
//! Every configured source is opened read-only wherever the engine allows
//! it (see [`Sources::open`]): the service reads other people's databases
//! and must not be able to change them, whatever SQL reaches them.

mod config;
pub mod introspect;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

pub use config::{
    DEFAULT_SOURCE, HIDDEN_PASSWORD, SourceConfig, redact, scrub, valid_name, validate_sources,
};
pub use introspect::{
    IntrospectError, IntrospectedColumn, IntrospectedTable, introspect, map_type,
};

/// How long a query waits for a connection to a source before it fails.
/// A source that is down fails its exports in seconds rather than holding
/// workers; it is retried as a transient failure.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a SQLite source waits on a writer's lock (another program
/// writing its own file) before a read fails.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The engine behind a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceEngine {
    Sqlite,
    Postgres,
    /// MySQL or MariaDB (`mysql://`, `mariadb://`).
    MySql,
}

impl SourceEngine {
    /// The engine a URL's scheme names.
    pub fn from_url(url: &str) -> Option<SourceEngine> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(SourceEngine::Sqlite),
            "postgres" | "postgresql" => Some(SourceEngine::Postgres),
            "mysql" | "mariadb" => Some(SourceEngine::MySql),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            SourceEngine::Sqlite => "sqlite",
            SourceEngine::Postgres => "postgres",
            SourceEngine::MySql => "mysql",
        }
    }
}

impl fmt::Display for SourceEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source's connection pool.
#[derive(Clone)]
pub enum SourcePool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

impl SourcePool {
    pub fn engine(&self) -> SourceEngine {
        match self {
            SourcePool::Sqlite(_) => SourceEngine::Sqlite,
            SourcePool::Postgres(_) => SourceEngine::Postgres,
            SourcePool::MySql(_) => SourceEngine::MySql,
        }
    }
}

/// One named source, opened.
pub struct Source {
    pub name: String,
    pub pool: SourcePool,
    redacted_url: String,
    /// The URL as configured, kept only to scrub its secrets out of driver
    /// errors ([`scrub`]); never printed. Empty for `default`.
    url: String,
    statement_timeout: Duration,
    /// Whether the pool is this source's own, closed with the sources (the
    /// service's pool, shared as `default`, is the service's to close).
    own_pool: bool,
}

impl Source {
    pub fn engine(&self) -> SourceEngine {
        self.pool.engine()
    }

    /// The URL without its password, for messages and logs. For `default`,
    /// a description: the service's own URL is the service's to print.
    pub fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// The configured statement timeout, enforced by the engine (PostgreSQL,
    /// MySQL, MariaDB). SQLite has none: a caller that wants one there
    /// wraps the read in its own timeout.
    pub fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    /// Opens (or takes from the pool) a connection and pings it: whether
    /// the source can be read from now. The error names the source and its
    /// redacted URL, never its password.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let result: Result<(), sqlx::Error> = match &self.pool {
            SourcePool::Sqlite(pool) => match pool.acquire().await {
                Ok(mut conn) => conn.ping().await,
                Err(e) => Err(e),
            },
            SourcePool::Postgres(pool) => match pool.acquire().await {
                Ok(mut conn) => conn.ping().await,
                Err(e) => Err(e),
            },
            SourcePool::MySql(pool) => match pool.acquire().await {
                Ok(mut conn) => conn.ping().await,
                Err(e) => Err(e),
            },
        };
        result.map_err(|e| self.failure("cannot reach", &e))
    }

    /// `e`, as one line that names the source and can carry no secret: the
    /// driver's text is scrubbed of the URL's secrets before it is kept.
    fn failure(&self, what: &str, e: &dyn fmt::Display) -> anyhow::Error {
        anyhow::anyhow!(
            "{what} source {:?} at {}: {}",
            self.name,
            self.redacted_url,
            scrub(&e.to_string(), &self.url)
        )
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("engine", &self.engine())
            .field("url", &self.redacted_url)
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

/// A configured source could not be opened at all: its configuration is
/// wrong. The service should not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceOpenError {
    /// A name or setting out of range (`sources.NAME.FIELD must be …`).
    #[error(transparent)]
    Invalid(#[from] exporter_settings::Invalid),
    /// The URL does not parse as its engine's connection string.
    #[error("source {name:?}: cannot read the URL {url}: {reason}")]
    Url {
        name: String,
        /// Redacted.
        url: String,
        /// Scrubbed of the URL's secrets.
        reason: String,
    },
}

/// The sources by name; always holds [`DEFAULT_SOURCE`].
#[derive(Clone, Debug)]
pub struct Sources {
    by_name: BTreeMap<String, Arc<Source>>,
}

/// A source that was registered but could not be reached at start; its
/// error is one line naming it and its redacted URL.
pub type Unreachable = (String, anyhow::Error);

impl Sources {
    /// `default` is the service's own database, reused as is (not
    /// read-only: it is the service's pool; see
    /// [`Sources::with_read_only_default`]); then every configured source,
    /// opened read-only where the engine allows:
    ///
    /// - PostgreSQL: `default_transaction_read_only=on`, `statement_timeout`
    ///   and `application_name=exporter` as connection options.
    /// - SQLite: opened read-only (`mode=ro`), never created: a missing file
    ///   is reported by path. A busy timeout waits out a writer's lock.
    /// - MySQL/MariaDB: on every new connection `SET SESSION TRANSACTION READ
    ///   ONLY`, the statement timeout (MariaDB `max_statement_time`, MySQL
    ///   `max_execution_time`, told apart by the server's version),
    ///   `time_zone = '+00:00'` (DATETIME and TIMESTAMP read as UTC) and
    ///   `ANSI_QUOTES` (double-quoted identifiers, as on the other engines).
    ///
    /// A configuration that cannot work (a bad name, a URL that does not
    /// parse) is an error: the service should not start. A source that is
    /// merely down is not: every source is tried once, concurrently, and
    /// those that could not be reached come back in the second half of the
    /// result, one line each. They stay registered with a lazy pool, so
    /// they work as soon as their database is up; until then their exports
    /// fail after [`ACQUIRE_TIMEOUT`]. The caller decides whether to log,
    /// or to refuse to start.
    pub async fn open(
        default: &exporter_store::db::Database,
        configured: &BTreeMap<String, SourceConfig>,
    ) -> Result<(Sources, Vec<Unreachable>), SourceOpenError> {
        validate_sources(configured)?;
        let mut by_name = BTreeMap::new();
        let default_timeout = SourceConfig::new("").statement_timeout;
        let default_pool = match default {
            exporter_store::db::Database::Sqlite(pool) => SourcePool::Sqlite(pool.clone()),
            exporter_store::db::Database::Postgres(pool) => SourcePool::Postgres(pool.clone()),
        };
        by_name.insert(
            DEFAULT_SOURCE.to_owned(),
            Arc::new(Source {
                name: DEFAULT_SOURCE.to_owned(),
                pool: default_pool,
                redacted_url: "the service's own database".to_owned(),
                url: String::new(),
                statement_timeout: default_timeout,
                own_pool: false,
            }),
        );

        let mut opened = Vec::new();
        for (name, config) in configured {
            let options = SourceOptions::parse(name, config)?;
            let pool = options.lazy_pool(config.max_connections);
            opened.push((
                options,
                Arc::new(Source {
                    name: name.clone(),
                    pool,
                    redacted_url: config.redacted_url(),
                    url: config.url.clone(),
                    statement_timeout: config.statement_timeout,
                    own_pool: true,
                }),
            ));
        }
        let checks = opened.iter().map(|(options, source)| async move {
            first_connection(source, options)
                .await
                .err()
                .map(|e| (source.name.clone(), e))
        });
        let unreachable = futures::future::join_all(checks)
            .await
            .into_iter()
            .flatten()
            .collect();
        for (_, source) in opened {
            by_name.insert(source.name.clone(), source);
        }
        Ok((Sources { by_name }, unreachable))
    }

    /// `default` read through a read-only pool of its own on the service's
    /// database (`database_url`), opened as every source is: exports of
    /// catalog datasets then cannot write to the service's tables, whatever
    /// SQL an entry holds, just as on any configured source. An in-memory
    /// SQLite database has no second connection to it, and keeps the
    /// service's pool.
    pub fn with_read_only_default(mut self, database_url: &str) -> Result<Self, SourceOpenError> {
        let config = SourceConfig::new(database_url);
        let options = SourceOptions::parse(DEFAULT_SOURCE, &config)?;
        if let SourceOptions::Sqlite(sqlite) = &options
            && is_memory(sqlite.get_filename())
        {
            return Ok(self);
        }
        let source = Source {
            name: DEFAULT_SOURCE.to_owned(),
            pool: options.lazy_pool(config.max_connections),
            redacted_url: "the service's own database, read-only".to_owned(),
            url: config.url.clone(),
            statement_timeout: config.statement_timeout,
            own_pool: true,
        };
        self.by_name
            .insert(DEFAULT_SOURCE.to_owned(), Arc::new(source));
        Ok(self)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Source>> {
        self.by_name.get(name).cloned()
    }

    /// Every name, `default` included, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Closes every pool the sources own (not the service's own database
    /// when `default` shares it: the service closes that).
    pub async fn close(&self) {
        for source in self.by_name.values() {
            if !source.own_pool {
                continue;
            }
            match &source.pool {
                SourcePool::Sqlite(pool) => pool.close().await,
                SourcePool::Postgres(pool) => pool.close().await,
                SourcePool::MySql(pool) => pool.close().await,
            }
        }
    }
}

/// Connects to `source` once, directly rather than through its pool (a
/// pool retries a refused connection until its timeout and then reports
/// only that it timed out), running the session setup a pooled connection
/// gets. The error is one line naming the source, scrubbed.
async fn first_connection(source: &Source, options: &SourceOptions) -> anyhow::Result<()> {
    let probe = async {
        match options {
            SourceOptions::Sqlite(options) => {
                let path = options.get_filename();
                if !is_memory(path) && !path.exists() {
                    return Err(anyhow::anyhow!(
                        "the SQLite database {} does not exist (a source is opened \
                         read-only and never created)",
                        path.display()
                    ));
                }
                let conn = sqlx::SqliteConnection::connect_with(options).await?;
                conn.close().await?;
            }
            SourceOptions::Postgres(options) => {
                let conn = sqlx::PgConnection::connect_with(options).await?;
                conn.close().await?;
            }
            SourceOptions::MySql(options, timeout) => {
                let mut conn = sqlx::MySqlConnection::connect_with(options).await?;
                mysql_session(&mut conn, *timeout).await?;
                conn.close().await?;
            }
        }
        Ok(())
    };
    let result = match tokio::time::timeout(ACQUIRE_TIMEOUT, probe).await {
        Ok(result) => result,
        Err(_) => Err(anyhow::anyhow!(
            "no connection within {}s",
            ACQUIRE_TIMEOUT.as_secs()
        )),
    };
    result.map_err(|e| source.failure("cannot reach", &format!("{e:#}")))
}

fn is_memory(path: &std::path::Path) -> bool {
    let text = path.to_string_lossy();
    text.is_empty() || text.starts_with(':') || text.starts_with("file:")
}

/// A source's parsed connection options, with the read-only session
/// settings that the engine takes as options.
enum SourceOptions {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
    /// The statement timeout goes into the session after connecting.
    MySql(MySqlConnectOptions, Duration),
}

impl SourceOptions {
    /// Fails only if the URL does not parse.
    fn parse(name: &str, config: &SourceConfig) -> Result<SourceOptions, SourceOpenError> {
        let bad_url = |e: &dyn fmt::Display| SourceOpenError::Url {
            name: name.to_owned(),
            url: config.redacted_url(),
            reason: scrub(&e.to_string(), &config.url),
        };
        let timeout = config.statement_timeout;
        let engine = config
            .engine()
            .ok_or_else(|| bad_url(&"unsupported scheme"))?;
        Ok(match engine {
            SourceEngine::Postgres => SourceOptions::Postgres(
                PgConnectOptions::from_str(&config.url)
                    .map_err(|e| bad_url(&e))?
                    .application_name("exporter")
                    .options([
                        ("default_transaction_read_only", "on".to_owned()),
                        ("statement_timeout", timeout.as_millis().to_string()),
                    ]),
            ),
            SourceEngine::Sqlite => SourceOptions::Sqlite(
                SqliteConnectOptions::from_str(&config.url)
                    .map_err(|e| bad_url(&e))?
                    .read_only(true)
                    .create_if_missing(false)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT),
            ),
            SourceEngine::MySql => {
                // sqlx knows only `mysql:`; MariaDB speaks the same protocol.
                let url = match config.url.split_once(':') {
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => {
                        format!("mysql:{rest}")
                    }
                    _ => config.url.clone(),
                };
                SourceOptions::MySql(
                    MySqlConnectOptions::from_str(&url)
                        .map_err(|e| bad_url(&e))?
                        .timezone(Some("+00:00".to_owned())),
                    timeout,
                )
            }
        })
    }

    /// A pool that connects on first use, each connection with the
    /// read-only session.
    fn lazy_pool(&self, max_connections: u32) -> SourcePool {
        match self {
            SourceOptions::Sqlite(options) => SourcePool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options.clone()),
            ),
            SourceOptions::Postgres(options) => SourcePool::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options.clone()),
            ),
            SourceOptions::MySql(options, timeout) => {
                let timeout = *timeout;
                SourcePool::MySql(
                    MySqlPoolOptions::new()
                        .max_connections(max_connections)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .after_connect(move |conn, _| Box::pin(mysql_session(conn, timeout)))
                        .connect_lazy_with(options.clone()),
                )
            }
        }
    }
}

/// The session every MySQL/MariaDB connection of a source runs in.
async fn mysql_session(
    conn: &mut sqlx::MySqlConnection,
    statement_timeout: Duration,
) -> Result<(), sqlx::Error> {
    let version: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("SET SESSION TRANSACTION READ ONLY")
        .execute(&mut *conn)
        .await?;
    let timeout = if version.contains("MariaDB") {
        // Seconds, fractions allowed.
        format!(
            "SET SESSION max_statement_time = {:.3}",
            statement_timeout.as_secs_f64()
        )
    } else {
        // Milliseconds; applies to SELECT, which is all a source runs.
        format!(
            "SET SESSION max_execution_time = {}",
            statement_timeout.as_millis()
        )
    };
    sqlx::query(sqlx::AssertSqlSafe(timeout))
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "SET SESSION time_zone = '+00:00', \
         SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'ANSI_QUOTES')",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
