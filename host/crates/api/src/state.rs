//! What every handler can reach.

use std::ops::Deref;
use std::sync::Arc;

use exporter_auth::TokenKeys;
use exporter_jobs::callbacks::TargetPolicy;
use exporter_jobs::links::JobLinks;
use exporter_jobs::{ExportQueue, JobRepo, RunningJobs};
use exporter_metrics::Metrics;
use exporter_registry::PluginRegistry;
use exporter_registry::formats::FormatRegistry;
use exporter_store::blob::{BlobStore, LinkSigner};
use exporter_store::db::Database;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The settings handlers read (the rest of the configuration belongs to
/// the crates that use it).
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Attempts a new job may take before it is dead-lettered.
    pub max_attempts: u32,
    /// Where callbacks may go.
    pub callback_policy: TargetPolicy,
    /// Row cap of the synchronous `GET /api/dataexport/...`.
    pub sync_export_max_rows: u64,
    /// Running with `--demo`: the console offers the demo accounts.
    pub demo: bool,
    /// Served over https: cookies are `Secure`.
    pub secure_cookies: bool,
    /// Jobs of one organization that run at once (shown on the queue page).
    pub organization_cap: usize,
}

pub struct Shared {
    pub settings: ApiSettings,
    pub db: Database,
    /// The datasets, as every process sees them.
    pub catalog: exporter_source::Catalog,
    /// Where datasets read their rows.
    pub sources: exporter_source::sources::Sources,
    /// The keys of `hash` masks (the synchronous export masks as jobs do).
    pub masks: exporter_source::query::MaskSecret,
    pub repo: JobRepo,
    pub queue: ExportQueue,
    pub blobs: BlobStore,
    pub formats: FormatRegistry,
    pub registry: PluginRegistry,
    pub keys: TokenKeys,
    pub links: LinkSigner,
    /// Mints the links jobs and their parts are shown with.
    pub job_links: JobLinks,
    pub metrics: Metrics,
    pub running: RunningJobs,
    /// Base URL of download links served by this API.
    pub public_url: String,
    /// The identity provider the console signs people in with.
    pub oidc: Option<Arc<exporter_auth::oidc::OidcClient>>,
    /// Job changes, as the event stream sends them.
    pub events: exporter_jobs::events::JobFeed,
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
