//! Automatic rollback: a version whose exports keep crashing (a trap, out of
//! memory, out of time, broken output) is taken out of service and the
//! version it replaced restored. The count lives in the database, so
//! failures on every worker add up.

use super::{GLOBAL_SCOPE, PluginRegistry, RegistryError, VersionStatus};
use exporter_runtime::{Formatter, PluginError};

/// Failures that are the plugin's own doing. A refusal (`format-error`) is
/// the plugin judging the data, and output or blob-store limits are the
/// export's size, so those do not count.
pub fn is_plugin_crash(error: &PluginError) -> bool {
    matches!(
        error,
        PluginError::Trapped { .. }
            | PluginError::OutOfMemory { .. }
            | PluginError::Timeout { .. }
            | PluginError::InvalidOutput { .. }
    )
}

impl PluginRegistry {
    /// An export on `formatter` succeeded: its run of failures, if any, ends.
    pub async fn export_succeeded(&self, formatter: &Formatter) {
        let name = &formatter.info().name;
        if let Err(error) = self
            .inner
            .store
            .clear_failures(name, formatter.digest())
            .await
        {
            tracing::warn!(format = name, error = %error, "could not update plugin health");
        }
    }

    /// An export on `formatter` crashed. At the threshold, every scope
    /// running this version goes back to the version it replaced (a canary
    /// simply ends), and the version is marked `Disabled`.
    pub async fn export_crashed(&self, formatter: &Formatter, error: &PluginError) {
        if !is_plugin_crash(error) {
            return;
        }
        if let Err(error) = self.count_crash(formatter).await {
            tracing::warn!(format = formatter.info().name, error = %error, "could not update plugin health");
        }
    }

    async fn count_crash(&self, formatter: &Formatter) -> Result<(), RegistryError> {
        let name = formatter.info().name.clone();
        let sha256 = formatter.digest().to_owned();
        let failures = self.inner.store.count_failure(&name, &sha256).await?;
        let threshold = i64::from(self.inner.settings.trap_threshold.max(1));
        if failures < threshold {
            return Ok(());
        }
        let activations = self.inner.store.activations().await?;
        let mut rolled_back = false;
        for activation in activations
            .iter()
            .filter(|a| a.name == name && a.sha256 == sha256)
        {
            let restore = match &activation.previous_sha256 {
                Some(previous) => self
                    .inner
                    .store
                    .version(&name, previous)
                    .await?
                    .filter(|v| v.status == VersionStatus::Ready)
                    .map(|v| v.sha256),
                None => None,
            };
            if restore.is_none() && activation.scope == GLOBAL_SCOPE {
                tracing::error!(
                    format = name,
                    version = formatter.info().version,
                    sha256,
                    failures,
                    "plugin version keeps crashing but there is no earlier version to restore"
                );
                continue;
            }
            if self
                .inner
                .store
                .roll_back(&name, &activation.scope, &sha256, restore.as_deref())
                .await?
            {
                rolled_back = true;
                tracing::error!(
                    format = name,
                    version = formatter.info().version,
                    sha256,
                    failures,
                    scope = if activation.scope == GLOBAL_SCOPE {
                        "*"
                    } else {
                        activation.scope.as_str()
                    },
                    restored = restore.as_deref().unwrap_or("(everyone's version)"),
                    "plugin version crashed {failures} exports in a row; rolled back"
                );
                self.inner.metrics.plugin_rolled_back(&name);
            }
        }
        if rolled_back {
            self.inner
                .store
                .set_status(
                    &name,
                    &sha256,
                    VersionStatus::Disabled,
                    Some(format!(
                        "rolled back automatically after {failures} crashed exports in a row"
                    )),
                )
                .await?;
            self.refresh().await?;
        }
        Ok(())
    }
}
