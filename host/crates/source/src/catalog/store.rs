//! The catalog in the service's database, and the live view every process
//! keeps of it.
//!
//! Versions are rows that never change (`dataset_versions`): installing a
//! dataset adds a version, removing one adds a version without a
//! definition. A job records the version it was created on and reads that
//! one ([`Catalog::version`]), so a running export finishes on the
//! definition it started with while new jobs see the change. Every process
//! polls the versions' heads (one row per dataset) and swaps its view when
//! they move ([`Catalog::spawn_sync`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::file::{from_json, to_json};
use super::model::Dataset;
use super::seed::default_datasets;
use exporter_store::db::{self, Database, now_micros};

/// Who installed a version.
pub const ORIGIN_BUILTIN: &str = "builtin";
pub const ORIGIN_OPERATOR: &str = "operator";

/// One stored version of a dataset.
#[derive(Debug, Clone)]
pub struct DatasetVersion {
    pub name: String,
    pub version: i64,
    /// `None`: this version removed the dataset.
    pub definition: Option<Arc<Dataset>>,
    pub origin: String,
    pub installed_by: String,
    pub installed_at: i64,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    name: String,
    version: i64,
    definition: Option<String>,
    origin: String,
    installed_by: String,
    installed_at: i64,
}

impl VersionRow {
    fn into_version(self) -> sqlx::Result<DatasetVersion> {
        let definition = match &self.definition {
            Some(json) => {
                let mut dataset =
                    from_json(&self.name, json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                dataset.version = self.version;
                Some(Arc::new(dataset))
            }
            None => None,
        };
        Ok(DatasetVersion {
            name: self.name,
            version: self.version,
            definition,
            origin: self.origin,
            installed_by: self.installed_by,
            installed_at: self.installed_at,
        })
    }
}

const COLUMNS: &str = "name, version, definition, origin, installed_by, installed_at";

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// A new version, and the one it replaced (0: none).
    New { version: i64, previous: i64 },
    /// The current version already has this definition.
    Unchanged { version: i64 },
}

/// The catalog's tables.
#[derive(Debug, Clone)]
pub struct CatalogStore {
    db: Database,
}

impl CatalogStore {
    pub fn new(db: Database) -> Self {
        CatalogStore { db }
    }

    /// The highest version of every dataset ever installed, removed ones
    /// included.
    pub async fn heads(&self) -> sqlx::Result<Vec<(String, i64)>> {
        #[derive(sqlx::FromRow)]
        struct Head {
            name: String,
            version: i64,
        }
        let rows: Vec<Head> = db::fetch_all(
            &self.db,
            "SELECT name, MAX(version) AS version FROM dataset_versions GROUP BY name ORDER BY name",
            &[],
        )
        .await?;
        Ok(rows.into_iter().map(|h| (h.name, h.version)).collect())
    }

    /// Every dataset's current version, removed ones included, by name.
    pub async fn current(&self) -> sqlx::Result<Vec<DatasetVersion>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM dataset_versions v WHERE version = \
             (SELECT MAX(version) FROM dataset_versions w WHERE w.name = v.name) ORDER BY name"
        );
        let rows: Vec<VersionRow> = db::fetch_all(&self.db, &sql, &[]).await?;
        rows.into_iter().map(VersionRow::into_version).collect()
    }

    /// Every version of `name`, oldest first.
    pub async fn history(&self, name: &str) -> sqlx::Result<Vec<DatasetVersion>> {
        let sql = format!("SELECT {COLUMNS} FROM dataset_versions WHERE name = ? ORDER BY version");
        let rows: Vec<VersionRow> = db::fetch_all(&self.db, &sql, &[name.into()]).await?;
        rows.into_iter().map(VersionRow::into_version).collect()
    }

    /// One version.
    pub async fn version(&self, name: &str, version: i64) -> sqlx::Result<Option<DatasetVersion>> {
        let sql = format!("SELECT {COLUMNS} FROM dataset_versions WHERE name = ? AND version = ?");
        let row: Option<VersionRow> =
            db::fetch_optional(&self.db, &sql, &[name.into(), version.into()]).await?;
        row.map(VersionRow::into_version).transpose()
    }

    /// Installs `dataset` as its next version, unless its current version
    /// already says the same.
    pub async fn install(
        &self,
        dataset: &Dataset,
        origin: &str,
        installed_by: &str,
    ) -> sqlx::Result<Installed> {
        let json = to_json(dataset);
        self.add_version(&dataset.name, Some(json), origin, installed_by)
            .await
    }

    /// Records that `name` is removed; `false` when it is not installed.
    pub async fn remove(&self, name: &str, installed_by: &str) -> sqlx::Result<bool> {
        let current = self.history(name).await?.pop();
        if current.is_none_or(|v| v.definition.is_none()) {
            return Ok(false);
        }
        self.add_version(name, None, ORIGIN_OPERATOR, installed_by)
            .await?;
        Ok(true)
    }

    async fn add_version(
        &self,
        name: &str,
        definition: Option<String>,
        origin: &str,
        installed_by: &str,
    ) -> sqlx::Result<Installed> {
        // Two processes installing at once both compute the same next
        // version; the primary key lets one win and the other tries again.
        for _ in 0..5 {
            let current = self.history(name).await?.pop();
            let previous = current.as_ref().map_or(0, |v| v.version);
            if let Some(current) = &current
                && current.definition.as_deref().map(to_json) == definition
            {
                return Ok(Installed::Unchanged {
                    version: current.version,
                });
            }
            let inserted = db::execute(
                &self.db,
                &format!(
                    "INSERT INTO dataset_versions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (name, version) DO NOTHING"
                ),
                &[
                    name.into(),
                    (previous + 1).into(),
                    definition.clone().into(),
                    origin.into(),
                    installed_by.into(),
                    now_micros().into(),
                ],
            )
            .await?;
            if inserted == 1 {
                return Ok(Installed::New {
                    version: previous + 1,
                    previous,
                });
            }
        }
        Err(sqlx::Error::Protocol(format!(
            "could not install {name}: other installs kept taking its next version"
        )))
    }

    /// Installs the shipped datasets (`datasets/default.toml`): each one the
    /// catalog has never held, and each whose current version is an older
    /// shipped one. A dataset an operator installed or removed is theirs.
    pub async fn install_defaults(&self) -> sqlx::Result<Vec<(String, Installed)>> {
        let mut done = Vec::new();
        for dataset in default_datasets() {
            let current = self.history(&dataset.name).await?.pop();
            if current.is_none_or(|v| v.origin == ORIGIN_BUILTIN && v.definition.is_some()) {
                let installed = self.install(&dataset, ORIGIN_BUILTIN, "exporter").await?;
                if matches!(installed, Installed::New { .. }) {
                    done.push((dataset.name.clone(), installed));
                }
            }
        }
        Ok(done)
    }
}

/// Every process's view of the catalog: the current version of every
/// installed dataset, kept in step with the database by polling.
#[derive(Clone, Debug)]
pub struct Catalog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: CatalogStore,
    current: RwLock<Arc<BTreeMap<String, Arc<Dataset>>>>,
    heads: tokio::sync::Mutex<Vec<(String, i64)>>,
    /// Versions read by number, which never change.
    pinned: Mutex<HashMap<(String, i64), Arc<Dataset>>>,
}

impl Catalog {
    /// The catalog in `db`, read now.
    pub async fn load(db: Database) -> sqlx::Result<Catalog> {
        let catalog = Catalog {
            inner: Arc::new(Inner {
                store: CatalogStore::new(db),
                current: RwLock::default(),
                heads: tokio::sync::Mutex::default(),
                pinned: Mutex::default(),
            }),
        };
        catalog.refresh().await?;
        Ok(catalog)
    }

    pub fn store(&self) -> &CatalogStore {
        &self.inner.store
    }

    /// The current version of `name`, if it is installed.
    pub fn get(&self, name: &str) -> Option<Arc<Dataset>> {
        self.snapshot().get(name).cloned()
    }

    /// Every installed dataset, in name order.
    pub fn list(&self) -> Vec<Arc<Dataset>> {
        self.snapshot().values().cloned().collect()
    }

    fn snapshot(&self) -> Arc<BTreeMap<String, Arc<Dataset>>> {
        self.inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `name` as of `version` (what a job was created on); the current
    /// version when the job predates the catalog (`None`).
    pub async fn version(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> sqlx::Result<Option<Arc<Dataset>>> {
        let Some(version) = version else {
            return Ok(self.get(name));
        };
        if let Some(current) = self.get(name).filter(|d| d.version == version) {
            return Ok(Some(current));
        }
        let key = (name.to_owned(), version);
        if let Some(pinned) = self
            .inner
            .pinned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(Some(pinned.clone()));
        }
        let found = self
            .inner
            .store
            .version(name, version)
            .await?
            .and_then(|v| v.definition);
        if let Some(dataset) = &found {
            self.inner
                .pinned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, dataset.clone());
        }
        Ok(found)
    }

    /// Reads the heads, and the current versions when they moved.
    pub async fn refresh(&self) -> sqlx::Result<()> {
        let store = &self.inner.store;
        let mut applied = self.inner.heads.lock().await;
        let heads = store.heads().await?;
        if *applied == heads && !heads.is_empty() {
            return Ok(());
        }
        let current: BTreeMap<String, Arc<Dataset>> = store
            .current()
            .await?
            .into_iter()
            .filter_map(|v| v.definition.map(|d| (v.name, d)))
            .collect();
        let before = self.snapshot();
        for (name, dataset) in &current {
            match before.get(name) {
                Some(old) if old.version == dataset.version => {}
                Some(old) => tracing::info!(
                    dataset = name,
                    from = old.version,
                    to = dataset.version,
                    "dataset updated"
                ),
                None => tracing::info!(
                    dataset = name,
                    version = dataset.version,
                    "dataset installed"
                ),
            }
        }
        for name in before.keys().filter(|n| !current.contains_key(*n)) {
            tracing::info!(dataset = name, "dataset removed");
        }
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(current);
        *applied = heads;
        Ok(())
    }

    /// Polls every `interval` until `cancel`: a change made by any process
    /// reaches this one within an interval. A failed poll is logged and
    /// tried again at the next.
    pub fn spawn_sync(&self, interval: Duration, cancel: CancellationToken) {
        let catalog = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                if let Err(error) = catalog.refresh().await {
                    tracing::warn!(error = %error, "could not read the dataset catalog; trying again");
                }
            }
        });
    }
}
