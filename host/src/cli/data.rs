//! `exporter migrate`, `exporter demo-data` and `exporter dataset ...`: the
//! database side, without the job service.

use std::io::{BufWriter, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use super::state::ServiceState;
use super::{cli_runtime_config, human_bytes, load_plugin, parse_option};
use exporter_export::Export;
use exporter_runtime::batch::{DEFAULT_BATCH_ROWS, time};
use exporter_runtime::{ExportContext, WriteSink};
use exporter_source::query::select_with_literals;
use exporter_source::{DataType, ExportQuery, demo};
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
    fn state(&self, data_dir: Option<&Path>) -> anyhow::Result<ServiceState> {
        let mut state = ServiceState::locate(None, data_dir)?;
        if let Some(url) = &self.database_url {
            state.config.database.url = url.clone();
        }
        Ok(state)
    }
}

/// Opens the database and migrates it; a SQLite file is created when
/// missing, so the commands that only read check `existing()` first.
async fn open_migrated(state: &ServiceState) -> anyhow::Result<Database> {
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

#[derive(Debug, clap::Subcommand)]
pub enum DatasetCommand {
    /// List the datasets and their columns.
    List,
    /// Export a dataset straight to a file through a plugin (no job queue).
    Export(DatasetExportArgs),
    /// Print the PostgreSQL SELECT an export runs, its parameters written
    /// in (the statement `COPY` streams; for `psql`'s `\copy`, say).
    Sql(DatasetQueryArgs),
}

#[derive(Debug, clap::Args)]
pub struct DatasetExportArgs {
    #[command(flatten)]
    query: DatasetQueryArgs,
    /// A built-in format name or a plugin file.
    #[arg(long)]
    format: String,
    #[arg(long = "option", short = 'O', value_parser = parse_option)]
    options: Vec<(String, String)>,
    #[arg(long, short)]
    out: PathBuf,
}

/// Which rows: the dataset, the tenant, the days, the columns.
#[derive(Debug, clap::Args)]
pub struct DatasetQueryArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[arg(long, value_enum)]
    data_type: DataType,
    /// First day (YYYY-MM-DD, UTC), inclusive.
    #[arg(long, value_parser = parse_day)]
    from: Option<i32>,
    /// Last day (YYYY-MM-DD, UTC), inclusive.
    #[arg(long, value_parser = parse_day)]
    to: Option<i32>,
    /// The organization's slug; all organizations when absent.
    #[arg(long)]
    organization: Option<String>,
    /// A column to export, in order; repeat. All columns when absent.
    #[arg(long = "column")]
    columns: Vec<String>,
}

impl DatasetQueryArgs {
    /// The checked query, with the organization's slug resolved to its id.
    async fn resolve(&self, db: &Database) -> anyhow::Result<ExportQuery> {
        let organization_id = match &self.organization {
            Some(slug) => Some(organization_id(db, slug).await?),
            None => None,
        };
        let query = ExportQuery {
            data_type: self.data_type,
            organization_id,
            user_id: None,
            from: self.from,
            to: self.to,
            columns: self.columns.clone(),
        };
        query.selected()?;
        Ok(query)
    }
}

fn parse_day(text: &str) -> Result<i32, String> {
    time::parse_request_date(text).map_err(|e| match e {
        time::DayError::NotADate => format!("{text:?} is not a date (YYYY-MM-DD)"),
        time::DayError::OutOfRange => format!(
            "{text:?} is outside the supported range {}; pick a day within it",
            time::DAY_RANGE
        ),
    })
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

pub fn dataset(command: DatasetCommand, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    match command {
        DatasetCommand::List => {
            let mut out = std::io::stdout().lock();
            for data_type in DataType::ALL {
                let dataset = data_type.dataset();
                writeln!(
                    out,
                    "{} ({}; date range on {})",
                    data_type.as_str(),
                    dataset.description,
                    dataset.range_column
                )?;
                for column in dataset.columns {
                    writeln!(
                        out,
                        "  {:<18} {:<10} {}",
                        column.name,
                        column.kind.as_str(),
                        column.description
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DatasetCommand::Export(args) => dataset_export(args, data_dir),
        DatasetCommand::Sql(args) => runtime()?.block_on(async {
            let state = args.database.state(data_dir)?.existing()?;
            let db = Database::connect(&state.config.database.url).await?;
            let query = args.resolve(&db).await?;
            println!("{}", select_with_literals(&query)?);
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }),
    }
}

fn dataset_export(args: DatasetExportArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let state = args.query.database.state(data_dir)?.existing()?;
    super::out::check_out(&args.out, super::out::OutKind::File)?;
    let (_engine, formatter) = load_plugin(&args.format, cli_runtime_config())?;
    formatter
        .info()
        .check_options(&args.options)
        .map_err(anyhow::Error::msg)?;
    runtime()?.block_on(async {
        let db = open_migrated(&state).await?;
        let query = args.query.resolve(&db).await?;
        let temp = super::out::temp_file_beside(&args.out)?;
        let sink = WriteSink(BufWriter::with_capacity(1 << 20, temp.reopen()?));
        let context = ExportContext {
            title: format!("{} export", query.data_type.as_str()),
            generated_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0),
            properties: vec![("dataType".into(), query.data_type.as_str().into())],
        };
        let started = Instant::now();
        let stats = Export {
            db: &db,
            query: &query,
            formatter: &formatter,
            options: args.options.clone(),
            context,
            batch_rows: DEFAULT_BATCH_ROWS,
            progress: None,
        }
        .to_sink(Box::new(sink))
        .await?;
        temp.persist(&args.out)
            .with_context(|| format!("writing {}", args.out.display()))?;
        println!(
            "exported {} {} rows, {} in {:.3} s with {} to {}",
            stats.rows,
            query.data_type.as_str(),
            human_bytes(stats.run.bytes),
            started.elapsed().as_secs_f64(),
            formatter.id(),
            args.out.display()
        );
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

async fn organization_id(db: &Database, slug: &str) -> anyhow::Result<String> {
    let id: Option<String> = match db {
        Database::Sqlite(pool) => {
            sqlx::query_scalar("SELECT id FROM organizations WHERE slug = ?")
                .bind(slug)
                .fetch_optional(pool)
                .await?
        }
        Database::Postgres(pool) => {
            sqlx::query_scalar("SELECT id FROM organizations WHERE slug = $1")
                .bind(slug)
                .fetch_optional(pool)
                .await?
        }
    };
    id.with_context(|| format!("no organization {slug:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_outside_what_every_engine_holds_are_refused_with_the_range() {
        assert_eq!(parse_day("2026-01-31"), Ok(20_484));
        for day in ["9999-12-31", "0000-01-01"] {
            let message = parse_day(day).unwrap_err();
            assert!(
                message.contains(day) && message.contains("0001-01-01 to 9998-12-31"),
                "{message}"
            );
            assert!(!message.contains('\n'), "one line: {message}");
        }
        assert!(parse_day("2026-02-30").unwrap_err().contains("not a date"));
    }
}
