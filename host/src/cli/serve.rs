//! `exporter serve`: the API and an in-process worker on the configured
//! (by default embedded) database and blob store; `exporter api` and
//! `exporter worker`: one of the two, for running many of each.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::data::runtime;
use super::state::ServiceState;
use crate::config::{Config, parse_listen};
use crate::service::{open_database, service_secret, start};
use exporter_auth::{Caller, Role, TokenKeys};
use exporter_source::demo;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080; also `[server] listen`,
    /// EXPORTER_SERVER__LISTEN or EXPORTER_LISTEN). `exporter worker`
    /// serves only health and metrics, by default on a free port it
    /// prints, so several start side by side on one host.
    #[arg(long, value_parser = parse_listen)]
    listen: Option<SocketAddr>,
    /// A TOML configuration file (also EXPORTER_CONFIG).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed the demo organizations and data (idempotent) and print a
    /// ready-to-paste request.
    #[arg(long)]
    demo: bool,
    /// Demo sessions to generate with --demo.
    #[arg(long, default_value_t = demo::DEFAULT_ROWS)]
    demo_rows: u64,
}

/// Which parts of the service a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessRole {
    All,
    Api,
    Worker,
}

pub fn run(
    args: ServeArgs,
    role: ProcessRole,
    data_dir: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let state = ServiceState::locate(args.config.as_deref(), data_dir)?;
    state.announce();
    let listen_configured = state.listen_configured;
    let mut config = state.config;
    match role {
        ProcessRole::All => {}
        ProcessRole::Api => config.worker.enabled = false,
        ProcessRole::Worker => {
            config.worker.enabled = true;
            config.serve_api = false;
            // The API's default port is the API's: a worker left at it
            // would clash with `exporter serve` and with a second worker.
            if !listen_configured {
                config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
            }
        }
    }
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    config.demo = args.demo;
    runtime()?.block_on(async move {
        // Installed before anything starts, so a SIGTERM that arrives while
        // the service is starting still stops it cleanly.
        let stop = shutdown_signal()?;
        if args.demo {
            let db = open_database(&config).await?;
            let seeded = demo::seed(&db, args.demo_rows).await?;
            db.close().await;
            match seeded {
                demo::Seeded::Inserted { users, sessions, events } => println!(
                    "Seeded the demo: organizations acme and globex, {users} users, {sessions} sessions, {events} analytics events."
                ),
                demo::Seeded::AlreadyPresent => println!("The demo data is already there."),
            }
        }
        let service = start(config.clone()).await?;
        match role {
            ProcessRole::Worker => {
                // A worker serves no API: its address is for probes.
                let addr = service.local_addr;
                println!("Exporter is listening on http://{addr}");
                println!("  an export worker: health at /healthz and /readyz, metrics at /metrics (no API)");
            }
            _ => {
                println!("Exporter is listening on {}", service.public_url);
                println!("  API docs:  {}/api/docs", service.public_url);
            }
        }
        if args.demo {
            print_demo_requests(&config, &service.public_url).await?;
        }
        println!("Press Ctrl-C to stop.");
        stop.await;
        println!("Shutting down: letting running exports finish...");
        service.shutdown().await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// A token for the demo's Admin and the requests to paste.
async fn print_demo_requests(config: &Config, url: &str) -> anyhow::Result<()> {
    let db = open_database(config).await?;
    let caller = exporter_auth::find_user(&db, "admin@acme.test").await?;
    db.close().await;
    let keys = TokenKeys::from_secret(&service_secret(config)?);
    let token = keys.issue(
        &Caller {
            role: Role::Admin,
            ..caller
        },
        Some("admin@acme.test"),
        Duration::from_secs(24 * 3600),
    )?;
    println!();
    println!("A token for admin@acme.test (valid 24 h):");
    println!("  export TOKEN={token}");
    println!("Create an export job:");
    println!(
        "  curl -s -X POST {url}/api/export-jobs -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n    -d '{{\"dataType\":\"sessions\",\"format\":\"csv\",\"dateRange\":{{\"from\":\"2026-01-01\",\"to\":\"2026-01-31\"}}}}'"
    );
    println!("Or let the client do it all (create, follow, download, verify):");
    println!(
        "  EXPORTER_URL={url} EXPORTER_TOKEN=$TOKEN exporter export --data-type sessions --format csv --from 2026-01-01 --to 2026-01-31 --out sessions.csv"
    );
    println!();
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; the handlers are installed when this is
/// called, not when it is first awaited.
#[cfg(unix)]
pub(crate) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
pub(crate) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
