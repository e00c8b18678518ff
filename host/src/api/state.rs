//! What every handler can reach.

use std::ops::Deref;
use std::sync::Arc;

use crate::auth::TokenKeys;
use crate::blob::{BlobStore, LinkSigner};
use crate::config::Config;
use crate::db::Database;
use crate::formats::FormatRegistry;
use crate::jobs::{ExportQueue, JobRepo, RunningJobs};
use crate::metrics::Metrics;
use crate::registry::PluginRegistry;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: Arc<Config>,
    pub db: Database,
    pub repo: JobRepo,
    pub queue: ExportQueue,
    pub blobs: BlobStore,
    pub formats: FormatRegistry,
    pub registry: PluginRegistry,
    pub keys: TokenKeys,
    pub links: LinkSigner,
    pub metrics: Metrics,
    pub running: RunningJobs,
    /// Base URL of download links served by this API.
    pub public_url: String,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
