//! `exporter plugin run`: rows from a file through a plugin into a file,
//! exactly as an export would run them.

use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use super::{cli_runtime_config, human_bytes, load_plugin, parse_option};
use exporter_runtime::batch::{BatchBuilder, DEFAULT_BATCH_ROWS, time};
use exporter_runtime::{ExportContext, WriteSink};
use exporter_source::rows::{self, InputFormat, schema};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A plugin file (`.wasm`) or a built-in format name (`csv`, `json`, ...).
    plugin: String,
    /// Rows to export: NDJSON (one JSON object per line) or CSV with a header.
    #[arg(long, short)]
    input: PathBuf,
    /// Where to write the file. Written to a temporary file first and renamed
    /// on success, so a failed run leaves no half-written output.
    #[arg(long, short)]
    output: PathBuf,
    /// A format option, `key=value`; repeat for several.
    #[arg(long = "option", short = 'O', value_parser = parse_option)]
    options: Vec<(String, String)>,
    /// Column names and types as a JSON array of {"name", "type"};
    /// inferred from the first rows when absent.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Input format; by default `.csv` files are CSV, anything else NDJSON.
    #[arg(long, value_enum)]
    input_format: Option<InputFormat>,
    /// Rows per batch handed to the plugin.
    #[arg(long, default_value_t = DEFAULT_BATCH_ROWS)]
    batch_size: usize,
    /// Title passed to the plugin (PDF headers use it).
    #[arg(long)]
    title: Option<String>,
    /// The export's timestamp (RFC 3339) the plugin sees as "now"; defaults
    /// to the current time. Pin it for reproducible output.
    #[arg(long, value_parser = parse_instant)]
    generated_at: Option<i64>,
}

fn parse_instant(text: &str) -> Result<i64, String> {
    time::parse_timestamp(text).ok_or_else(|| format!("{text:?} is not an RFC 3339 timestamp"))
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (_engine, formatter) = load_plugin(&args.plugin, cli_runtime_config())?;
    let info = formatter.info();
    info.check_options(&args.options)
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");

    let schema = args
        .schema
        .as_deref()
        .map(schema::read_schema_file)
        .transpose()?;
    let format = args
        .input_format
        .unwrap_or_else(|| InputFormat::from_path(&args.input));
    let mut source = rows::open(&args.input, format, schema)?;
    let columns = source.columns().to_vec();

    let generated_at = match args.generated_at {
        Some(micros) => micros,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0),
    };
    let context = ExportContext {
        title: args.title.clone().unwrap_or_else(|| {
            args.input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        generated_at,
        properties: vec![("input".into(), args.input.display().to_string())],
    };

    let dir = args
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let file = temp.reopen()?;
    let sink = WriteSink(BufWriter::with_capacity(1 << 20, file));

    let started = Instant::now();
    let mut run = formatter.start(&columns, &args.options, &context, Box::new(sink))?;
    let mut builder = BatchBuilder::new(&columns, args.batch_size);
    let mut row = Vec::with_capacity(columns.len());
    while source.next_row(&mut row)? {
        builder.push_row(&row)?;
        if builder.is_full() {
            run.write_batch(&builder.take())?;
        }
    }
    if !builder.is_empty() {
        run.write_batch(&builder.take())?;
    }
    let stats = run.finish()?;
    // The sink (and its buffered writer) was dropped with the run; flush
    // errors would have surfaced as sink errors.
    temp.persist(&args.output)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let elapsed = started.elapsed();
    let rate = stats.rows as f64 / elapsed.as_secs_f64().max(1e-9);
    println!(
        "wrote {} rows, {} in {:.3} s ({:.0} rows/s; plugin {} peak memory {}) to {}",
        stats.rows,
        human_bytes(stats.bytes),
        elapsed.as_secs_f64(),
        rate,
        formatter.id(),
        human_bytes(stats.peak_memory as u64),
        args.output.display()
    );
    // What the plugin changed in the data, as a job would report it.
    let warnings = serde_json::json!({ "warnings": stats.warnings });
    for line in super::client::warning_lines(&warnings) {
        eprintln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
