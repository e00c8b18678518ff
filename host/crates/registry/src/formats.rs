//! The formats in use, looked up by name (and organization, for canaries).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use exporter_runtime::Formatter;

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

/// The formatter versions in use: one per format for everyone, and canary
/// versions for single organizations. The plugin registry
/// ([`crate`]) replaces the whole set atomically when an operator
/// activates a version; an export holds the [`Formatter`] it started with,
/// so replacing the set never disturbs one in flight.
#[derive(Clone, Default)]
pub struct FormatRegistry {
    active: Arc<RwLock<Arc<ActiveSet>>>,
}

/// One consistent view of what is active.
#[derive(Clone, Default)]
pub struct ActiveSet {
    /// Format name to the version everyone gets.
    pub global: BTreeMap<String, Formatter>,
    /// (organization id, format name) to that organization's canary version.
    pub canary: BTreeMap<(String, String), Formatter>,
}

impl FormatRegistry {
    /// A registry serving exactly `formatters` (tests, the CLI).
    pub fn with_formatters(formatters: impl IntoIterator<Item = Formatter>) -> Self {
        let registry = Self::default();
        registry.replace(ActiveSet {
            global: formatters
                .into_iter()
                .map(|f| (f.info().name.clone(), f))
                .collect(),
            canary: BTreeMap::new(),
        });
        registry
    }

    /// Swaps in a new set; readers see the old one or the new one, whole.
    pub fn replace(&self, set: ActiveSet) {
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
    }

    pub(crate) fn snapshot(&self) -> Arc<ActiveSet> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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

    /// The version everyone gets.
    pub fn get(&self, name: &str) -> Option<Formatter> {
        self.snapshot().global.get(&Self::canonical(name)).cloned()
    }

    /// The version `organization_id` gets: its canary, else everyone's.
    pub fn get_for(&self, organization_id: &str, name: &str) -> Option<Formatter> {
        let name = Self::canonical(name);
        let set = self.snapshot();
        set.canary
            .get(&(organization_id.to_owned(), name.clone()))
            .or_else(|| set.global.get(&name))
            .cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.snapshot().global.keys().cloned().collect()
    }

    /// Everyone's versions, by format name.
    pub fn all(&self) -> Vec<Formatter> {
        self.snapshot().global.values().cloned().collect()
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
