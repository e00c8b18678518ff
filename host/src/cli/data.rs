//! `exporter migrate`, `exporter demo-data` and `exporter dataset ...`: the
//! database side, without the job service.

use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use super::{cli_runtime_config, human_bytes, load_plugin, parse_option};
use crate::batch::{DEFAULT_BATCH_ROWS, time};
use crate::db::Database;
use crate::pipeline::run_export;
use crate::plugins::{ExportContext, WriteSink};
use crate::source::{DataType, ExportQuery, demo};

#[derive(Debug, clap::Args)]
pub struct DatabaseArgs {
    /// sqlite://PATH (created if missing) or postgres://USER@HOST/DB;
    /// default: the configured database (EXPORTER_DATABASE_URL, the
    /// configuration file, or sqlite://data/exporter.db).
    #[arg(long)]
    database_url: Option<String>,
}

impl DatabaseArgs {
    /// The URL: the flag, else the service configuration's.
    fn url(&self) -> anyhow::Result<String> {
        match &self.database_url {
            Some(url) => Ok(url.clone()),
            None => Ok(crate::config::Config::load(None)?.database_url),
        }
    }

    async fn open(&self) -> anyhow::Result<Database> {
        let db = Database::connect(&self.url()?).await?;
        db.migrate().await?;
        Ok(db)
    }
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
}

#[derive(Debug, clap::Subcommand)]
pub enum DatasetCommand {
    /// List the datasets and their columns.
    List,
    /// Export a dataset straight to a file through a plugin (no job queue).
    Export(DatasetExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct DatasetExportArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[arg(long, value_enum)]
    data_type: DataType,
    /// A built-in format name or a plugin file.
    #[arg(long)]
    format: String,
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
    #[arg(long = "option", short = 'O', value_parser = parse_option)]
    options: Vec<(String, String)>,
    #[arg(long, short)]
    out: PathBuf,
}

fn parse_day(text: &str) -> Result<i32, String> {
    time::parse_date(text).ok_or_else(|| format!("{text:?} is not a date (YYYY-MM-DD)"))
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let db = args.database.open().await?;
        // The job queue's tables, from apalis's own migrations.
        crate::jobs::ExportQueue::open(&db).await?;
        println!("migrated {}", crate::db::redact(&args.database.url()?));
        db.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn demo_data(args: DemoDataArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let db = args.database.open().await?;
        let started = Instant::now();
        match demo::seed(&db, args.rows).await? {
            demo::Seeded::Inserted { users, sessions, events } => println!(
                "seeded {} organizations, {users} users, {sessions} sessions, {events} analytics events in {:.1} s",
                demo::ORGANIZATIONS.len(),
                started.elapsed().as_secs_f64()
            ),
            demo::Seeded::AlreadyPresent => println!("demo data already present; nothing to do"),
        }
        db.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn dataset(command: DatasetCommand) -> anyhow::Result<ExitCode> {
    match command {
        DatasetCommand::List => {
            let mut out = std::io::stdout().lock();
            for data_type in [
                DataType::Sessions,
                DataType::Users,
                DataType::Analytics,
                DataType::Dashboard,
            ] {
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
                        crate::rows::schema::type_name(column.kind),
                        column.description
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DatasetCommand::Export(args) => dataset_export(args),
    }
}

fn dataset_export(args: DatasetExportArgs) -> anyhow::Result<ExitCode> {
    let (_engine, formatter) = load_plugin(&args.format, cli_runtime_config())?;
    formatter
        .info()
        .check_options(&args.options)
        .map_err(anyhow::Error::msg)?;
    runtime()?.block_on(async {
        let db = args.database.open().await?;
        let organization_id = match &args.organization {
            Some(slug) => Some(organization_id(&db, slug).await?),
            None => None,
        };
        let query = ExportQuery {
            data_type: args.data_type,
            organization_id,
            user_id: None,
            from: args.from,
            to: args.to,
            columns: args.columns.clone(),
        };
        query.selected()?;
        let dir = args
            .out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let temp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        let sink = WriteSink(BufWriter::with_capacity(1 << 20, temp.reopen()?));
        let context = ExportContext {
            title: format!("{} export", args.data_type.as_str()),
            generated_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0),
            properties: vec![("dataType".into(), args.data_type.as_str().into())],
        };
        let started = Instant::now();
        let stats = run_export(
            &db,
            &query,
            &formatter,
            args.options.clone(),
            context,
            Box::new(sink),
            DEFAULT_BATCH_ROWS,
            None,
        )
        .await?;
        temp.persist(&args.out)
            .with_context(|| format!("writing {}", args.out.display()))?;
        println!(
            "exported {} {} rows, {} in {:.3} s with {} to {}",
            stats.rows,
            args.data_type.as_str(),
            human_bytes(stats.run.bytes),
            started.elapsed().as_secs_f64(),
            formatter.id(),
            args.out.display()
        );
        db.close().await;
        Ok(ExitCode::SUCCESS)
    })
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
