//! The conformance kit: certifies that a plugin honours the formatter
//! contract before it is trusted with real exports.
//!
//! Every plugin runs the generic cases (edge-case data, batch-size
//! independence, determinism, option validation, a large streamed export
//! within memory and time limits). Plugins whose media type has a reference
//! reader (CSV, JSON, NDJSON) also have their output read back and compared
//! value by value.
//!
//! The kit never holds a plugin's output: outputs compared with each other
//! are hashed as they arrive, and outputs read back are spooled to an
//! unnamed temporary file and parsed from it record by record. Every case
//! caps the bytes a plugin may write ([`CheckSettings::case_output_bytes`]),
//! so a plugin that writes a gigabyte per export costs the kit neither
//! memory nor minutes.
//!
//! What the kit hands a plugin varies from run to run (the context's title,
//! generated-at and properties, batch sizes, the order of the fixture rows),
//! drawn from a seed that the report carries, so a plugin cannot recognise
//! the kit and behave only under test, and a failure is reproducible with
//! `exporter plugin check --seed`.
//!
//! # Layout
//! - this file: the cases and their report.
//! - `fixtures`: the rows and schemas the cases feed.
//! - `verify`: reads CSV, JSON and NDJSON output back, value by value.
//! - `units`: sizes for people.
//!
//! Imports only the plugin runtime: the registry runs it at install time,
//! the command line on demand.

pub mod fixtures;
mod units;
pub mod verify;

pub use units::human_bytes;

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek as _, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use exporter_runtime::batch::{BatchBuilder, DEFAULT_BATCH_ROWS, Value};
use exporter_runtime::{
    ChunkSink, Column, ColumnType, ExportContext, Formatter, OptionType, PluginError, RefusalKind,
    RunStats, SandboxLimits,
};
use verify::Reader;

/// How hard the kit pushes.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// Rows in the large export.
    pub large_rows: usize,
    /// The sandbox every case runs in. Tighter than production on memory:
    /// a streaming formatter needs a few MiB, so 64 MiB flags a plugin that
    /// buffers the export.
    pub limits: SandboxLimits,
    /// Skip the remaining cases after a failure: install-time validation
    /// only needs the first reason, and a plugin that loops would otherwise
    /// spend the call deadline on every case.
    pub stop_at_first_failure: bool,
    /// Bytes one case's export may write, except the large export's. The
    /// fixtures are at most 5,000 rows: every built-in format writes them
    /// in a few MB, so 64 MiB only stops a plugin that floods.
    pub case_output_bytes: u64,
    /// Bytes per row the large export may write (at least
    /// `case_output_bytes`): five times what the widest built-in (JSON,
    /// about 190 bytes a row of the fixtures) writes.
    pub large_output_bytes_per_row: u64,
    /// What varies between runs is drawn from this seed; `None` draws a
    /// fresh one each run. The report says which was used.
    pub seed: Option<u64>,
}

impl Default for CheckSettings {
    fn default() -> Self {
        Self {
            large_rows: 1_000_000,
            limits: SandboxLimits {
                memory_bytes: 64 << 20,
                call_timeout: Duration::from_secs(10),
                export_timeout: Duration::from_secs(300),
                ..SandboxLimits::default()
            },
            stop_at_first_failure: false,
            case_output_bytes: 64 << 20,
            large_output_bytes_per_row: 1024,
            seed: None,
        }
    }
}

/// The longest case detail kept: details quote plugin refusals and errors,
/// whose text the plugin controls.
const MAX_DETAIL_BYTES: usize = 2048;

/// The outcome of one case.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CaseReport {
    pub name: String,
    pub passed: bool,
    pub detail: String,
    pub millis: u64,
}

/// The outcome of a whole check.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub plugin: String,
    pub sha256: String,
    /// The seed of what varied: `exporter plugin check --seed` repeats it.
    pub seed: u64,
    pub cases: Vec<CaseReport>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.cases.iter().all(|c| c.passed)
    }
}

/// Runs every case against `formatter`. `progress` is told of each case as
/// it finishes, for live output.
pub fn run(
    formatter: &Formatter,
    settings: &CheckSettings,
    mut progress: impl FnMut(&CaseReport),
) -> Report {
    let seed = settings.seed.unwrap_or_else(rand::random);
    let kit = Kit {
        formatter,
        settings,
        reader: Reader::for_media_type(&formatter.info().media_type),
        variation: Variation { seed },
    };
    let mut cases = Vec::new();
    let mut failed = false;
    let mut record = |name: &str, outcome: &dyn Fn() -> Result<String, String>| {
        if failed && settings.stop_at_first_failure {
            return;
        }
        let started = Instant::now();
        let result = outcome();
        let report = CaseReport {
            name: name.to_owned(),
            passed: result.is_ok(),
            detail: bounded(result.unwrap_or_else(|e| e)),
            millis: started.elapsed().as_millis() as u64,
        };
        progress(&report);
        failed |= !report.passed;
        cases.push(report);
    };

    let columns = fixtures::all_types();
    record("describes itself, fully and the same each time", &|| {
        kit.describe()
    });
    record("empty export", &|| kit.data_case("empty", &columns, &[]));
    record("one row", &|| {
        kit.data_case("one-row", &columns, &fixtures::one_row())
    });
    record("nulls in every type", &|| {
        kit.data_case("nulls", &columns, &fixtures::nulls())
    });
    record("unicode and emoji", &|| {
        kit.data_case("unicode", &columns, &fixtures::unicode())
    });
    record("quotes, delimiters and line breaks in text", &|| {
        kit.data_case("awkward", &columns, &fixtures::awkward_text())
    });
    record("extreme numbers, dates and timestamps", &|| {
        kit.data_case("extreme", &columns, &fixtures::extreme_numbers())
    });
    record("every column type alone", &|| kit.single_columns());
    record("200 columns", &|| kit.wide());
    record("no columns: refused cleanly or handled", &|| {
        kit.no_columns()
    });
    record("batch sizes 1 and 10,000 give the same bytes", &|| {
        kit.batch_sizes()
    });
    record("deterministic output", &|| kit.deterministic());
    record("unknown option refused before data flows", &|| {
        kit.unknown_option()
    });
    record("malformed option values refused", &|| {
        kit.malformed_options()
    });
    record("explicit defaults change nothing", &|| {
        kit.explicit_defaults()
    });
    let large = format!(
        "{} rows streamed within limits",
        group_digits(settings.large_rows)
    );
    record(&large, &|| kit.large());

    Report {
        plugin: formatter.id().to_string(),
        sha256: formatter.digest().to_owned(),
        seed,
        cases,
    }
}

/// Makes `detail` safe to show: it quotes plugin refusals and errors, so it
/// is cut to [`MAX_DETAIL_BYTES`] and cleaned like any guest text.
fn bounded(detail: String) -> String {
    exporter_runtime::text::sanitize_guest_text(&detail, MAX_DETAIL_BYTES)
}

struct Kit<'a> {
    formatter: &'a Formatter,
    settings: &'a CheckSettings,
    reader: Option<Reader>,
    variation: Variation,
}

/// What the kit varies between runs, drawn from one seed. Within a case
/// every run sees the same context, rows and order, so comparing outputs
/// stays meaningful; between cases and kit runs they differ.
#[derive(Debug, Clone, Copy)]
struct Variation {
    seed: u64,
}

impl Variation {
    /// The `n`-th draw for `case`: splitmix64 over the seed, the case's
    /// name and `n`, so each case's draws are independent of the others.
    fn draw(self, case: &str, n: u64) -> u64 {
        let name = case.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let mut z = self
            .seed
            .wrapping_add(name)
            .wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<T: Copy>(self, case: &str, n: u64, from: &[T]) -> T {
        from[(self.draw(case, n) % from.len() as u64) as usize]
    }

    /// The context `case` exports under: a plausible title, an instant
    /// between 2000 and 2099, and a data type, none of them fixed.
    fn context(self, case: &str) -> ExportContext {
        const TITLES: [&str; 6] = [
            "Users",
            "Sessions",
            "Orders",
            "Invoices",
            "Audit log",
            "Monthly report",
        ];
        const DATA_TYPES: [&str; 5] = ["users", "sessions", "orders", "invoices", "events"];
        // 2000-01-01T00:00:00Z plus up to a century, to the microsecond.
        const START: i64 = 946_684_800_000_000;
        const CENTURY: u64 = 3_155_760_000_000_000;
        let generated_at = START + (self.draw(case, 1) % CENTURY) as i64;
        ExportContext {
            title: format!(
                "{} {}",
                self.pick(case, 2, &TITLES),
                exporter_runtime::batch::time::format_date(
                    generated_at.div_euclid(exporter_wit::civil::MICROS_PER_DAY) as i32
                )
            ),
            generated_at,
            properties: vec![
                ("dataType".into(), self.pick(case, 3, &DATA_TYPES).into()),
                ("run".into(), format!("{:08x}", self.draw(case, 4) as u32)),
            ],
        }
    }

    /// A batch size for the fixture cases: small ones split the rows
    /// across batches, the default sends them in one.
    fn batch_size(self, case: &str) -> usize {
        self.pick(case, 5, &[1, 2, 3, 5, 8, DEFAULT_BATCH_ROWS])
    }

    /// `rows` in an order drawn for `case` (Fisher-Yates).
    fn shuffled(self, case: &str, rows: &[Vec<Value>]) -> Vec<Vec<Value>> {
        let mut rows = rows.to_vec();
        for i in (1..rows.len()).rev() {
            let j = (self.draw(case, 100 + i as u64) % (i as u64 + 1)) as usize;
            rows.swap(i, j);
        }
        rows
    }
}

/// Hashes output without keeping it: outputs are compared by digest.
#[derive(Clone, Default)]
struct Hashed(Arc<Mutex<(Sha256, u64)>>);

impl Hashed {
    /// The digest and size of what was written.
    fn result(&self) -> ([u8; 32], u64) {
        let state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (state.0.clone().finalize().into(), state.1)
    }
}

impl ChunkSink for Hashed {
    fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        state.0.update(&chunk);
        state.1 += chunk.len() as u64;
        Ok(())
    }
}

/// Spools output to an unnamed temporary file (gone when dropped), for
/// the reference readers to parse record by record.
#[derive(Clone)]
struct Spooled(Arc<Mutex<(BufWriter<File>, u64)>>);

impl Spooled {
    fn new() -> Result<Self, String> {
        let file = tempfile::tempfile()
            .map_err(|e| format!("the kit cannot create a temporary file: {e}"))?;
        Ok(Self(Arc::new(Mutex::new((BufWriter::new(file), 0)))))
    }

    /// The output from its start, and its size.
    fn reopen(&self) -> Result<(BufReader<File>, u64), String> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let failed = |e: std::io::Error| format!("the kit cannot read its temporary file: {e}");
        state.0.flush().map_err(failed)?;
        let mut file = state.0.get_ref().try_clone().map_err(failed)?;
        file.rewind().map_err(failed)?;
        Ok((BufReader::new(file), state.1))
    }
}

impl ChunkSink for Spooled {
    fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        state.0.write_all(&chunk)?;
        state.1 += chunk.len() as u64;
        Ok(())
    }
}

impl Kit<'_> {
    /// The sandbox for one case: the kit's, with the output capped.
    fn limits(&self, max_output_bytes: u64) -> SandboxLimits {
        let mut limits = self.settings.limits.clone();
        limits.max_output_bytes = limits.max_output_bytes.min(max_output_bytes);
        limits
    }

    /// Runs one export of `rows` under `case`'s context into `sink`.
    fn export_into(
        &self,
        case: &str,
        columns: &[Column],
        options: &[(String, String)],
        rows: impl IntoIterator<Item = Vec<Value>>,
        batch_size: usize,
        sink: Box<dyn ChunkSink>,
    ) -> Result<RunStats, PluginError> {
        let mut run = self.formatter.start_with_limits(
            columns,
            options,
            &self.variation.context(case),
            sink,
            self.limits(self.settings.case_output_bytes),
        )?;
        let mut builder = BatchBuilder::new(columns, batch_size);
        for row in rows {
            builder.push_row(&row).expect("fixtures match their schema");
            if builder.is_full() {
                run.write_batch(&builder.take())?;
            }
        }
        if !builder.is_empty() {
            run.write_batch(&builder.take())?;
        }
        run.finish()
    }

    /// Runs one export and returns the sha256 and size of its output.
    fn export_hashed(
        &self,
        case: &str,
        columns: &[Column],
        options: &[(String, String)],
        rows: impl IntoIterator<Item = Vec<Value>>,
        batch_size: usize,
    ) -> Result<([u8; 32], u64), PluginError> {
        let sink = Hashed::default();
        self.export_into(
            case,
            columns,
            options,
            rows,
            batch_size,
            Box::new(sink.clone()),
        )?;
        Ok(sink.result())
    }

    /// `info()` was validated when the plugin loaded. Here it must also
    /// document itself (users read these descriptions in the API and CLI)
    /// and be stable, since the host caches it per version.
    fn describe(&self) -> Result<String, String> {
        let info = self.formatter.info();
        if info.description.trim().is_empty() {
            return Err("the format has no description".into());
        }
        if let Some(option) = info
            .options
            .iter()
            .find(|o| o.description.trim().is_empty())
        {
            return Err(format!("option {:?} has no description", option.name));
        }
        let again = self.formatter.describe_again().map_err(|e| e.to_string())?;
        if &again != info {
            return Err(format!(
                "info() changed between two instances: {info:?} then {again:?}"
            ));
        }
        let options: Vec<&str> = info.options.iter().map(|o| o.name.as_str()).collect();
        Ok(format!(
            "{}@{} {} .{}; options: {}; reference reader: {}",
            info.name,
            info.version,
            info.media_type,
            info.file_extension,
            if options.is_empty() {
                "none".into()
            } else {
                options.join(", ")
            },
            match self.reader {
                Some(r) => format!("{r:?}"),
                None => "none (generic checks only)".into(),
            }
        ))
    }

    fn data_case(
        &self,
        case: &str,
        columns: &[Column],
        rows: &[Vec<Value>],
    ) -> Result<String, String> {
        let rows = self.variation.shuffled(case, rows);
        let batch_size = self.variation.batch_size(case);
        let exported = |sink: Box<dyn ChunkSink>| {
            self.export_into(case, columns, &[], rows.iter().cloned(), batch_size, sink)
                .map_err(|e| format!("{e} (batches of {batch_size})"))
        };
        let size = match self.reader {
            Some(reader) => {
                let spool = Spooled::new()?;
                let stats = exported(Box::new(spool.clone()))?;
                let (output, size) = spool.reopen()?;
                reader
                    .verify_stream(output, columns, &rows)
                    .map_err(|e| format!("{e} (batches of {batch_size})"))?;
                return self
                    .counted(&stats, &rows)
                    .map(|()| format!("{size} bytes, read back and equal"));
            }
            None => {
                let sink = Hashed::default();
                let stats = exported(Box::new(sink.clone()))?;
                let (_, size) = sink.result();
                if !rows.is_empty() && size == 0 {
                    return Err("no output for a non-empty export".into());
                }
                self.counted(&stats, &rows)?;
                size
            }
        };
        Ok(format!("{size} bytes"))
    }

    fn counted(&self, stats: &RunStats, rows: &[Vec<Value>]) -> Result<(), String> {
        if stats.rows != rows.len() as u64 {
            return Err(format!(
                "host counted {} rows, sent {}",
                stats.rows,
                rows.len()
            ));
        }
        Ok(())
    }

    fn single_columns(&self) -> Result<String, String> {
        let all = fixtures::all_types();
        let rows = fixtures::nulls();
        for (index, column) in all.iter().enumerate() {
            let columns = vec![column.clone()];
            let narrowed: Vec<Vec<Value>> = rows.iter().map(|r| vec![r[index].clone()]).collect();
            self.data_case(&format!("single-{index}"), &columns, &narrowed)
                .map_err(|e| format!("column of type {:?}: {e}", column.kind))?;
        }
        Ok(format!("{} types", all.len()))
    }

    fn wide(&self) -> Result<String, String> {
        let columns: Vec<Column> = (0..200)
            .map(|i| Column {
                name: format!("column_{i}"),
                kind: if i % 2 == 0 {
                    ColumnType::Text
                } else {
                    ColumnType::Int64
                },
            })
            .collect();
        let rows: Vec<Vec<Value>> = (0..10)
            .map(|r| {
                (0..200)
                    .map(|i| {
                        if i % 2 == 0 {
                            Value::Text(format!("r{r}c{i}"))
                        } else {
                            Value::Int64(r * 1000 + i)
                        }
                    })
                    .collect()
            })
            .collect();
        self.data_case("wide", &columns, &rows)
    }

    fn no_columns(&self) -> Result<String, String> {
        match self.export_hashed(
            "no-columns",
            &[],
            &[],
            std::iter::empty(),
            DEFAULT_BATCH_ROWS,
        ) {
            Ok((_, size)) => Ok(format!("handled: {size} bytes")),
            Err(PluginError::Refused { kind, message, .. }) => {
                Ok(format!("refused ({kind}): {message}"))
            }
            Err(other) => Err(other.to_string()),
        }
    }

    /// The 5,000-row export at `batch_size`, as (sha256, size). The rows
    /// and context are drawn for `case`; the same case gives the same.
    fn medium(&self, case: &str, batch_size: usize) -> Result<([u8; 32], u64), String> {
        self.export_hashed(
            case,
            &fixtures::all_types(),
            &[],
            fixtures::generated_from(5_000, self.variation.draw(case, 6)),
            batch_size,
        )
        .map_err(|e| format!("batch size {batch_size}: {e}"))
    }

    fn batch_sizes(&self) -> Result<String, String> {
        let case = "batch-sizes";
        let reference_size = self
            .variation
            .pick(case, 7, &[DEFAULT_BATCH_ROWS, 100, 777, 2_048]);
        let reference = self.medium(case, reference_size)?;
        for size in [1, 10_000] {
            if self.medium(case, size)? != reference {
                return Err(format!(
                    "batch size {size} gave different bytes than batch size {reference_size}"
                ));
            }
        }
        Ok(format!(
            "5,000 rows, {} bytes each time (batches of 1, {reference_size} and 10,000)",
            reference.1
        ))
    }

    fn deterministic(&self) -> Result<String, String> {
        let case = "deterministic";
        let batch_size = self.variation.batch_size(case);
        let first = self.medium(case, batch_size)?;
        let second = self.medium(case, batch_size)?;
        if first != second {
            return Err("two runs over the same rows gave different bytes".into());
        }
        Ok(format!("sha256 {}", &hex::encode(first.0)[..16]))
    }

    /// Expects `options` to be refused with invalid-option during open.
    fn expect_refused(&self, options: &[(String, String)]) -> Result<String, String> {
        let columns = fixtures::all_types();
        match self.formatter.start_with_limits(
            &columns,
            options,
            &self.variation.context("options"),
            Box::new(Hashed::default()),
            self.limits(self.settings.case_output_bytes),
        ) {
            Err(PluginError::Refused {
                kind: RefusalKind::InvalidOption,
                message,
                ..
            }) => Ok(message),
            Err(other) => Err(format!(
                "{options:?}: expected an invalid-option refusal, got: {other}"
            )),
            Ok(_) => Err(format!("{options:?} was accepted")),
        }
    }

    fn unknown_option(&self) -> Result<String, String> {
        self.expect_refused(&[("no-such-option".into(), "1".into())])
            .map(|message| format!("refused: {message}"))
    }

    fn malformed_options(&self) -> Result<String, String> {
        let mut checked = Vec::new();
        for spec in &self.formatter.info().options {
            let bad = match spec.kind {
                OptionType::Boolean => "maybe",
                OptionType::Integer => "twelve",
                OptionType::Character => "two chars",
                OptionType::Choice => "not-a-listed-choice",
                OptionType::Text => continue,
            };
            self.expect_refused(&[(spec.name.clone(), bad.to_owned())])?;
            checked.push(spec.name.as_str());
        }
        Ok(if checked.is_empty() {
            "no typed options to check".into()
        } else {
            format!("refused bad values for {}", checked.join(", "))
        })
    }

    fn explicit_defaults(&self) -> Result<String, String> {
        let options: Vec<(String, String)> = self
            .formatter
            .info()
            .options
            .iter()
            .map(|o| (o.name.clone(), o.default_value.clone()))
            .collect();
        let case = "explicit-defaults";
        let rows = self.variation.shuffled(case, &fixtures::unicode());
        let columns = fixtures::all_types();
        let batch_size = self.variation.batch_size(case);
        let plain = self
            .export_hashed(case, &columns, &[], rows.iter().cloned(), batch_size)
            .map_err(|e| e.to_string())?;
        let explicit = self
            .export_hashed(case, &columns, &options, rows.iter().cloned(), batch_size)
            .map_err(|e| e.to_string())?;
        if plain != explicit {
            return Err("passing every option at its documented default changed the output".into());
        }
        Ok(format!("{} options", options.len()))
    }

    fn large(&self) -> Result<String, String> {
        let case = "large";
        let rows = self.settings.large_rows;
        let sink = Hashed::default();
        let started = Instant::now();
        let columns = fixtures::all_types();
        let max_output = (rows as u64)
            .saturating_mul(self.settings.large_output_bytes_per_row)
            .max(self.settings.case_output_bytes);
        let mut run = self
            .formatter
            .start_with_limits(
                &columns,
                &[],
                &self.variation.context(case),
                Box::new(sink.clone()),
                self.limits(max_output),
            )
            .map_err(|e| e.to_string())?;
        let mut builder = BatchBuilder::new(&columns, DEFAULT_BATCH_ROWS);
        for row in fixtures::generated_from(rows, self.variation.draw(case, 6)) {
            builder.push_row(&row).expect("fixtures match their schema");
            if builder.is_full() {
                run.write_batch(&builder.take())
                    .map_err(|e| e.to_string())?;
            }
        }
        if !builder.is_empty() {
            run.write_batch(&builder.take())
                .map_err(|e| e.to_string())?;
        }
        let (_, before_finish) = run.progress();
        let stats = run.finish().map_err(|e| e.to_string())?;
        let elapsed = started.elapsed();
        let (_, total) = sink.result();
        if stats.rows != rows as u64 {
            return Err(format!("{} rows written, {rows} sent", stats.rows));
        }
        // A streaming plugin has emitted nearly everything before finish; a
        // buffering one emits it all at the end (and trips the memory cap
        // first, at this size).
        if total > 0 && before_finish * 2 < total {
            return Err(format!(
                "only {before_finish} of {total} bytes left the plugin before finish: it buffers instead of streaming"
            ));
        }
        Ok(format!(
            "{} in {:.2} s ({:.0} rows/s incl. building batches), {} chunks, plugin peak memory {} (limit {})",
            human_bytes(total),
            elapsed.as_secs_f64(),
            rows as f64 / elapsed.as_secs_f64().max(1e-9),
            stats.chunks,
            human_bytes(stats.peak_memory as u64),
            human_bytes(self.settings.limits.memory_bytes as u64),
        ))
    }
}

fn group_digits(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
