//! Where the service keeps its state, found the way `exporter serve` finds
//! it: the configuration file (`--config` or `EXPORTER_CONFIG`), then
//! `EXPORTER_DATA_DIR` (or `data_dir` in the file), then the global
//! `--data-dir`. Every command that touches the state says which
//! directory it used, and the ones that only read it refuse to start on a
//! directory that is not there rather than create an empty one (a new,
//! empty database and a new token secret the running service knows
//! nothing of).

use std::path::{Path, PathBuf};

use crate::config::{Config, Effective};

/// The service's configuration and where its data directory came from.
pub struct ServiceState {
    pub config: Config,
    /// "from --data-dir", "from EXPORTER_DATA_DIR", "from FILE", or the
    /// default's explanation.
    pub origin: String,
    /// Whether `server.listen` was set (file or environment), not left at
    /// the API's default.
    pub listen_configured: bool,
}

impl ServiceState {
    /// Loads the configuration as `serve` does, `data_dir` (the global
    /// `--data-dir`) over every other layer.
    pub fn locate(config_file: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<Self> {
        let effective = Effective::load_with_data_dir(config_file, data_dir)?;
        let origin = match effective.origin("data_dir").as_str() {
            "default" => "the default, ./data in the working directory".to_owned(),
            other => other.to_owned(),
        };
        let listen_configured = effective.origin("server.listen") != "default";
        Ok(Self {
            config: effective.config,
            origin,
            listen_configured,
        })
    }

    /// The data directory, absolute, for messages.
    pub fn data_dir(&self) -> PathBuf {
        absolute(&self.config.data_dir)
    }

    /// "using data directory X (from ...)" on stderr, so a command's
    /// result says whose state it is.
    pub fn announce(&self) {
        eprintln!(
            "using data directory {} ({})",
            self.data_dir().display(),
            self.origin
        );
    }

    /// Announces the directory and checks that a service has run there:
    /// for commands that read the state and must not create it.
    pub fn existing(self) -> anyhow::Result<Self> {
        self.announce();
        let dir = self.data_dir();
        let hint = "run `exporter serve` or `exporter demo-data` there first, or pass --data-dir";
        if let Some(db) = sqlite_file(&self.config.database.url) {
            let db = absolute(&db);
            if !db.exists() {
                match dir.is_dir() {
                    false => {
                        anyhow::bail!("no Exporter data directory at {}: {hint}", dir.display())
                    }
                    true => anyhow::bail!(
                        "no Exporter database at {} (the directory exists, the database does not): {hint}",
                        db.display()
                    ),
                }
            }
        }
        // PostgreSQL: the database is the state, and connecting creates
        // nothing; the directory holds at most the token secret
        // (`require_secret`) and a plugin cache.
        Ok(self)
    }

    /// The token secret's file when the service generates its own (no
    /// `auth.jwt_secret` configured): it must exist, or tokens made here
    /// would be signed with a new secret the service refuses.
    pub fn require_secret(&self) -> anyhow::Result<()> {
        if self.config.auth.jwt_secret.is_some() {
            return Ok(());
        }
        let path = self.data_dir().join("jwt-secret");
        anyhow::ensure!(
            path.exists(),
            "no token secret at {}: the service creates it when it first starts; run `exporter serve` there first, set auth.jwt_secret (EXPORTER_AUTH__JWT_SECRET), or pass --data-dir",
            path.display()
        );
        Ok(())
    }
}

/// The file of a `sqlite://PATH` URL; `None` for other databases and
/// in-memory ones.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://data/exporter.db"),
            Some(PathBuf::from("data/exporter.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///srv/x.db?mode=rwc"),
            Some(PathBuf::from("/srv/x.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    #[test]
    fn a_missing_directory_is_refused_and_not_created() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("nowhere");
        let state = ServiceState::locate(None, Some(&dir)).unwrap();
        assert_eq!(state.origin, "from --data-dir");
        let error = state.existing().err().expect("refused").to_string();
        assert!(
            error.starts_with(&format!("no Exporter data directory at {}", dir.display())),
            "{error}"
        );
        assert!(error.contains("--data-dir"), "{error}");
        assert!(!dir.exists(), "nothing is created");
    }
}
