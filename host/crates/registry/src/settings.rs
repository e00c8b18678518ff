//! The registry's settings: the service's `[registry]` section, its
//! install-time checks in `[registry.validation]`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::validate::ValidationSettings;

/// Registry settings: the service's `[registry]` section, its install-time
/// checks in `[registry.validation]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrySettings {
    /// Where the built-in plugins are (`<format>.wasm`), for
    /// [`crate::PluginRegistry::register_builtins`].
    pub plugins_dir: PathBuf,
    /// The watched directory ([`crate::run_inbox`]): a `.wasm` dropped here is
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

impl RegistrySettings {
    /// What makes no sense: no polling, rolling back before any failure,
    /// a validation with no time.
    pub fn validate(&self) -> Result<(), exporter_settings::Invalid> {
        exporter_settings::first_invalid([
            ("poll_interval", !self.poll_interval.is_zero(), "positive"),
            ("trap_threshold", self.trap_threshold >= 1, "at least 1"),
        ])?;
        self.validation
            .validate()
            .map_err(|e| e.within("validation"))
    }
}
