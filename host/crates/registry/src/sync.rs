//! Keeps this process's active set in step with the registry tables.
//!
//! Every process polls `plugin_activations` (a handful of rows) every
//! `poll_interval`; when the rows change it loads any version it lacks
//! (from the blob store, compiled or taken from the artifact cache) and
//! only then swaps the whole set, so exports never wait on a compile and
//! never see a half-applied change.

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use super::{GLOBAL_SCOPE, PluginRegistry, RegistryError};
use crate::formats::ActiveSet;

impl PluginRegistry {
    /// Applies the registry tables now. Versions that fail to load keep
    /// their format on what it ran before, and the failure is logged; the
    /// next change retries them.
    pub async fn refresh(&self) -> Result<(), RegistryError> {
        let mut applied = self.inner.applied.lock().await;
        let activations = self.inner.store.activations().await?;
        if *applied == activations && !applied.is_empty() {
            return Ok(());
        }
        let versions = self.inner.store.versions().await?;
        let current = self.inner.formats.snapshot();
        let mut next = ActiveSet::default();
        let mut complete = true;
        for activation in &activations {
            let loaded = match versions
                .iter()
                .find(|v| v.name == activation.name && v.sha256 == activation.sha256)
            {
                Some(record) => self.load(record).await,
                None => Err(RegistryError::NotFound(format!(
                    "{} {} is active but not installed",
                    activation.name, activation.sha256
                ))),
            };
            let formatter = match loaded {
                Ok(formatter) => formatter,
                Err(error) => {
                    complete = false;
                    tracing::error!(format = activation.name, sha256 = activation.sha256,
                        error = %error, "could not load the activated plugin version; keeping the previous one");
                    let previous = if activation.scope == GLOBAL_SCOPE {
                        current.global.get(&activation.name)
                    } else {
                        current
                            .canary
                            .get(&(activation.scope.clone(), activation.name.clone()))
                    };
                    match previous {
                        Some(formatter) => formatter.clone(),
                        None => continue,
                    }
                }
            };
            if activation.scope == GLOBAL_SCOPE {
                next.global.insert(activation.name.clone(), formatter);
            } else {
                next.canary.insert(
                    (activation.scope.clone(), activation.name.clone()),
                    formatter,
                );
            }
        }
        log_changes(&current.global, &next.global);
        // Versions nobody runs any more are dropped from the cache; exports
        // still using one hold their own reference.
        {
            let mut loaded = self.inner.loaded.lock().unwrap_or_else(|e| e.into_inner());
            loaded.retain(|sha, _| activations.iter().any(|a| &a.sha256 == sha));
        }
        self.inner.formats.replace(next);
        // An incomplete load is retried at the next poll.
        *applied = if complete { activations } else { Vec::new() };
        Ok(())
    }
}

fn log_changes(
    before: &BTreeMap<String, exporter_runtime::Formatter>,
    after: &BTreeMap<String, exporter_runtime::Formatter>,
) {
    for (name, formatter) in after {
        let was = before.get(name).map(|f| f.digest());
        if was != Some(formatter.digest()) {
            tracing::info!(
                format = name,
                version = formatter.info().version,
                sha256 = formatter.digest(),
                "now exporting with this plugin version"
            );
        }
    }
}

/// Polls the registry until `shutdown`.
pub async fn run_sync(registry: PluginRegistry, shutdown: CancellationToken) {
    let interval = registry.inner.settings.poll_interval;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(error) = registry.refresh().await {
            tracing::warn!(error = %error, "could not read the plugin registry; retrying");
        }
    }
}
