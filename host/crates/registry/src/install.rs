//! Installing a version: size and name checks, validation (in a child
//! process for anything but the built-ins), the component stored by its
//! digest, the version recorded, refused or not, and optionally activated.

use bytes::Bytes;
use object_store::ObjectStoreExt as _;
use object_store::path::Path as BlobPath;

use crate::error::RegistryError;
use crate::isolated;
use crate::registry::PluginRegistry;
use crate::store::{VersionRecord, VersionStatus};
use crate::validate::{self, InstallReport};
use crate::views::{Installed, Installer, Selector};
use exporter_runtime::{Formatter, component_digest};
use exporter_store::db::now_micros;

impl PluginRegistry {
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
        if installed.version.status == VersionStatus::Refused {
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

    /// Validates `bytes` and records the version, refused or not, with its
    /// component stored under its digest.
    pub(crate) async fn validate_and_record(
        &self,
        bytes: Bytes,
        expected_name: Option<&str>,
        installer: &Installer,
        sha256: &str,
    ) -> Result<VersionRecord, RegistryError> {
        let (report, formatter) = self
            .validate_bytes(&bytes, expected_name, installer)
            .await?;
        let name = match (&report.component, expected_name) {
            (_, Some(name)) => name.to_owned(),
            (Some(facts), None) => facts.name.clone(),
            (None, None) => "unknown".to_owned(),
        };
        if let Some(facts) = report.component.as_ref().filter(|_| report.passed) {
            self.check_version_is_new(&name, &facts.version, sha256, installer)
                .await?;
        }
        let blob_key = component_key(&name, sha256);
        self.inner
            .blobs
            .object_store()
            .put(&blob_key, bytes.clone().into())
            .await
            .map_err(|e| anyhow::anyhow!("storing the component: {e}"))?;
        let record = version_record(name, sha256, &bytes, &blob_key, &report, installer);
        if !self.inner.store.insert_version(&record).await? {
            // Installed concurrently by another process: theirs stands.
            if let Some(theirs) = self.inner.store.version(&record.name, sha256).await? {
                return Ok(theirs);
            }
        }
        if let Some(formatter) = formatter.filter(|_| report.passed) {
            self.remember(formatter);
        }
        log_install(&record, installer);
        Ok(record)
    }

    /// The install report of `bytes`, and the loaded formatter when it
    /// passed: the conformance kit in a child process, or, for a built-in
    /// (our own build), loaded and described here with its kit run later
    /// in the background.
    async fn validate_bytes(
        &self,
        bytes: &Bytes,
        expected_name: Option<&str>,
        installer: &Installer,
    ) -> Result<(InstallReport, Option<Formatter>), RegistryError> {
        if installer.source != "builtin" {
            return self.validate_isolated(bytes, expected_name).await;
        }
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
        Ok((validated.report, validated.formatter))
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
            .find(|v| v.sha256 != sha256 && v.status != VersionStatus::Refused)
        {
            return Err(RegistryError::Conflict(format!(
                "{name} {version} is already installed with different contents (sha256 {}); give the new build a new version",
                other.sha256
            )));
        }
        Ok(())
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

/// Where a version's component is stored: by format and digest.
fn component_key(name: &str, sha256: &str) -> BlobPath {
    let file = format!("{sha256}.wasm");
    BlobPath::from_iter(["plugins", name, file.as_str()])
}

/// The record of a version validated as `report` says.
fn version_record(
    name: String,
    sha256: &str,
    bytes: &Bytes,
    blob_key: &BlobPath,
    report: &InstallReport,
    installer: &Installer,
) -> VersionRecord {
    let facts = report.component.as_ref();
    VersionRecord {
        name,
        sha256: sha256.to_owned(),
        version: facts.map(|f| f.version.clone()).unwrap_or_default(),
        contract: facts.map(|f| f.contract.clone()),
        media_type: facts.map(|f| f.media_type.clone()),
        file_extension: facts.map(|f| f.file_extension.clone()),
        description: facts.map(|f| f.description.clone()),
        size: bytes.len() as i64,
        blob_key: blob_key.to_string(),
        status: if report.passed {
            VersionStatus::Ready
        } else {
            VersionStatus::Refused
        },
        status_reason: report.reason.clone(),
        report: serde_json::to_string(report).unwrap_or_else(|_| "{}".into()),
        source: installer.source.to_owned(),
        installed_by: installer.by.clone(),
        installed_at: now_micros(),
        consecutive_failures: 0,
    }
}

fn log_install(record: &VersionRecord, installer: &Installer) {
    if record.status == VersionStatus::Ready {
        tracing::info!(
            format = record.name,
            version = record.version,
            sha256 = record.sha256,
            source = installer.source,
            by = installer.by,
            "plugin version installed"
        );
    } else {
        // The installer hears why; for the service it is no fault.
        tracing::info!(
            format = record.name,
            sha256 = record.sha256,
            reason = record.status_reason.as_deref().unwrap_or(""),
            "plugin version refused"
        );
    }
}
