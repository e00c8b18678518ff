//! The registry of one process: its versions loaded by digest, activation,
//! canaries, deletion, listing. Installing is in `install`, rollback of a
//! crashing version in `health`, start-up registration in `builtin`, the
//! background refresh in `sync`: each another `impl PluginRegistry` with
//! one job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use object_store::ObjectStoreExt as _;

use crate::error::RegistryError;
use crate::formats::FormatRegistry;
use crate::settings::RegistrySettings;
use crate::store::{ActivationRecord, GLOBAL_SCOPE, RegistryStore, VersionRecord, VersionStatus};
use crate::views::{Selector, VersionView};
use exporter_metrics::Metrics;
use exporter_runtime::{Formatter, PluginEngine, component_digest};
use exporter_store::blob::BlobStore;
use exporter_store::db::Database;

/// The registry of one process.
#[derive(Clone)]
pub struct PluginRegistry {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: RegistryStore,
    pub(crate) blobs: BlobStore,
    pub(crate) engine: PluginEngine,
    pub(crate) formats: FormatRegistry,
    pub(crate) metrics: Metrics,
    pub(crate) settings: RegistrySettings,
    /// Loaded versions by sha256, so a swap back and forth compiles nothing.
    pub(crate) loaded: Mutex<HashMap<String, Formatter>>,
    /// The activations the current set was built from.
    pub(crate) applied: tokio::sync::Mutex<Vec<ActivationRecord>>,
    /// One validation at a time: each may use a core and up to its memory
    /// limit for minutes.
    pub(crate) validator: tokio::sync::Semaphore,
    /// Installs waiting for `validator`.
    pub(crate) waiting: std::sync::atomic::AtomicUsize,
}

impl PluginRegistry {
    pub fn new(
        db: Database,
        blobs: BlobStore,
        engine: PluginEngine,
        formats: FormatRegistry,
        metrics: Metrics,
        settings: RegistrySettings,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: RegistryStore::new(db),
                blobs,
                engine,
                formats,
                metrics,
                settings,
                loaded: Mutex::new(HashMap::new()),
                applied: tokio::sync::Mutex::new(Vec::new()),
                validator: tokio::sync::Semaphore::new(1),
                waiting: std::sync::atomic::AtomicUsize::new(0),
            }),
        }
    }

    pub fn formats(&self) -> &FormatRegistry {
        &self.inner.formats
    }

    pub fn settings(&self) -> &RegistrySettings {
        &self.inner.settings
    }

    /// The engine every version is loaded into, with its sandbox limits.
    pub fn engine(&self) -> &PluginEngine {
        &self.inner.engine
    }

    pub fn store(&self) -> &RegistryStore {
        &self.inner.store
    }

    /// Makes a version active for everyone, or for one organization.
    pub async fn activate(
        &self,
        name: &str,
        selector: &Selector,
        organization: Option<&str>,
        by: &str,
    ) -> Result<VersionRecord, RegistryError> {
        let record = self.resolve(name, selector).await?;
        match record.status {
            VersionStatus::Refused => {
                return Err(RegistryError::Conflict(format!(
                    "{name} {} was refused at install and is never activated: {}",
                    record.version,
                    record.status_reason.as_deref().unwrap_or("see its report")
                )));
            }
            VersionStatus::Disabled => {
                // An operator re-enabling a rolled-back version by hand.
                self.inner
                    .store
                    .set_status(name, &record.sha256, VersionStatus::Ready, None)
                    .await?;
            }
            VersionStatus::Ready => {}
        }
        // Load first: a version that cannot load here must not become
        // active anywhere.
        self.load(&record).await?;
        let scope = organization.unwrap_or(GLOBAL_SCOPE);
        self.inner
            .store
            .activate(name, scope, &record.sha256, by)
            .await?;
        if organization.is_none() {
            self.inner
                .store
                .remove_canaries_of(name, &record.sha256)
                .await?;
        }
        tracing::info!(
            format = name,
            version = record.version,
            sha256 = record.sha256,
            organization = organization.unwrap_or("*"),
            by,
            "plugin version activated"
        );
        self.refresh().await?;
        Ok(record)
    }

    /// Ends an organization's canary.
    pub async fn end_canary(&self, name: &str, organization: &str) -> Result<(), RegistryError> {
        if !self
            .inner
            .store
            .remove_activation(name, organization)
            .await?
        {
            return Err(RegistryError::NotFound(format!(
                "organization {organization} has no canary of {name}"
            )));
        }
        self.refresh().await?;
        Ok(())
    }

    /// Deletes an inactive version and its component.
    pub async fn delete(
        &self,
        name: &str,
        selector: &Selector,
    ) -> Result<VersionRecord, RegistryError> {
        let record = self.resolve(name, selector).await?;
        let activations = self.inner.store.activations().await?;
        if let Some(active) = activations
            .iter()
            .find(|a| a.name == name && a.sha256 == record.sha256)
        {
            let whom = if active.scope == GLOBAL_SCOPE {
                "everyone".to_owned()
            } else {
                format!("organization {}", active.scope)
            };
            return Err(RegistryError::Conflict(format!(
                "{name} {} is active for {whom}; activate another version first",
                record.version
            )));
        }
        if !self
            .inner
            .store
            .delete_version(name, &record.sha256)
            .await?
        {
            return Err(RegistryError::Conflict(format!(
                "{name} {} became active while being deleted",
                record.version
            )));
        }
        match self.inner.blobs.parse_key(&record.blob_key) {
            Ok(key) => {
                if let Err(e) = self.inner.blobs.delete(&key).await {
                    tracing::warn!(key = record.blob_key, error = %e, "could not delete a plugin component");
                }
            }
            Err(e) => {
                tracing::warn!(key = record.blob_key, error = %e, "could not delete a plugin component")
            }
        }
        self.forget(&record.sha256);
        Ok(record)
    }

    /// Every version, with where it is active and its report.
    pub async fn list(&self) -> Result<Vec<VersionView>, RegistryError> {
        let versions = self.inner.store.versions().await?;
        let activations = self.inner.store.activations().await?;
        Ok(versions
            .into_iter()
            .map(|version| {
                let mine =
                    |a: &&ActivationRecord| a.name == version.name && a.sha256 == version.sha256;
                let active = activations
                    .iter()
                    .filter(mine)
                    .any(|a| a.scope == GLOBAL_SCOPE);
                let canary_organizations = activations
                    .iter()
                    .filter(mine)
                    .filter(|a| a.scope != GLOBAL_SCOPE)
                    .map(|a| a.scope.clone())
                    .collect();
                let report =
                    serde_json::from_str(&version.report).unwrap_or(serde_json::Value::Null);
                VersionView {
                    version,
                    active,
                    canary_organizations,
                    report,
                }
            })
            .collect())
    }

    /// The version a selector names.
    pub(crate) async fn resolve(
        &self,
        name: &str,
        selector: &Selector,
    ) -> Result<VersionRecord, RegistryError> {
        if let Some(sha256) = &selector.sha256 {
            return match self.inner.store.version(name, sha256).await? {
                Some(v) if selector.version.is_empty() || v.version == selector.version => Ok(v),
                Some(v) => Err(RegistryError::Invalid(format!(
                    "sha256 {sha256} is {name} {}, not {}",
                    v.version, selector.version
                ))),
                None => Err(RegistryError::NotFound(format!(
                    "{name} has no version with sha256 {sha256}"
                ))),
            };
        }
        let mut matches = self.inner.store.by_version(name, &selector.version).await?;
        if matches.len() > 1 {
            // Refused builds never compete with a good one.
            matches.retain(|v| v.status != VersionStatus::Refused);
        }
        match matches.len() {
            0 => Err(RegistryError::NotFound(format!(
                "{name} has no version {:?} (GET /api/admin/formatters lists them)",
                selector.version
            ))),
            1 => Ok(matches.remove(0)),
            _ => Err(RegistryError::Conflict(format!(
                "{name} {} has {} builds; say which with \"sha256\": {}",
                selector.version,
                matches.len(),
                matches
                    .iter()
                    .map(|v| v.sha256.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The formatter of `name`'s version with component `sha256`, while it
    /// is installed: a resumed export runs the plugin that wrote its first
    /// parts, whatever is active now.
    pub async fn formatter_by_digest(
        &self,
        name: &str,
        sha256: &str,
    ) -> Result<Option<Formatter>, RegistryError> {
        if let Some(formatter) = self.loaded(sha256) {
            return Ok(Some(formatter));
        }
        match self.inner.store.version(name, sha256).await? {
            Some(record) if record.status != VersionStatus::Refused => {
                self.load(&record).await.map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The formatter of a version, loading its component from the blob
    /// store (and compiling it, or loading the cached artifact) if needed.
    pub(crate) async fn load(&self, record: &VersionRecord) -> Result<Formatter, RegistryError> {
        if let Some(formatter) = self.loaded(&record.sha256) {
            return Ok(formatter);
        }
        let key = self.inner.blobs.parse_key(&record.blob_key)?;
        let bytes = self
            .inner
            .blobs
            .object_store()
            .get(&key)
            .await
            .map_err(|e| anyhow::anyhow!("reading component {}: {e}", record.blob_key))?
            .bytes()
            .await
            .map_err(|e| anyhow::anyhow!("reading component {}: {e}", record.blob_key))?;
        let digest = component_digest(&bytes);
        if digest != record.sha256 {
            return Err(RegistryError::Internal(anyhow::anyhow!(
                "component {} has sha256 {digest}, the registry says {}: refusing to load it",
                record.blob_key,
                record.sha256
            )));
        }
        let engine = self.inner.engine.clone();
        let label = record.name.clone();
        let formatter = tokio::task::spawn_blocking(move || engine.load(&label, &bytes))
            .await
            .map_err(|e| anyhow::anyhow!("loading stopped: {e}"))?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.remember(formatter.clone());
        Ok(formatter)
    }

    pub(crate) fn loaded(&self, sha256: &str) -> Option<Formatter> {
        let loaded = self.inner.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.get(sha256).cloned()
    }

    pub(crate) fn remember(&self, formatter: Formatter) {
        let mut loaded = self.inner.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.insert(formatter.digest().to_owned(), formatter);
    }

    pub(crate) fn forget(&self, sha256: &str) {
        let mut loaded = self.inner.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.remove(sha256);
    }
}
