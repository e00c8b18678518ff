//! The document formats, side by side in one run on the same 1,000,000 x 8
//! mixed rows as the formatter bench:
//!
//! - the XLSX plugin (sandboxed, batch building included) against native
//!   `rust_xlsxwriter` in its default mode, which builds the whole workbook
//!   in memory: time, rows/s, output size and memory (the plugin's peak
//!   linear memory; for `rust_xlsxwriter`, the process's peak RSS growth);
//! - the PDF plugin over 10,000 and 1,000,000 rows: rows/s and the plugin's
//!   peak linear memory, which must not grow with the rows.
//!
//! Run: `cargo xtask plugins && cargo bench -p exporter --bench documents`
//! Optional: `BENCH_ROWS=200000 BENCH_ROUNDS=3`.

use std::time::Duration;

use exporter::plugins::{PluginEngine, RuntimeConfig};
use rust_xlsxwriter::{Format, Workbook};

mod common;
use common::{Row, columns, env_usize, load, median, source, through_plugin_with, time};

/// Days from 1899-12-30 (Excel's epoch) to 1970-01-01.
const EXCEL_EPOCH: f64 = 25_569.0;

/// The same workbook with `rust_xlsxwriter`: typed cells, dates as serials
/// with a date format, bold header, frozen pane, autofilter.
fn native_xlsx(rows: &[Row]) -> u64 {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let stamp = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let sheet = workbook.add_worksheet();
    sheet.set_name("Data").unwrap();
    for (c, column) in columns().iter().enumerate() {
        sheet
            .write_string_with_format(0, c as u16, &column.name, &bold)
            .unwrap();
    }
    for (i, row) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_number(r, 0, row.id as f64).unwrap();
        sheet.write_string(r, 1, &row.user).unwrap();
        sheet.write_number(r, 2, row.amount).unwrap();
        sheet.write_boolean(r, 3, row.active).unwrap();
        let serial = EXCEL_EPOCH + row.created_at as f64 / 86_400e6;
        sheet
            .write_number_with_format(r, 4, serial, &stamp)
            .unwrap();
        let day = EXCEL_EPOCH + f64::from(row.day);
        sheet.write_number_with_format(r, 5, day, &date).unwrap();
        sheet
            .write_number(r, 6, row.price.parse::<f64>().unwrap())
            .unwrap();
        if let Some(note) = &row.note {
            sheet.write_string(r, 7, note).unwrap();
        }
    }
    sheet.set_freeze_panes(1, 0).unwrap();
    sheet.autofilter(0, 0, rows.len() as u32, 7).unwrap();
    workbook.save_to_buffer().unwrap().len() as u64
}

/// The process's peak resident set so far (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn main() {
    let rows_n = env_usize("BENCH_ROWS", 1_000_000);
    let rounds = env_usize("BENCH_ROUNDS", 5);
    let engine = PluginEngine::new(RuntimeConfig::default()).expect("engine");
    let xlsx = load(&engine, "xlsx");
    let pdf = load(&engine, "pdf");
    let rows = source(rows_n);
    println!("{rows_n} rows x 8 columns, median of {rounds} rounds, one process\n");

    // rust_xlsxwriter first, so the peak RSS it adds is its own.
    let before = peak_rss();
    let mut native = Vec::new();
    let mut plugin = Vec::new();
    let (mut native_bytes, mut plugin_bytes, mut plugin_peak) = (0, 0, 0);
    for _ in 0..rounds {
        let (t, bytes) = time(1, || native_xlsx(&rows));
        native.push(t);
        native_bytes = bytes;
        let (t, (bytes, stats)) = time(1, || through_plugin_with(&xlsx, &[], &rows));
        plugin.push(t);
        plugin_bytes = bytes;
        plugin_peak = stats.peak_memory;
    }
    let native_rss = peak_rss().saturating_sub(before);
    let (native_t, plugin_t) = (median(native), median(plugin));
    let rate = |t: Duration, n: usize| n as f64 / t.as_secs_f64();
    println!("| case | median | rows/s | bytes | memory |");
    println!("|---|---|---|---|---|");
    println!(
        "| native rust_xlsxwriter (default mode) | {:.0} ms | {:.0} | {native_bytes} | +{:.0} MiB peak RSS |",
        native_t.as_secs_f64() * 1e3,
        rate(native_t, rows_n),
        mib(native_rss)
    );
    println!(
        "| xlsx plugin (sandboxed, incl. batch building) | {:.0} ms | {:.0} | {plugin_bytes} | {:.1} MiB plugin peak |",
        plugin_t.as_secs_f64() * 1e3,
        rate(plugin_t, rows_n),
        mib(plugin_peak as u64)
    );
    println!(
        "\nxlsx plugin rows/s vs rust_xlsxwriter: {:.2}x",
        native_t.as_secs_f64() / plugin_t.as_secs_f64()
    );

    println!("\n| pdf case | median | rows/s | bytes | plugin peak memory |");
    println!("|---|---|---|---|---|");
    let small = (rows_n / 100).max(1);
    for n in [small, rows_n] {
        let mut samples = Vec::new();
        let (mut bytes, mut peak) = (0, 0);
        for _ in 0..rounds {
            let (t, (b, stats)) = time(1, || through_plugin_with(&pdf, &[], &rows[..n]));
            samples.push(t);
            bytes = b;
            peak = stats.peak_memory;
        }
        let t = median(samples);
        println!(
            "| pdf plugin, {n} rows | {:.0} ms | {:.0} | {bytes} | {:.2} MiB |",
            t.as_secs_f64() * 1e3,
            rate(t, n),
            mib(peak as u64)
        );
    }
}
