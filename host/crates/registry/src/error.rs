//! Why a registry operation did not happen.

use crate::views::Installed;

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
