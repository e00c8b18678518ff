//! What the benchmarks share: the source rows (1M x 8 mixed columns), how
//! they become batches, an export through a plugin, and timing helpers.

#![allow(dead_code)] // each bench uses a different part

use std::time::{Duration, Instant};

use exporter::batch::BatchBuilder;
use exporter::plugins::{
    ChunkSink, Column, ColumnType, ExportContext, Formatter, PluginEngine, PluginError, RunStats,
};

/// One source row: what a database cursor would hand us.
pub struct Row {
    pub id: i64,
    pub user: String,
    pub amount: f64,
    pub active: bool,
    pub created_at: i64,
    pub day: i32,
    pub price: String,
    pub note: Option<String>,
}

pub fn columns() -> Vec<Column> {
    [
        ("id", ColumnType::Int64),
        ("user", ColumnType::Text),
        ("amount", ColumnType::Float64),
        ("active", ColumnType::Boolean),
        ("created_at", ColumnType::Timestamp),
        ("day", ColumnType::Date),
        ("price", ColumnType::Decimal),
        ("note", ColumnType::Text),
    ]
    .into_iter()
    .map(|(name, kind)| Column {
        name: name.into(),
        kind,
    })
    .collect()
}

pub fn source(rows: usize) -> Vec<Row> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..rows)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let r = state;
            Row {
                id: i as i64,
                user: format!("user{}@example.com", r % 100_000),
                amount: (r >> 11) as f64 / (1u64 << 53) as f64 * 10_000.0,
                active: r & 1 == 1,
                created_at: 1_767_225_600_000_000 + (r % 31_536_000_000_000) as i64,
                day: 20_454 + (r % 365) as i32,
                price: format!("{}.{:02}", r % 10_000, (r >> 7) % 100),
                note: (!r.is_multiple_of(7)).then(|| format!("note, \"quoted\" {}", r % 1000)),
            }
        })
        .collect()
}

pub fn context() -> ExportContext {
    ExportContext {
        title: "bench".into(),
        generated_at: 1_767_225_600_000_000,
        properties: vec![],
    }
}

pub fn push_row(builder: &mut BatchBuilder, row: &Row) {
    builder.column(0).push_i64(Some(row.id));
    builder.column(1).push_str(Some(&row.user));
    builder.column(2).push_f64(Some(row.amount));
    builder.column(3).push_bool(Some(row.active));
    builder.column(4).push_timestamp(Some(row.created_at));
    builder.column(5).push_date(Some(row.day));
    builder.column(6).push_str(Some(&row.price));
    builder.column(7).push_str(row.note.as_deref());
    builder.end_row();
}

/// Exports `rows` through `formatter` into a byte counter: batch building,
/// lowering into the sandbox, encoding and lifting chunks back out.
pub fn through_plugin(formatter: &Formatter, rows: &[Row]) -> u64 {
    through_plugin_with(formatter, &[], rows).0
}

/// [`through_plugin`] with options, also returning the run's statistics.
pub fn through_plugin_with(
    formatter: &Formatter,
    options: &[(String, String)],
    rows: &[Row],
) -> (u64, RunStats) {
    let counted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sink = {
        let counted = counted.clone();
        move |chunk: Vec<u8>| -> anyhow::Result<()> {
            counted.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    };
    let stats = export_into(formatter, options, rows, Box::new(sink)).unwrap();
    (counted.load(std::sync::atomic::Ordering::Relaxed), stats)
}

/// Exports `rows` through `formatter` into `sink`, reporting failures.
pub fn through_plugin_into(
    formatter: &Formatter,
    rows: &[Row],
    sink: Box<dyn ChunkSink>,
) -> Result<RunStats, PluginError> {
    export_into(formatter, &[], rows, sink)
}

fn export_into(
    formatter: &Formatter,
    options: &[(String, String)],
    rows: &[Row],
    sink: Box<dyn ChunkSink>,
) -> Result<RunStats, PluginError> {
    let columns = columns();
    let mut run = formatter.start(&columns, options, &context(), sink)?;
    let mut builder = BatchBuilder::new(&columns, exporter::batch::DEFAULT_BATCH_ROWS);
    for row in rows {
        push_row(&mut builder, row);
        if builder.is_full() {
            run.write_batch(&builder.take())?;
        }
    }
    if !builder.is_empty() {
        run.write_batch(&builder.take())?;
    }
    run.finish()
}

pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub fn time<T>(rounds: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut samples = Vec::with_capacity(rounds);
    let mut last = None;
    for _ in 0..rounds {
        let started = Instant::now();
        last = Some(std::hint::black_box(f()));
        samples.push(started.elapsed());
    }
    (median(samples), last.expect("at least one round"))
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Loads the built plugin `name` from `target/plugins`.
pub fn load(engine: &PluginEngine, name: &str) -> Formatter {
    let path = exporter::plugins::default_plugins_dir().join(format!("{name}.wasm"));
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask plugins`)", path.display()));
    engine.load(name, &bytes).expect("load plugin")
}
