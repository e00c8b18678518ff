//! `exporter dataset ...`: the dataset catalog in the service's database,
//! for operators: list and show entries, apply a catalog file (validated,
//! checked against the source, shown as a diff, then installed as new
//! versions), remove one, check them, and export or print one's SQL
//! without the job service.

use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use super::data::{DatabaseArgs, open_migrated, runtime};
use super::state::ServiceState;
use super::{cli_runtime_config, human_bytes, load_plugin, parse_option};
use exporter_export::{Export, Headings};
use exporter_runtime::batch::{DEFAULT_BATCH_ROWS, time};
use exporter_runtime::{ExportContext, WriteSink};
use exporter_source::catalog::Role;
use exporter_source::catalog::draft::{DraftRequest, draft};
use exporter_source::catalog::store::{Installed, ORIGIN_OPERATOR};
use exporter_source::catalog::{self, CatalogStore, DEFAULT_SOURCE};
use exporter_source::check::check;
use exporter_source::query::{Access, MaskSecret, select_with_literals};
use exporter_source::sources::{SourcePool, Sources, introspect};
use exporter_source::{Catalog, Dataset, ExportQuery};
use exporter_store::db::Database;

#[derive(Debug, clap::Subcommand)]
pub enum DatasetCommand {
    /// List the catalog's datasets and their columns.
    List(ListArgs),
    /// Print a dataset's catalog entry (TOML), as `apply` takes it.
    Show(ShowArgs),
    /// Draft a catalog entry from a table's own catalog: its columns and
    /// their types, printed to review (then `dataset apply` it).
    Add(AddArgs),
    /// Install the datasets of a catalog file: each is validated and run
    /// against its source, the changes are shown, then each changed one
    /// becomes a new version.
    Apply(ApplyArgs),
    /// Remove a dataset: new jobs can no longer ask for it.
    Remove(ShowArgs),
    /// Run datasets against their sources: the SQL with every filter, and
    /// a sample of rows decoded to the declared types.
    Check(CheckArgs),
    /// Export a dataset straight to a file through a plugin (no job queue).
    Export(DatasetExportArgs),
    /// Print the PostgreSQL SELECT an export runs, its parameters written
    /// in (the statement `COPY` streams; for `psql`'s `\copy`, say).
    Sql(DatasetQueryArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The dataset's name.
    name: String,
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The new dataset's name.
    name: String,
    /// A configured source (`[sources.NAME]`), or `default`.
    #[arg(long, default_value = DEFAULT_SOURCE)]
    source: String,
    /// The table or view: `orders`, `public.orders`.
    #[arg(long)]
    table: String,
    /// The column holding the organization id.
    #[arg(long)]
    tenant_column: String,
    /// The date or timestamp column a date range filters on.
    #[arg(long)]
    range_column: Option<String>,
    /// The column(s) identifying a row; repeat, or separate with commas.
    #[arg(long, required = true, value_delimiter = ',')]
    key: Vec<String>,
    /// The column a `userId` filter applies to.
    #[arg(long)]
    user_column: Option<String>,
    /// What a row is, in a sentence (default: "Rows of TABLE").
    #[arg(long)]
    description: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// A catalog file: `[datasets.NAME]` tables (see datasets/default.toml).
    file: PathBuf,
    /// Validate, check and show the changes; install nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// One dataset; every one when absent.
    name: Option<String>,
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
    /// The dataset (`exporter dataset list` names them).
    #[arg(long, visible_alias = "dataset")]
    data_type: String,
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
    /// The operator at the command line reads as a SuperAdmin: columns
    /// masked for every role are masked here too, with the service's keys.
    async fn resolve(
        &self,
        state: &ServiceState,
        db: &Database,
        catalog: &Catalog,
    ) -> anyhow::Result<ExportQuery> {
        let organization_id = match &self.organization {
            Some(slug) => Some(organization_id(db, slug).await?),
            None => None,
        };
        let dataset = catalog.get(&self.data_type).with_context(|| {
            format!(
                "no dataset {:?} in the catalog; it has: {} (exporter dataset list)",
                self.data_type,
                names(catalog)
            )
        })?;
        let masks = MaskSecret::new(crate::service::service_secret(&state.config)?.expose());
        let access = Access {
            role: Role::SuperAdmin,
            key: masks.key_for(organization_id.as_deref()),
        };
        let query = ExportQuery {
            dataset,
            organization_id,
            user_id: None,
            from: self.from,
            to: self.to,
            columns: self.columns.clone(),
            filters: Default::default(),
            access,
        };
        query.selected()?;
        Ok(query)
    }
}

fn names(catalog: &Catalog) -> String {
    catalog
        .list()
        .iter()
        .map(|d| d.name.clone())
        .collect::<Vec<_>>()
        .join(", ")
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

/// The catalog of an existing data directory: its database migrated (a
/// newer binary's tables) and the shipped datasets installed, as `serve`
/// would at start-up; and the sources its configuration names.
async fn open_catalog(state: &ServiceState) -> anyhow::Result<(Database, Catalog, Sources)> {
    let db = open_migrated(state).await?;
    CatalogStore::new(db.clone())
        .install_defaults()
        .await
        .context("installing the shipped datasets")?;
    let catalog = Catalog::load(db.clone())
        .await
        .context("reading the dataset catalog")?;
    let (sources, unreachable) = Sources::open(&db, &state.config.sources)
        .await
        .context("opening the configured sources")?;
    let sources = sources
        .with_read_only_default(&state.config.database.url)
        .context("opening the service's database read-only for exports")?;
    for (name, error) in unreachable {
        eprintln!("warning: source {name} is not reachable now: {error:#}");
    }
    Ok((db, catalog, sources))
}

pub fn run(command: DatasetCommand, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    match command {
        DatasetCommand::List(args) => runtime()?.block_on(async {
            let state = args.database.state(data_dir)?.existing()?;
            let (db, catalog, sources) = open_catalog(&state).await?;
            print!("{}", list(&catalog.list()));
            sources.close().await;
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }),
        DatasetCommand::Show(args) => runtime()?.block_on(async {
            let state = args.database.state(data_dir)?.existing()?;
            let (db, catalog, sources) = open_catalog(&state).await?;
            let dataset = catalog.get(&args.name).with_context(|| {
                format!(
                    "no dataset {:?}; the catalog has: {}",
                    args.name,
                    names(&catalog)
                )
            })?;
            println!("# version {}", dataset.version);
            print!("{}", catalog::render(&dataset));
            sources.close().await;
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }),
        DatasetCommand::Add(args) => add(args, data_dir),
        DatasetCommand::Apply(args) => apply(args, data_dir),
        DatasetCommand::Remove(args) => runtime()?.block_on(async {
            let state = args.database.state(data_dir)?.existing()?;
            let (db, catalog, sources) = open_catalog(&state).await?;
            let store = catalog.store();
            if !store.remove(&args.name, &whoami()).await? {
                anyhow::bail!(
                    "no dataset {:?}; the catalog has: {}",
                    args.name,
                    names(&catalog)
                );
            }
            println!(
                "removed {}: new jobs can no longer ask for it; jobs already created on it finish",
                args.name
            );
            sources.close().await;
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }),
        DatasetCommand::Check(args) => runtime()?.block_on(async {
            let state = args.database.state(data_dir)?.existing()?;
            let (db, catalog, sources) = open_catalog(&state).await?;
            let datasets = match &args.name {
                Some(name) => vec![catalog.get(name).with_context(|| {
                    format!("no dataset {name:?}; the catalog has: {}", names(&catalog))
                })?],
                None => catalog.list(),
            };
            let mut failed = 0;
            for dataset in &datasets {
                match check_one(dataset, &sources).await {
                    Ok(report) => {
                        println!(
                            "ok      {} (version {}): {} sample rows decoded",
                            dataset.name, dataset.version, report.sampled_rows
                        );
                        for warning in report.warnings {
                            println!("        warning: {warning}");
                        }
                    }
                    Err(error) => {
                        failed += 1;
                        println!("FAILED  {error:#}");
                    }
                }
            }
            sources.close().await;
            db.close().await;
            Ok(match failed {
                0 => ExitCode::SUCCESS,
                _ => ExitCode::FAILURE,
            })
        }),
        DatasetCommand::Export(args) => export(args, data_dir),
        DatasetCommand::Sql(args) => runtime()?.block_on(async {
            let state = args.database.state(data_dir)?.existing()?;
            let (db, catalog, sources) = open_catalog(&state).await?;
            let query = args.resolve(&state, &db, &catalog).await?;
            let engine = sources.get(&query.dataset.source).map(|s| s.engine());
            if engine != Some(exporter_source::sources::SourceEngine::Postgres) {
                anyhow::bail!(
                    "dataset {:?} reads source {:?}, which is not PostgreSQL: `dataset sql` prints the SELECT that PostgreSQL's COPY runs",
                    query.dataset.name,
                    query.dataset.source
                );
            }
            println!("{}", select_with_literals(&query)?);
            sources.close().await;
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// The datasets and their columns, as `dataset list` prints them.
fn list(datasets: &[Arc<Dataset>]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for dataset in datasets {
        let range = dataset
            .range_column
            .as_deref()
            .map(|c| format!("date range on {c}"))
            .unwrap_or_else(|| "no date range".to_owned());
        let _ = writeln!(
            out,
            "{} v{} ({}; {range}; source {})",
            dataset.name, dataset.version, dataset.description, dataset.source
        );
        for column in &dataset.columns {
            let _ = writeln!(
                out,
                "  {:<18} {:<10} {}",
                column.name,
                column.kind.as_str(),
                column.description
            );
        }
    }
    out
}

/// A dataset checked against its source.
async fn check_one(
    dataset: &Arc<Dataset>,
    sources: &Sources,
) -> anyhow::Result<exporter_source::check::CheckReport> {
    let Some(source) = sources.get(&dataset.source) else {
        anyhow::bail!(
            "dataset {:?}: source {:?} is not configured; add [sources.{}] to the configuration, or use \"{DEFAULT_SOURCE}\" (the service's database)",
            dataset.name,
            dataset.source,
            dataset.source
        );
    };
    Ok(check(dataset, &source).await?)
}

fn add(args: AddArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let state = args.database.state(data_dir)?.existing()?;
    runtime()?.block_on(async {
        let (db, _, sources) = open_catalog(&state).await?;
        let source = sources.get(&args.source).with_context(|| {
            format!(
                "no source {:?}: add [sources.{}] to the configuration (it has: {})",
                args.source,
                args.source,
                sources.names().collect::<Vec<_>>().join(", ")
            )
        })?;
        let found = introspect(&source, &args.table).await?;
        let request = DraftRequest {
            name: args.name.clone(),
            source: args.source.clone(),
            table: args.table.clone(),
            tenant_column: args.tenant_column.clone(),
            range_column: args.range_column.clone(),
            key: args.key.clone(),
            user_column: args.user_column.clone(),
            description: args.description.clone(),
        };
        let drafted = draft(&request, &found, source.engine())?;
        println!(
            "# {} columns of {} on {} ({}); review, then `exporter dataset apply` this file",
            drafted.dataset.columns.len(),
            args.table,
            args.source,
            source.engine()
        );
        for note in &drafted.notes {
            println!("# note: {note}");
            eprintln!("note: {note}");
        }
        print!("{}", catalog::render(&drafted.dataset));
        db.close().await;
        sources.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

fn apply(args: ApplyArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let datasets = catalog::parse(&text)
        .with_context(|| format!("{} is not a valid catalog file", args.file.display()))?;
    if datasets.is_empty() {
        anyhow::bail!(
            "{} declares no dataset: add a [datasets.NAME] table (see datasets/default.toml)",
            args.file.display()
        );
    }
    let state = args.database.state(data_dir)?.existing()?;
    runtime()?.block_on(async {
        let (db, catalog, sources) = open_catalog(&state).await?;
        // Everything is checked before anything is installed: a file
        // applies whole or not at all.
        let mut checked = Vec::new();
        for dataset in datasets {
            let dataset = Arc::new(dataset);
            let report = check_one(&dataset, &sources).await?;
            checked.push((dataset, report));
        }
        let mut changes = 0;
        for (dataset, report) in &checked {
            let current = catalog.get(&dataset.name);
            let before = current.as_deref().map(catalog::render).unwrap_or_default();
            let after = catalog::render(dataset);
            match &current {
                None => println!("+ {} (new)", dataset.name),
                Some(current) if before == after => {
                    println!("= {} (unchanged, version {})", dataset.name, current.version);
                    continue;
                }
                Some(current) => println!("~ {} (version {} changes)", dataset.name, current.version),
            }
            changes += 1;
            print!("{}", diff(&before, &after));
            for warning in &report.warnings {
                println!("  warning: {warning}");
            }
        }
        if args.dry_run || changes == 0 {
            println!(
                "{}",
                match (args.dry_run, changes) {
                    (_, 0) => "nothing to install".to_owned(),
                    _ => format!("dry run: {changes} dataset(s) would change; nothing installed"),
                }
            );
            db.close().await;
            return Ok(ExitCode::SUCCESS);
        }
        let store = catalog.store();
        let by = whoami();
        for (dataset, _) in &checked {
            if let Installed::New { version, .. } =
                store.install(dataset, ORIGIN_OPERATOR, &by).await?
            {
                println!("installed {} version {version}", dataset.name);
            }
        }
        println!("every running service uses the new versions within a second; running exports finish on theirs");
        db.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// A unified diff of two catalog entries, `-`/`+` per line.
fn diff(before: &str, after: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for change in similar::TextDiff::from_lines(before, after).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => "-",
            similar::ChangeTag::Insert => "+",
            similar::ChangeTag::Equal => " ",
        };
        let _ = write!(out, "  {sign} {change}");
        if change.missing_newline() {
            out.push('\n');
        }
    }
    out
}

/// Who runs the command, as recorded with the versions it installs.
fn whoami() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{user}")
}

fn export(args: DatasetExportArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let state = args.query.database.state(data_dir)?.existing()?;
    super::out::check_out(&args.out, super::out::OutKind::File)?;
    let (_engine, formatter) = load_plugin(&args.format, cli_runtime_config())?;
    formatter
        .info()
        .check_options(&args.options)
        .map_err(anyhow::Error::msg)?;
    runtime()?.block_on(async {
        let (db, catalog, sources) = open_catalog(&state).await?;
        let query = args.query.resolve(&state, &db, &catalog).await?;
        let name = query.dataset.name.clone();
        let temp = super::out::temp_file_beside(&args.out)?;
        let sink = WriteSink(BufWriter::with_capacity(1 << 20, temp.reopen()?));
        let context = ExportContext {
            title: format!("{name} export"),
            generated_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0),
            properties: vec![("dataType".into(), name.clone())],
        };
        let started = Instant::now();
        let source = sources.get(&query.dataset.source).with_context(|| {
            format!(
                "dataset {name:?} reads source {:?}, which the configuration does not name; add [sources.{}]",
                query.dataset.source, query.dataset.source
            )
        })?;
        let stats = Export {
            source: SourcePool::from(&*source),
            query: &query,
            formatter: &formatter,
            options: args.options.clone(),
            headings: Headings::for_export(formatter.info(), &args.options),
            context,
            batch_rows: DEFAULT_BATCH_ROWS,
            progress: None,
        }
        .to_sink(Box::new(sink))
        .await?;
        temp.persist(&args.out)
            .with_context(|| format!("writing {}", args.out.display()))?;
        println!(
            "exported {} {name} rows, {} in {:.3} s with {} to {}",
            stats.rows,
            human_bytes(stats.run.bytes),
            started.elapsed().as_secs_f64(),
            formatter.id(),
            args.out.display()
        );
        std::io::stdout().flush()?;
        db.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

async fn organization_id(db: &Database, slug: &str) -> anyhow::Result<String> {
    let id: Option<(String,)> = exporter_store::db::fetch_optional(
        db,
        "SELECT id FROM organizations WHERE slug = ?",
        &[slug.into()],
    )
    .await?;
    id.map(|(id,)| id)
        .with_context(|| format!("no organization {slug:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_outside_what_every_engine_holds_are_refused_with_the_range() {
        assert_eq!(parse_day("2026-01-31"), Ok(20_484));
        for day in ["9999-12-31", "0000-01-01"] {
            let message = parse_day(day).unwrap_err();
            assert!(message.contains("supported range"), "{message}");
        }
    }

    #[test]
    fn a_diff_marks_what_changes() {
        let text = diff("a\nb\n", "a\nc\n");
        assert_eq!(text, "    a\n  - b\n  + c\n");
    }

    #[test]
    fn the_shipped_catalog_lists_every_column() {
        let datasets: Vec<Arc<Dataset>> = catalog::seed::default_datasets()
            .into_iter()
            .map(Arc::new)
            .collect();
        let text = list(&datasets);
        assert!(text.contains("sessions v0 (User sessions"), "{text}");
        assert!(text.contains("  session_date       date"), "{text}");
    }
}
