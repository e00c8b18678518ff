//! The service assembled: database, queue, blob store, plugins, API server,
//! worker and retention sweeper, with one shutdown for all.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Secret};
use exporter_api::{ApiSettings, AppState, JobFeed, Shared, router};
use exporter_auth::{TokenKeys, load_or_create_secret};
use exporter_jobs::dispatcher::{Deliveries, run_dispatcher};
use exporter_jobs::links::JobLinks;
use exporter_jobs::runner::RunnerSettings;
use exporter_jobs::sweeper::run_sweeper;
use exporter_jobs::worker::run_worker;
use exporter_jobs::{ExportQueue, JobRepo, JobRunner, RunningJobs};
use exporter_metrics::Metrics;
use exporter_registry::formats::FormatRegistry;
use exporter_registry::{
    PluginRegistry, RegistrySettings, ValidationSettings, run_inbox, run_sync,
};
use exporter_runtime::{PluginEngine, RuntimeConfig};
use exporter_source::Catalog;
use exporter_source::query::MaskSecret;
use exporter_source::sources::Sources;
use exporter_store::blob::{BlobStore, LinkSigner};
use exporter_store::db::Database;

/// Exports the API may stream directly at once, beyond the worker's.
const DIRECT_EXPORTS: u32 = 8;

/// How long shutdown waits for database connections to come back.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A started service.
pub struct RunningService {
    pub local_addr: SocketAddr,
    pub public_url: String,
    pub state: AppState,
    shutdown: CancellationToken,
    /// How long running exports may take to finish once stopping.
    shutdown_timeout: std::time::Duration,
    server: JoinHandle<std::io::Result<()>>,
    worker: Option<JoinHandle<anyhow::Result<()>>>,
    sweeper: JoinHandle<()>,
    /// The registry's sync and inbox, the callback dispatcher.
    background: Vec<JoinHandle<()>>,
}

/// The HS256 secret: configured, or generated once under the data directory.
pub fn service_secret(config: &Config) -> anyhow::Result<Secret> {
    match &config.auth.jwt_secret {
        Some(secret) => Ok(secret.clone()),
        None => load_or_create_secret(&config.data_dir),
    }
}

/// The console's identity provider, if one is configured.
fn open_oidc(
    config: &Config,
    public_url: &str,
) -> anyhow::Result<Option<Arc<exporter_auth::oidc::OidcClient>>> {
    let Some(oidc) = &config.auth.oidc else {
        return Ok(None);
    };
    let settings = exporter_auth::oidc::OidcSettings {
        issuer: oidc.issuer.clone(),
        client_id: oidc.client_id.clone(),
        client_secret: oidc.client_secret.clone(),
        redirect_url: format!("{public_url}/api/session/oidc/callback"),
    };
    Ok(Some(Arc::new(exporter_auth::oidc::OidcClient::new(
        settings,
    )?)))
}

/// Opens the configured database and applies our migrations.
pub async fn open_database(config: &Config) -> anyhow::Result<Database> {
    let db = Database::connect(&config.database.url).await?;
    db.migrate().await?;
    Ok(db)
}

/// How often every process reads the catalog's heads: a dataset installed
/// through one process is used by all within this.
const CATALOG_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// The dataset catalog: the shipped datasets installed where the catalog
/// never held them (or holds an older shipped version), then read.
async fn open_catalog(db: &Database) -> anyhow::Result<Catalog> {
    let store = exporter_source::catalog::CatalogStore::new(db.clone());
    for (name, installed) in store
        .install_defaults()
        .await
        .context("installing the shipped datasets")?
    {
        tracing::info!(dataset = name, ?installed, "shipped dataset installed");
    }
    Catalog::load(db.clone())
        .await
        .context("reading the dataset catalog")
}

/// The configured sources besides the service's own database. One that
/// cannot be reached now is logged, not fatal: its exports fail (and are
/// retried) until it is back.
pub async fn open_sources(config: &Config, db: &Database) -> anyhow::Result<Sources> {
    let (sources, unreachable) = Sources::open(db, &config.sources)
        .await
        .context("opening the configured sources")?;
    let sources = sources
        .with_read_only_default(&config.database.url)
        .context("opening the service's database read-only for exports")?;
    for (name, error) in unreachable {
        tracing::warn!(
            source = name,
            error = format!("{error:#}"),
            "source not reachable now; its exports wait for it"
        );
    }
    Ok(sources)
}

/// Starts everything; returns once the API is listening.
pub async fn start(config: Config) -> anyhow::Result<RunningService> {
    let config = Arc::new(config);
    let db = open_database(&config).await?;
    let (queue, wakeups) = ExportQueue::open(&db).await?;
    let secret = service_secret(&config)?;
    let keys = match &config.auth.jwt_public_key_file {
        Some(path) => TokenKeys::from_public_key_file(path)?,
        None => TokenKeys::from_secret(&secret),
    };
    let links = LinkSigner::new(&secret);
    let masks = MaskSecret::new(secret.expose());
    let blobs = BlobStore::open(&config.blob.url)?;
    let metrics = Metrics::new();
    let registry = open_registry(&config, &db, &blobs, &metrics).await?;
    let formats = registry.formats().clone();
    let catalog = open_catalog(&db).await?;
    let sources = open_sources(&config, &db).await?;
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let local_addr = listener.local_addr()?;
    let public_url = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local_addr}"))
        .trim_end_matches('/')
        .to_owned();
    let repo = JobRepo::new(db.clone());
    let running = RunningJobs::default();
    let job_links = JobLinks {
        blobs: blobs.clone(),
        signer: links.clone(),
        public_url: public_url.clone(),
        ttl: config.links.ttl,
    };
    let state = AppState::new(Shared {
        settings: ApiSettings {
            max_attempts: config.retry.max_attempts,
            callback_policy: config.callback_policy(),
            sync_export_max_rows: config.exports.sync_export_max_rows,
            demo: config.demo,
            secure_cookies: public_url.starts_with("https://"),
            organization_cap: config.worker.organization_concurrency,
        },
        db: db.clone(),
        catalog: catalog.clone(),
        sources: sources.clone(),
        masks: masks.clone(),
        repo: repo.clone(),
        queue: queue.clone(),
        blobs: blobs.clone(),
        formats: formats.clone(),
        registry: registry.clone(),
        keys,
        links,
        job_links: job_links.clone(),
        metrics: metrics.clone(),
        running: running.clone(),
        public_url: public_url.clone(),
        oidc: open_oidc(&config, &public_url)?,
        events: JobFeed::default(),
    });

    let shutdown = CancellationToken::new();
    let mut background_feed = None;
    catalog.spawn_sync(CATALOG_POLL, shutdown.clone());
    let server = {
        let app = match config.serve_api {
            true => {
                background_feed = Some(tokio::spawn(exporter_api::run_job_feed(
                    state.clone(),
                    shutdown.clone(),
                )));
                router(state.clone())
            }
            false => exporter_api::operations_router(state.clone()),
        };
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        })
    };
    let worker = config.worker.enabled.then(|| {
        let runner = Arc::new(JobRunner {
            repo: repo.clone(),
            catalog: catalog.clone(),
            sources: sources.clone(),
            masks,
            queue: queue.clone(),
            blobs: blobs.clone(),
            formats,
            registry: registry.clone(),
            metrics,
            running,
            settings: RunnerSettings {
                retention: config.exports.retention,
                retry: config.retry,
                organization_concurrency: config.worker.organization_concurrency,
                stall_timeout: config.worker.stall_timeout,
                ..RunnerSettings::default()
            },
        });
        let settings = config.worker.clone();
        let stop = shutdown.clone();
        tokio::spawn(run_worker(queue, wakeups, runner, settings, async move {
            stop.cancelled().await
        }))
    });
    let mut background: Vec<JoinHandle<()>> = background_feed.into_iter().collect();
    background.extend([
        tokio::spawn(run_sync(registry.clone(), shutdown.clone())),
        tokio::spawn(run_inbox(
            registry,
            config.plugins_inbox(),
            shutdown.clone(),
        )),
    ]);
    // A callback carries a download link built on `public_url`: a worker
    // left at its default would point it at itself, and workers serve no
    // files. So callbacks go out from API processes, or from any process
    // told where the API is.
    if config.serve_api || config.server.public_url.is_some() {
        let deliveries = Deliveries {
            db: db.clone(),
            repo: repo.clone(),
            links: job_links,
        };
        background.push(tokio::spawn(run_dispatcher(
            deliveries,
            config.callbacks.clone(),
            shutdown.clone(),
        )));
    }
    let sweeper = tokio::spawn(run_sweeper(
        repo,
        blobs.clone(),
        config.exports.sweep_interval,
        shutdown.clone(),
    ));
    tracing::info!(%local_addr, database = %exporter_store::db::redact(&config.database.url), blobs = %blobs.url(),
        worker = config.worker.enabled, "exporter started");
    Ok(RunningService {
        local_addr,
        public_url,
        state,
        shutdown,
        shutdown_timeout: config.worker.shutdown_timeout,
        server,
        worker,
        sweeper,
        background,
    })
}

/// The plugin engine and registry: built-ins registered, the active set
/// loaded (precompiled artifacts are cached under the data directory).
pub async fn open_registry(
    config: &Config,
    db: &Database,
    blobs: &BlobStore,
    metrics: &Metrics,
) -> anyhow::Result<PluginRegistry> {
    let cache_dir = config.data_dir.join("plugin-cache");
    std::fs::create_dir_all(&cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // Artifacts are native code: only this user may plant them.
        std::fs::set_permissions(&cache_dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let runtime = RuntimeConfig {
        cache_dir: Some(cache_dir),
        max_concurrent_exports: config.worker.concurrency as u32 + DIRECT_EXPORTS,
        limits: config.sandbox.clone(),
        ..RuntimeConfig::default()
    };
    let engine = tokio::task::spawn_blocking(move || PluginEngine::new(runtime))
        .await
        .context("starting the plugin engine")??;
    let registry = PluginRegistry::new(
        db.clone(),
        blobs.clone(),
        engine,
        FormatRegistry::default(),
        metrics.clone(),
        registry_settings(config),
    );
    registry
        .register_builtins(&config.registry.plugins_dir)
        .await?;
    Ok(registry)
}

/// The registry's settings from the service's: install-time validation
/// never lets a plugin use more memory than its exports may.
pub fn registry_settings(config: &Config) -> RegistrySettings {
    let registry = &config.registry;
    RegistrySettings {
        validation: ValidationSettings {
            memory_bytes: registry
                .validation
                .memory_bytes
                .min(config.sandbox.memory_bytes),
            ..registry.validation.clone()
        },
        ..registry.clone()
    }
}

impl RunningService {
    /// Stops accepting requests, lets running exports finish (up to the
    /// shutdown timeout) and waits for everything to stop.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let drain_by = tokio::time::Instant::now() + self.shutdown_timeout;
        let timeout = self.shutdown_timeout + std::time::Duration::from_secs(5);
        let server = tokio::time::timeout(timeout, self.server).await;
        if let Some(worker) = self.worker {
            match worker.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), "worker stopped with an error")
                }
                Err(e) => tracing::warn!(error = %e, "worker task failed"),
            }
            // The exports run on their own tasks: whatever way the worker
            // stopped, the ones it started still get the shutdown timeout.
            if !self
                .state
                .running
                .drained(drain_by.saturating_duration_since(tokio::time::Instant::now()))
                .await
            {
                tracing::warn!(
                    running = self.state.running.len(),
                    "exports still running at the shutdown timeout; the queue will run them again"
                );
            }
        }
        let _ = self.sweeper.await;
        for task in self.background {
            let _ = task.await;
        }
        match server {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(e).context("the API server failed"),
            Ok(Err(e)) => anyhow::bail!("the API server task failed: {e}"),
            Err(_) => tracing::warn!("open connections did not close in time"),
        }
        // An export still running past the shutdown timeout holds a
        // connection until the runtime drops it; closing must not wait for
        // it (the queue re-runs that job once its lease expires).
        if tokio::time::timeout(CLOSE_TIMEOUT, self.state.db.close())
            .await
            .is_err()
        {
            tracing::warn!("an export was still running at shutdown; the queue will run it again");
        }
        Ok(())
    }
}
