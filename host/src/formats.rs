//! The installed formats: every plugin in the plugins directory, loaded
//! and precompiled at start-up, looked up by format name.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;

use crate::plugins::{Formatter, PluginEngine};

/// Names clients may use for another format.
const ALIASES: &[(&str, &str)] = &[("excel", "xlsx")];

/// Other names of `format`.
pub fn aliases_of(format: &str) -> Vec<String> {
    ALIASES
        .iter()
        .filter(|(_, target)| *target == format)
        .map(|(alias, _)| (*alias).to_owned())
        .collect()
}

#[derive(Clone)]
pub struct FormatRegistry {
    formats: Arc<RwLock<BTreeMap<String, Formatter>>>,
}

impl FormatRegistry {
    /// Loads every `*.wasm` in `dir`. A plugin that does not load stops
    /// start-up with its reason: a service that silently lacks a format is
    /// worse than one that does not start.
    pub fn load_dir(engine: &PluginEngine, dir: &Path) -> anyhow::Result<Self> {
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
        let mut formats = BTreeMap::new();
        for path in paths {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let label = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let formatter = engine
                .load(&label, &bytes)
                .with_context(|| format!("loading plugin {}", path.display()))?;
            let name = formatter.info().name.clone();
            if formats.insert(name.clone(), formatter).is_some() {
                anyhow::bail!("two plugins in {} implement format {name:?}", dir.display());
            }
        }
        anyhow::ensure!(
            !formats.is_empty(),
            "no plugins in {} (build them with `cargo xtask plugins`)",
            dir.display()
        );
        Ok(Self {
            formats: Arc::new(RwLock::new(formats)),
        })
    }

    /// The format a client's name means (`excel` is `xlsx`).
    pub fn canonical(name: &str) -> String {
        let lower = name.to_ascii_lowercase();
        ALIASES
            .iter()
            .find(|(alias, _)| *alias == lower)
            .map(|(_, target)| (*target).to_owned())
            .unwrap_or(lower)
    }

    pub fn get(&self, name: &str) -> Option<Formatter> {
        let formats = self.formats.read().unwrap_or_else(|e| e.into_inner());
        formats.get(&Self::canonical(name)).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        let formats = self.formats.read().unwrap_or_else(|e| e.into_inner());
        formats.keys().cloned().collect()
    }

    pub fn all(&self) -> Vec<Formatter> {
        let formats = self.formats.read().unwrap_or_else(|e| e.into_inner());
        formats.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_case_insensitively() {
        assert_eq!(FormatRegistry::canonical("excel"), "xlsx");
        assert_eq!(FormatRegistry::canonical("EXCEL"), "xlsx");
        assert_eq!(FormatRegistry::canonical("CSV"), "csv");
    }
}
