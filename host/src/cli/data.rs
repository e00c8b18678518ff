//! `exporter migrate` and `exporter demo-data`: the database side, without
//! the job service (the catalog's commands are in `dataset.rs`).

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;

use super::state::ServiceState;
use exporter_source::demo;
use exporter_store::db::Database;

#[derive(Debug, clap::Args)]
pub struct DatabaseArgs {
    /// sqlite://PATH (created if missing) or postgres://USER@HOST/DB;
    /// default: the configured database (EXPORTER_DATABASE_URL, the
    /// configuration file, or sqlite://data/exporter.db).
    #[arg(long)]
    database_url: Option<String>,
}

impl DatabaseArgs {
    /// The service's state (see `state.rs`), `--database-url` over its
    /// database.
    pub(super) fn state(&self, data_dir: Option<&Path>) -> anyhow::Result<ServiceState> {
        let mut state = ServiceState::locate(None, data_dir)?;
        if let Some(url) = &self.database_url {
            state.config.database.url = url.clone();
        }
        Ok(state)
    }
}

/// Opens the database and migrates it; a SQLite file is created when
/// missing, so the commands that only read check `existing()` first.
pub(super) async fn open_migrated(state: &ServiceState) -> anyhow::Result<Database> {
    let db = Database::connect(&state.config.database.url).await?;
    db.migrate().await?;
    Ok(db)
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
pub struct DemoDataArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Sessions to generate (analytics events: twice as many).
    #[arg(long, default_value_t = demo::DEFAULT_ROWS)]
    rows: u64,
    /// On a seeded database: replace the demo's sessions and events with
    /// --rows new ones (organizations, users and jobs stay).
    #[arg(long)]
    reseed: bool,
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn migrate(args: MigrateArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let state = args.database.state(data_dir)?;
    state.announce();
    runtime()?.block_on(async {
        let db = open_migrated(&state).await?;
        // The job queue's tables, from apalis's own migrations.
        exporter_jobs::ExportQueue::open(&db).await?;
        println!(
            "migrated {}",
            exporter_store::db::redact(&state.config.database.url)
        );
        db.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn demo_data(args: DemoDataArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let state = args.database.state(data_dir)?;
    state.announce();
    runtime()?.block_on(async {
        let db = open_migrated(&state).await?;
        let started = Instant::now();
        let mut seeded = match args.reseed {
            true => demo::reseed(&db, args.rows).await?,
            false => demo::seed(&db, args.rows).await?,
        };
        if seeded == demo::Seeded::AlreadyPresent {
            let sessions = count_sessions(&db).await?;
            println!("demo data already present ({sessions} sessions); nothing was added");
            if sessions != args.rows {
                println!(
                    "to have {} sessions instead, run `exporter demo-data --rows {} --reseed` (replaces the demo's sessions and events; organizations, users and jobs stay)",
                    args.rows, args.rows
                );
                if std::io::stdin().is_terminal() && ask("Reseed now? [y/N] ")? {
                    seeded = demo::reseed(&db, args.rows).await?;
                }
            }
        }
        if let demo::Seeded::Inserted { users, sessions, events } = seeded {
            println!(
                "seeded {} organizations, {users} users, {sessions} sessions, {events} analytics events in {:.1} s",
                demo::ORGANIZATIONS.len(),
                started.elapsed().as_secs_f64()
            );
        }
        db.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Asks a yes/no question on the terminal; no is the default.
fn ask(question: &str) -> anyhow::Result<bool> {
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// The demo's sessions, for the "already seeded" message.
async fn count_sessions(db: &Database) -> anyhow::Result<u64> {
    let count: Option<(i64,)> =
        exporter_store::db::fetch_optional(db, "SELECT COUNT(*) FROM sessions", &[]).await?;
    Ok(count.map_or(0, |(n,)| n.max(0) as u64))
}
