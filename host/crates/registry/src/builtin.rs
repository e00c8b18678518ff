//! The plugins shipped with the service (`cargo xtask plugins` puts them in
//! the plugins directory) enter the registry like any other version, so an
//! operator can replace or roll them back the same way.
//!
//! A built-in is activated when its format has no active version yet, or
//! when the active one is itself a built-in (the service was upgraded). A
//! version an operator activated stays active across restarts.

use std::path::Path;

use anyhow::Context as _;
use bytes::Bytes;

use super::{GLOBAL_SCOPE, Installer, PluginRegistry, VersionStatus, validate};
use exporter_runtime::component_digest;

/// Who activated a built-in: start-up, not a person.
pub const BUILTIN_ACTIVATOR: &str = "system:builtin";

impl PluginRegistry {
    /// Registers every `*.wasm` in `dir` and makes the registry's active set
    /// current. A built-in that does not load stops start-up: a service
    /// that silently lacks a format is worse than one that does not start.
    pub async fn register_builtins(&self, dir: &Path) -> anyhow::Result<()> {
        let entries = std::fs::read_dir(dir).with_context(|| {
            format!(
                "reading the plugins directory {} (build the plugins with `cargo xtask plugins`)",
                dir.display()
            )
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        paths.sort();
        anyhow::ensure!(
            !paths.is_empty(),
            "no plugins in {} (build them with `cargo xtask plugins`)",
            dir.display()
        );
        let installer = Installer {
            source: "builtin",
            by: BUILTIN_ACTIVATOR.to_owned(),
        };
        let mut to_check = Vec::new();
        for path in paths {
            let bytes = Bytes::from(
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
            );
            let sha256 = component_digest(&bytes);
            let known = self.inner.store.by_digest(&sha256).await?;
            let record = match known.into_iter().find(|v| v.source == "builtin") {
                Some(record) => record,
                None => {
                    let record = self
                        .validate_and_record(bytes, None, &installer, &sha256)
                        .await
                        .with_context(|| format!("registering plugin {}", path.display()))?;
                    anyhow::ensure!(
                        record.status == VersionStatus::Ready,
                        "plugin {} is not usable: {}",
                        path.display(),
                        record.status_reason.as_deref().unwrap_or("refused")
                    );
                    to_check.push((record.name.clone(), record.sha256.clone()));
                    record
                }
            };
            self.adopt_builtin(&record.name, &record.version, &record.sha256)
                .await?;
        }
        self.refresh().await?;
        if self.inner.settings.check_builtins && !to_check.is_empty() {
            let registry = self.clone();
            tokio::spawn(async move { registry.check_builtins(to_check).await });
        }
        Ok(())
    }

    /// Activates a built-in build when nothing else should win; a rebuilt
    /// built-in of the same version takes over its predecessor's place.
    async fn adopt_builtin(&self, name: &str, version: &str, sha256: &str) -> anyhow::Result<()> {
        let store = &self.inner.store;
        for older in store.by_version(name, version).await? {
            if older.source == "builtin" && older.sha256 != sha256 {
                store.repoint(name, &older.sha256, sha256).await?;
                store.delete_version(name, &older.sha256).await?;
            }
        }
        if store
            .activate_if_unset(name, GLOBAL_SCOPE, sha256, BUILTIN_ACTIVATOR)
            .await?
        {
            return Ok(());
        }
        let active = store
            .activations()
            .await?
            .into_iter()
            .find(|a| a.name == name && a.scope == GLOBAL_SCOPE);
        if let Some(active) = active
            && active.sha256 != sha256
            && active.activated_by == BUILTIN_ACTIVATOR
        {
            store
                .activate(name, GLOBAL_SCOPE, sha256, BUILTIN_ACTIVATOR)
                .await?;
        }
        Ok(())
    }

    /// Runs the conformance kit on newly registered built-ins, one at a
    /// time, after start-up, and records the reports. A failure is logged
    /// loudly but does not take the format away: it is the only build of
    /// the service's own format.
    async fn check_builtins(&self, versions: Vec<(String, String)>) {
        for (name, sha256) in versions {
            let Some(formatter) = self.loaded(&sha256) else {
                continue;
            };
            let settings = validate::conformance_settings(&self.inner.settings.validation);
            let checked = tokio::task::spawn_blocking(move || {
                exporter_kit::run(&formatter, &settings, |_| {})
            })
            .await;
            let Ok(kit) = checked else { continue };
            let Ok(Some(record)) = self.inner.store.version(&name, &sha256).await else {
                continue;
            };
            let mut report: validate::InstallReport =
                serde_json::from_str(&record.report).unwrap_or_default();
            let failure = kit.cases.iter().find(|c| !c.passed).cloned();
            report.steps.push(validate::Step {
                name: "conformance kit".into(),
                passed: failure.is_none(),
                detail: match &failure {
                    None => format!("{} cases passed", kit.cases.len()),
                    Some(case) => format!("{}: {}", case.name, case.detail),
                },
                millis: kit.cases.iter().map(|c| c.millis).sum(),
            });
            report.conformance = kit.cases;
            match &failure {
                None => tracing::info!(
                    format = name,
                    sha256,
                    "built-in plugin passed the conformance kit"
                ),
                Some(case) => tracing::error!(
                    format = name,
                    sha256,
                    case = case.name,
                    detail = case.detail,
                    "built-in plugin FAILED the conformance kit"
                ),
            }
            if failure.is_some() {
                report.passed = false;
                report.reason = report
                    .steps
                    .last()
                    .map(|s| format!("{}: {}", s.name, s.detail));
            }
            let json = serde_json::to_string(&report).unwrap_or_else(|_| "{}".into());
            if let Err(error) = self.inner.store.set_report(&name, &sha256, &json).await {
                tracing::warn!(format = name, error = %error, "could not record a built-in's conformance report");
            }
        }
    }
}
