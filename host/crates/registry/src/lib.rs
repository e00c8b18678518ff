//! The plugin registry: every formatter version installed, which one each
//! format runs, and hot swap.
//!
//! A version is name + semver + sha256 of its component. The component
//! lives in the blob store and its metadata in the database, so every
//! process sees the same registry. Installing validates first
//! ([`validate`]); activating swaps the [`FormatRegistry`]'s set atomically,
//! here at once and in every other process within a poll interval
//! ([`sync`]). An export holds the [`Formatter`] it started with, so it
//! finishes on that version whatever is activated meanwhile.
//!
//! # Layout
//! - `store`: the two tables, SQL for both engines.
//! - `validate`: install-time checks and their report.
//! - `isolated`: runs `validate` in a child process, within a time budget
//!   and a memory limit, one validation at a time.
//! - `sync`: loads what the tables say is active, in the background.
//! - `builtin`: the shipped plugins, registered at start-up.
//! - `inbox`: the watched directory.
//! - `health`: counts exports a version failed; rolls back one that keeps
//!   trapping.
//! - [`formats`]: the versions in use, by format name, swapped atomically.
//!
//! Imports the runtime, the kit, the stores and metrics; never jobs or the
//! API.

mod builtin;
pub mod formats;
mod health;
mod inbox;
mod isolated;
mod store;
mod sync;
mod validate;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use object_store::ObjectStoreExt as _;
use object_store::path::Path as BlobPath;
use serde::{Deserialize, Serialize};

use crate::formats::FormatRegistry;
use exporter_metrics::Metrics;
use exporter_runtime::{Formatter, PluginEngine, component_digest};
use exporter_store::blob::BlobStore;
use exporter_store::db::{Database, now_micros};

pub use inbox::run_inbox;
pub use isolated::Line as IsolatedLine;
pub use store::{ActivationRecord, GLOBAL_SCOPE, RegistryStore, VersionRecord};
pub use sync::run_sync;
pub use validate::validate as validate_component;
pub use validate::{CONTRACT, ComponentFacts, InstallReport, ValidationSettings};

/// Registry settings: the service's `[registry]` section, its install-time
/// checks in `[registry.validation]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrySettings {
    /// Where the built-in plugins are (`<format>.wasm`), for
    /// [`PluginRegistry::register_builtins`].
    pub plugins_dir: PathBuf,
    /// The watched directory ([`run_inbox`]): a `.wasm` dropped here is
    /// installed and, if it passes validation, activated. Unset or empty:
    /// `plugins-inbox` under the service's data directory.
    pub inbox: Option<PathBuf>,
    /// How hard install-time validation pushes.
    pub validation: ValidationSettings,
    /// How often each process looks for activations made elsewhere.
    #[serde(with = "exporter_settings::duration")]
    pub poll_interval: Duration,
    /// Exports in a row a version may fail by trapping (or running out of
    /// time or memory) before it is rolled back.
    pub trap_threshold: u32,
    /// Run the conformance kit on built-in plugins (in the background)
    /// after start-up.
    pub check_builtins: bool,
    /// The largest component accepted.
    #[serde(with = "exporter_settings::bytes")]
    pub max_component_bytes: usize,
    /// Installs that may wait for the validator while one runs; one more
    /// is refused as busy (503) rather than queued for minutes.
    pub max_waiting_validations: usize,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            plugins_dir: exporter_runtime::default_plugins_dir(),
            inbox: None,
            validation: ValidationSettings::default(),
            poll_interval: Duration::from_millis(250),
            trap_threshold: 3,
            check_builtins: true,
            max_component_bytes: 64 << 20,
            max_waiting_validations: 4,
        }
    }
}

/// Who installs a version, and through what.
#[derive(Debug, Clone)]
pub struct Installer {
    /// `api`, `cli`, `watch` or `builtin`.
    pub source: &'static str,
    /// A user id, or `system:...`.
    pub by: String,
}

/// Which version to activate.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub version: String,
    /// Needed only when two builds carry the same version.
    pub sha256: Option<String>,
}

/// Why a registry operation did not happen. Each maps to one HTTP status
/// and one CLI message.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the component was refused: {}", .0.report.reason.as_deref().unwrap_or("see the report"))]
    Refused(Box<Installed>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the plugin store failed: {0:#}")]
    Internal(#[from] anyhow::Error),
    /// Too many installs wait for validation; try again later.
    #[error("{0}")]
    Busy(String),
}

/// The outcome of an install.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Installed {
    #[serde(flatten)]
    pub version: VersionRecord,
    pub report: InstallReport,
    /// Whether this install made it active (for everyone, or the canary).
    pub activated: bool,
    /// The version was already installed with these bytes.
    pub already_installed: bool,
}

/// A version as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionView {
    #[serde(flatten)]
    pub version: VersionRecord,
    /// Active for everyone.
    pub active: bool,
    /// Organizations running it as a canary.
    pub canary_organizations: Vec<String>,
    pub report: serde_json::Value,
}

/// The registry of one process.
#[derive(Clone)]
pub struct PluginRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    store: RegistryStore,
    blobs: BlobStore,
    engine: PluginEngine,
    formats: FormatRegistry,
    metrics: Metrics,
    settings: RegistrySettings,
    /// Loaded versions by sha256, so a swap back and forth compiles nothing.
    loaded: Mutex<HashMap<String, Formatter>>,
    /// The activations the current set was built from.
    applied: tokio::sync::Mutex<Vec<ActivationRecord>>,
    /// One validation at a time: each may use a core and up to its memory
    /// limit for minutes.
    validator: tokio::sync::Semaphore,
    /// Installs waiting for `validator`.
    waiting: std::sync::atomic::AtomicUsize,
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

    /// Validates `bytes` and records the version, refused or not; activates
    /// it (for everyone, or for `canary` only) when it passed and
    /// `activate` is set. A refused version is kept with its report and
    /// returned as [`RegistryError::Refused`].
    pub async fn install(
        &self,
        bytes: Bytes,
        expected_name: Option<&str>,
        installer: &Installer,
        activate: bool,
        canary: Option<&str>,
    ) -> Result<Installed, RegistryError> {
        let max = self.inner.settings.max_component_bytes;
        if bytes.len() > max {
            return Err(RegistryError::Invalid(format!(
                "the component is {} bytes; the limit is {max}",
                bytes.len()
            )));
        }
        if bytes.is_empty() {
            return Err(RegistryError::Invalid("the component is empty".into()));
        }
        if let Some(name) = expected_name {
            check_name(name)?;
        }
        let sha256 = component_digest(&bytes);
        let existing = self.inner.store.by_digest(&sha256).await?;
        let existing = existing
            .into_iter()
            .find(|v| expected_name.is_none_or(|name| v.name == name));
        let (record, already) = match existing {
            Some(record) => {
                self.restore_missing_component(&record, &bytes).await?;
                (record, true)
            }
            None => (
                self.validate_and_record(bytes, expected_name, installer, &sha256)
                    .await?,
                false,
            ),
        };
        let report: InstallReport = serde_json::from_str(&record.report).unwrap_or_default();
        let mut installed = Installed {
            version: record,
            report,
            activated: false,
            already_installed: already,
        };
        if installed.version.status == "Refused" {
            return Err(RegistryError::Refused(Box::new(installed)));
        }
        if activate {
            let selector = Selector {
                version: installed.version.version.clone(),
                sha256: Some(installed.version.sha256.clone()),
            };
            let name = installed.version.name.clone();
            self.activate(&name, &selector, canary, &installer.by)
                .await?;
            installed.activated = true;
        }
        Ok(installed)
    }

    async fn validate_and_record(
        &self,
        bytes: Bytes,
        expected_name: Option<&str>,
        installer: &Installer,
        sha256: &str,
    ) -> Result<VersionRecord, RegistryError> {
        let run_kit = installer.source != "builtin";
        let (report, formatter) = if run_kit {
            self.validate_isolated(&bytes, expected_name).await?
        } else {
            // Built-ins are our own build: loaded and described here, their
            // kit run later in the background.
            let engine = self.inner.engine.clone();
            let settings = self.inner.settings.validation.clone();
            let label = expected_name.unwrap_or("plugin").to_owned();
            let expected = expected_name.map(str::to_owned);
            let validating = bytes.clone();
            let validated = tokio::task::spawn_blocking(move || {
                validate::validate(
                    &engine,
                    &label,
                    &validating,
                    expected.as_deref(),
                    &settings,
                    false,
                    |_| {},
                )
            })
            .await
            .map_err(|e| anyhow::anyhow!("validation stopped: {e}"))?;
            (validated.report, validated.formatter)
        };
        let facts = report.component.clone();
        let name = match (&facts, expected_name) {
            (_, Some(name)) => name.to_owned(),
            (Some(facts), None) => facts.name.clone(),
            (None, None) => "unknown".to_owned(),
        };
        if report.passed {
            let version = &facts.as_ref().expect("passed implies loaded").version;
            self.check_version_is_new(&name, version, sha256, installer)
                .await?;
        }
        let blob_key = self.component_key(&name, sha256);
        self.inner
            .blobs
            .object_store()
            .put(&blob_key, bytes.clone().into())
            .await
            .map_err(|e| anyhow::anyhow!("storing the component: {e}"))?;
        let record = VersionRecord {
            name: name.clone(),
            sha256: sha256.to_owned(),
            version: facts
                .as_ref()
                .map(|i| i.version.clone())
                .unwrap_or_default(),
            contract: facts.as_ref().map(|f| f.contract.clone()),
            media_type: facts.as_ref().map(|i| i.media_type.clone()),
            file_extension: facts.as_ref().map(|i| i.file_extension.clone()),
            description: facts.as_ref().map(|i| i.description.clone()),
            size: bytes.len() as i64,
            blob_key: blob_key.to_string(),
            status: if report.passed { "Ready" } else { "Refused" }.to_owned(),
            status_reason: report.reason.clone(),
            report: serde_json::to_string(&report).unwrap_or_else(|_| "{}".into()),
            source: installer.source.to_owned(),
            installed_by: installer.by.clone(),
            installed_at: now_micros(),
            consecutive_failures: 0,
        };
        if !self.inner.store.insert_version(&record).await? {
            // Installed concurrently by another process: theirs stands.
            if let Some(theirs) = self.inner.store.version(&name, sha256).await? {
                return Ok(theirs);
            }
        }
        if let Some(formatter) = formatter.filter(|_| report.passed) {
            self.remember(formatter);
        }
        if report.passed {
            tracing::info!(
                format = name,
                version = record.version,
                sha256,
                source = installer.source,
                by = installer.by,
                "plugin version installed"
            );
        } else {
            // The installer hears why; for the service it is no fault.
            tracing::info!(
                format = name,
                sha256,
                reason = record.status_reason.as_deref().unwrap_or(""),
                "plugin version refused"
            );
        }
        Ok(record)
    }

    /// Validates `bytes` in a child process ([`isolated`]), one at a time,
    /// and loads the component here only once it passed.
    async fn validate_isolated(
        &self,
        bytes: &Bytes,
        expected_name: Option<&str>,
    ) -> Result<(InstallReport, Option<Formatter>), RegistryError> {
        use std::sync::atomic::Ordering;
        let settings = &self.inner.settings;
        let waiting = self.inner.waiting.fetch_add(1, Ordering::SeqCst);
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let queued = Waiting(&self.inner.waiting);
        if waiting >= settings.max_waiting_validations {
            return Err(RegistryError::Busy(format!(
                "{waiting} installs are already waiting for validation, which runs one at a time; try again in a few minutes"
            )));
        }
        let _slot = self
            .inner
            .validator
            .acquire()
            .await
            .map_err(|e| anyhow::anyhow!("the validator is closed: {e}"))?;
        drop(queued);
        let cache_dir = self.inner.engine.config().cache_dir.clone();
        let report = isolated::validate(
            bytes,
            expected_name,
            &settings.validation,
            cache_dir.as_deref(),
        )
        .await?;
        if !report.passed {
            return Ok((report, None));
        }
        let engine = self.inner.engine.clone();
        let label = expected_name.unwrap_or("plugin").to_owned();
        let loading = bytes.clone();
        let loaded = tokio::task::spawn_blocking(move || engine.load(&label, &loading))
            .await
            .map_err(|e| anyhow::anyhow!("loading stopped: {e}"))?;
        match loaded {
            Ok(formatter) => Ok((report, Some(formatter))),
            // It passed in the child; failing here is this process's fault.
            Err(e) => Err(RegistryError::Internal(anyhow::anyhow!(
                "the component passed validation but did not load here: {e}"
            ))),
        }
    }

    /// A version number names one build: a second build must say so with a
    /// new version. Built-ins are exempt: rebuilding the service's own
    /// plugins replaces their build (see `builtin`).
    async fn check_version_is_new(
        &self,
        name: &str,
        version: &str,
        sha256: &str,
        installer: &Installer,
    ) -> Result<(), RegistryError> {
        if installer.source == "builtin" {
            return Ok(());
        }
        let same = self.inner.store.by_version(name, version).await?;
        if let Some(other) = same
            .iter()
            .find(|v| v.sha256 != sha256 && v.status != "Refused")
        {
            return Err(RegistryError::Conflict(format!(
                "{name} {version} is already installed with different contents (sha256 {}); give the new build a new version",
                other.sha256
            )));
        }
        Ok(())
    }

    fn component_key(&self, name: &str, sha256: &str) -> BlobPath {
        let file = format!("{sha256}.wasm");
        BlobPath::from_iter(["plugins", name, file.as_str()])
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
        match record.status.as_str() {
            "Refused" => {
                return Err(RegistryError::Conflict(format!(
                    "{name} {} was refused at install and is never activated: {}",
                    record.version,
                    record.status_reason.as_deref().unwrap_or("see its report")
                )));
            }
            "Disabled" => {
                // An operator re-enabling a rolled-back version by hand.
                self.inner
                    .store
                    .set_status(name, &record.sha256, "Ready", None)
                    .await?;
            }
            _ => {}
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
    async fn resolve(
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
            matches.retain(|v| v.status != "Refused");
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

    /// Puts back a recorded version's component when the blob store has
    /// lost it (a wiped or restored store): installing the same bytes again
    /// heals the version, and built-ins, registered at every start, heal
    /// themselves instead of leaving their format unavailable.
    async fn restore_missing_component(
        &self,
        record: &VersionRecord,
        bytes: &Bytes,
    ) -> Result<(), RegistryError> {
        let key = self.inner.blobs.parse_key(&record.blob_key)?;
        let store = self.inner.blobs.object_store();
        match store.head(&key).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => {
                tracing::warn!(key = %record.blob_key, "a recorded plugin component was missing from the blob store; restoring it");
                store
                    .put(&key, bytes.clone().into())
                    .await
                    .map_err(|e| anyhow::anyhow!("restoring component {}: {e}", record.blob_key))?;
                Ok(())
            }
            Err(e) => Err(anyhow::anyhow!("checking component {}: {e}", record.blob_key).into()),
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
            Some(record) if record.status != "Refused" => self.load(&record).await.map(Some),
            _ => Ok(None),
        }
    }

    /// The formatter of a version, loading its component from the blob
    /// store (and compiling it, or loading the cached artifact) if needed.
    async fn load(&self, record: &VersionRecord) -> Result<Formatter, RegistryError> {
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

    fn loaded(&self, sha256: &str) -> Option<Formatter> {
        let loaded = self.inner.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.get(sha256).cloned()
    }

    fn remember(&self, formatter: Formatter) {
        let mut loaded = self.inner.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.insert(formatter.digest().to_owned(), formatter);
    }

    fn forget(&self, sha256: &str) {
        let mut loaded = self.inner.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.remove(sha256);
    }
}

/// Format names are lower-kebab-case, as the WIT contract says.
fn check_name(name: &str) -> Result<(), RegistryError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(RegistryError::Invalid(format!(
            "{name:?} is not a format name: use lower-kebab-case, like \"csv\" or \"markdown-table\""
        )))
    }
}
