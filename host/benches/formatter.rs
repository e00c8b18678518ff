//! Formatter throughput: 1,000,000 rows x 8 mixed columns through the CSV
//! and JSON plugins (building the batches included) against the same rows
//! written natively by the `csv` crate and `serde_json`, side by side in one
//! run; plus plugin start time per export (instantiate + open).
//!
//! Run: `cargo xtask plugins && cargo bench -p exporter --bench formatter`
//! Optional: `BENCH_ROWS=200000 BENCH_ROUNDS=3`.

use std::io::Write;
use std::time::{Duration, Instant};

use exporter::batch::BatchBuilder;
use exporter::plugins::{PluginEngine, RuntimeConfig};

mod common;
use common::{
    Row, columns, context, env_usize, load, median, push_row, source, through_plugin, time,
};

/// Counts bytes and drops them: both sides write to the same kind of sink.
#[derive(Default)]
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// --- native baselines -------------------------------------------------------

fn civil(days: i64) -> (i64, u32, u32) {
    exporter::wit::civil::civil_from_days(days)
}

/// Zero-padded digits without `fmt`: what a careful native writer does.
fn push_digits(buf: &mut Vec<u8>, value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut v = value;
    for slot in digits[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    buf.extend_from_slice(&digits[..width]);
}

fn write_date(buf: &mut Vec<u8>, days: i32) {
    let (y, m, d) = civil(i64::from(days));
    push_digits(buf, y as u64, 4);
    buf.push(b'-');
    push_digits(buf, u64::from(m), 2);
    buf.push(b'-');
    push_digits(buf, u64::from(d), 2);
}

fn write_timestamp(buf: &mut Vec<u8>, micros: i64) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    write_date(buf, secs.div_euclid(86_400) as i32);
    let s = secs.rem_euclid(86_400) as u64;
    buf.push(b'T');
    push_digits(buf, s / 3600, 2);
    buf.push(b':');
    push_digits(buf, s % 3600 / 60, 2);
    buf.push(b':');
    push_digits(buf, s % 60, 2);
    if frac != 0 {
        buf.push(b'.');
        push_digits(buf, frac as u64, 6);
    }
    buf.push(b'Z');
}

fn native_csv(rows: &[Row]) -> u64 {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Counter::default());
    out.write_record(columns().iter().map(|c| c.name.as_str()))
        .unwrap();
    let mut itoa = itoa::Buffer::new();
    let mut ryu = ryu::Buffer::new();
    let mut scratch = Vec::with_capacity(64);
    for row in rows {
        out.write_field(itoa.format(row.id)).unwrap();
        out.write_field(&row.user).unwrap();
        out.write_field(ryu.format(row.amount)).unwrap();
        out.write_field(if row.active { "true" } else { "false" })
            .unwrap();
        scratch.clear();
        write_timestamp(&mut scratch, row.created_at);
        out.write_field(&scratch).unwrap();
        scratch.clear();
        write_date(&mut scratch, row.day);
        out.write_field(&scratch).unwrap();
        out.write_field(&row.price).unwrap();
        out.write_field(row.note.as_deref().unwrap_or("")).unwrap();
        out.write_record(None::<&[u8]>).unwrap();
    }
    out.flush().unwrap();
    out.into_inner().map_err(|_| "flush").unwrap().0
}

/// The idiomatic native JSON writer: a borrowed, derived `Serialize` row.
#[derive(serde::Serialize)]
struct JsonRow<'a> {
    id: i64,
    user: &'a str,
    amount: f64,
    active: bool,
    created_at: &'a str,
    day: &'a str,
    /// Written as a JSON number without going through f64, like the plugin.
    price: &'a serde_json::value::RawValue,
    note: Option<&'a str>,
}

fn native_json(rows: &[Row]) -> u64 {
    let mut out = std::io::BufWriter::with_capacity(64 << 10, Counter::default());
    let mut created = Vec::with_capacity(32);
    let mut day = Vec::with_capacity(16);
    out.write_all(b"[\n").unwrap();
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.write_all(b",\n").unwrap();
        }
        created.clear();
        write_timestamp(&mut created, row.created_at);
        day.clear();
        write_date(&mut day, row.day);
        let price: &serde_json::value::RawValue =
            serde_json::from_str(&row.price).expect("prices are JSON numbers");
        let object = JsonRow {
            id: row.id,
            user: &row.user,
            amount: row.amount,
            active: row.active,
            created_at: std::str::from_utf8(&created).unwrap(),
            day: std::str::from_utf8(&day).unwrap(),
            price,
            note: row.note.as_deref(),
        };
        serde_json::to_writer(&mut out, &object).unwrap();
    }
    out.write_all(b"\n]\n").unwrap();
    out.flush().unwrap();
    out.into_inner().map_err(|_| "flush").unwrap().0
}

// --- through the sandbox ----------------------------------------------------

/// The host's share of a plugin export: decoding rows into columnar batches.
fn build_batches_only(rows: &[Row]) -> u64 {
    let columns = columns();
    let mut builder = BatchBuilder::new(&columns, exporter::batch::DEFAULT_BATCH_ROWS);
    let mut batches = 0;
    for row in rows {
        push_row(&mut builder, row);
        if builder.is_full() {
            std::hint::black_box(builder.take());
            batches += 1;
        }
    }
    batches
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let rows_n = env_usize("BENCH_ROWS", 1_000_000);
    let rounds = env_usize("BENCH_ROUNDS", 5);
    let engine = PluginEngine::new(RuntimeConfig::default()).expect("engine");
    let csv_plugin = load(&engine, "csv");
    let json_plugin = load(&engine, "json");
    let rows = source(rows_n);
    println!("{rows_n} rows x 8 columns, median of {rounds} rounds, one process\n");
    println!("| case | median | rows/s | bytes | ratio vs native |");
    println!("|---|---|---|---|---|");

    let report = |name: &str, t: Duration, bytes: u64, base: Option<Duration>| {
        let ratio = base.map(|b| format!("{:.2}x", t.as_secs_f64() / b.as_secs_f64()));
        println!(
            "| {name} | {:.1} ms | {:.2} M | {bytes} | {} |",
            t.as_secs_f64() * 1e3,
            rows_n as f64 / t.as_secs_f64() / 1e6,
            ratio.unwrap_or_else(|| "-".into())
        );
    };
    // Interleave native and plugin rounds so machine noise hits both alike.
    let mut native_csv_t = Vec::new();
    let mut plugin_csv_t = Vec::new();
    let mut native_json_t = Vec::new();
    let mut plugin_json_t = Vec::new();
    let (mut bytes_nc, mut bytes_pc, mut bytes_nj, mut bytes_pj) = (0, 0, 0, 0);
    for _ in 0..rounds {
        let (t, b) = time(1, || native_csv(&rows));
        native_csv_t.push(t);
        bytes_nc = b;
        let (t, b) = time(1, || through_plugin(&csv_plugin, &rows));
        plugin_csv_t.push(t);
        bytes_pc = b;
        let (t, b) = time(1, || native_json(&rows));
        native_json_t.push(t);
        bytes_nj = b;
        let (t, b) = time(1, || through_plugin(&json_plugin, &rows));
        plugin_json_t.push(t);
        bytes_pj = b;
    }
    let (build_t, _) = time(rounds, || build_batches_only(&rows));
    let nc = median(native_csv_t);
    let pc = median(plugin_csv_t);
    let nj = median(native_json_t);
    let pj = median(plugin_json_t);
    report("building batches only (host share)", build_t, 0, None);
    report("native csv crate", nc, bytes_nc, None);
    report(
        "csv plugin (sandboxed, incl. batch building)",
        pc,
        bytes_pc,
        Some(nc),
    );
    report("native serde_json", nj, bytes_nj, None);
    report(
        "json plugin (sandboxed, incl. batch building)",
        pj,
        bytes_pj,
        Some(nj),
    );

    // Plugin start: fresh instance + writer.open, then drop.
    let columns = columns();
    let starts = 2_000;
    let mut samples = Vec::with_capacity(starts);
    for _ in 0..starts {
        let started = Instant::now();
        let run = csv_plugin
            .start(&columns, &[], &context(), Box::new(|_: Vec<u8>| Ok(())))
            .unwrap();
        samples.push(started.elapsed());
        drop(run);
    }
    samples.sort();
    println!(
        "\nplugin start (instantiate + open), {starts} starts: median {:.1} µs, p99 {:.1} µs",
        samples[starts / 2].as_secs_f64() * 1e6,
        samples[starts * 99 / 100].as_secs_f64() * 1e6
    );
}
