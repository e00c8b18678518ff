//! Why an export failed, and whether running it again could help.

use exporter_runtime::PluginError;
use exporter_source::{QueryError, SourceError};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Source(SourceError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("the export task failed: {0}")]
    Internal(String),
    /// A finished part could not be stored or recorded.
    #[error("publishing a part failed: {0:#}")]
    Publish(anyhow::Error),
    #[error("the export needs more than {0} parts; raise partMaxRows or partMaxBytes")]
    TooManyParts(u32),
}

impl ExportError {
    /// Whether running the export again could succeed (a database or
    /// storage hiccup), as opposed to a bad request or a plugin's refusal.
    pub fn is_transient(&self) -> bool {
        match self {
            ExportError::Query(_) => false,
            ExportError::Source(error) => error.is_transient(),
            ExportError::Plugin(error) => error.is_transient(),
            ExportError::Internal(_) => true,
            ExportError::Publish(_) => true,
            ExportError::TooManyParts(_) => false,
        }
    }
}

impl From<SourceError> for ExportError {
    /// A query the source refused is the request's fault; anything else
    /// the source says is the database's.
    fn from(error: SourceError) -> Self {
        match error {
            SourceError::Query(query) => ExportError::Query(query),
            source => ExportError::Source(source),
        }
    }
}
