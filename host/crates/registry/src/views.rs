//! What callers of the registry hand it (who installs, which version) and
//! what they get back (an install's outcome, a version as listed).

use serde::Serialize;

use crate::store::VersionRecord;
use crate::validate::InstallReport;

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
