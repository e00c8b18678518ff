//! The conformance kit: certifies that a plugin honours the formatter
//! contract before it is trusted with real exports.
//!
//! Every plugin runs the generic cases (edge-case data, batch-size
//! independence, determinism, option validation, a large streamed export
//! within memory and time limits). Plugins whose media type has a reference
//! reader (CSV, JSON, NDJSON) also have their output read back and compared
//! value by value.

pub mod fixtures;
pub mod verify;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::batch::{BatchBuilder, DEFAULT_BATCH_ROWS, Value};
use crate::plugins::{
    ChunkSink, Column, ColumnType, ExportContext, Formatter, MemorySink, OptionKind, PluginError,
    RefusalKind, RunStats, SandboxLimits,
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
        }
    }
}

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
    let kit = Kit {
        formatter,
        settings,
        reader: Reader::for_media_type(&formatter.info().media_type),
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
            detail: result.unwrap_or_else(|e| e),
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
    record("empty export", &|| kit.data_case(&columns, &[]));
    record("one row", &|| kit.data_case(&columns, &fixtures::one_row()));
    record("nulls in every type", &|| {
        kit.data_case(&columns, &fixtures::nulls())
    });
    record("unicode and emoji", &|| {
        kit.data_case(&columns, &fixtures::unicode())
    });
    record("quotes, delimiters and line breaks in text", &|| {
        kit.data_case(&columns, &fixtures::awkward_text())
    });
    record("extreme numbers, dates and timestamps", &|| {
        kit.data_case(&columns, &fixtures::extreme_numbers())
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
        cases,
    }
}

struct Kit<'a> {
    formatter: &'a Formatter,
    settings: &'a CheckSettings,
    reader: Option<Reader>,
}

/// The context every case exports under: fixed, so output is comparable.
fn context() -> ExportContext {
    ExportContext {
        title: "Conformance fixture".into(),
        generated_at: 1_767_225_600_000_000, // 2026-01-01T00:00:00Z
        properties: vec![("dataType".into(), "fixture".into())],
    }
}

/// Hashes output without keeping it: the large case's output can be
/// hundreds of MB.
#[derive(Clone, Default)]
struct Hashed(Arc<Mutex<(Sha256, u64)>>);

impl ChunkSink for Hashed {
    fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        let mut state = self.0.lock().expect("not poisoned");
        state.0.update(&chunk);
        state.1 += chunk.len() as u64;
        Ok(())
    }
}

impl Kit<'_> {
    /// Runs one export of `rows`, returning the output and statistics.
    fn export(
        &self,
        columns: &[Column],
        options: &[(String, String)],
        rows: impl IntoIterator<Item = Vec<Value>>,
        batch_size: usize,
    ) -> Result<(Vec<u8>, RunStats), PluginError> {
        let sink = MemorySink::default();
        let stats = self.export_into(columns, options, rows, batch_size, Box::new(sink.clone()))?;
        Ok((sink.take(), stats))
    }

    fn export_into(
        &self,
        columns: &[Column],
        options: &[(String, String)],
        rows: impl IntoIterator<Item = Vec<Value>>,
        batch_size: usize,
        sink: Box<dyn ChunkSink>,
    ) -> Result<RunStats, PluginError> {
        let mut run = self.formatter.start_with_limits(
            columns,
            options,
            &context(),
            sink,
            self.settings.limits.clone(),
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

    fn data_case(&self, columns: &[Column], rows: &[Vec<Value>]) -> Result<String, String> {
        let (output, stats) = self
            .export(columns, &[], rows.iter().cloned(), DEFAULT_BATCH_ROWS)
            .map_err(|e| e.to_string())?;
        if stats.rows != rows.len() as u64 {
            return Err(format!(
                "host counted {} rows, sent {}",
                stats.rows,
                rows.len()
            ));
        }
        match self.reader {
            Some(reader) => {
                reader.verify(&output, columns, rows)?;
                Ok(format!("{} bytes, read back and equal", output.len()))
            }
            None if !rows.is_empty() && output.is_empty() => {
                Err("no output for a non-empty export".into())
            }
            None => Ok(format!("{} bytes", output.len())),
        }
    }

    fn single_columns(&self) -> Result<String, String> {
        let all = fixtures::all_types();
        let rows = fixtures::nulls();
        for (index, column) in all.iter().enumerate() {
            let columns = vec![column.clone()];
            let narrowed: Vec<Vec<Value>> = rows.iter().map(|r| vec![r[index].clone()]).collect();
            self.data_case(&columns, &narrowed)
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
        self.data_case(&columns, &rows)
    }

    fn no_columns(&self) -> Result<String, String> {
        match self.export(&[], &[], std::iter::empty(), DEFAULT_BATCH_ROWS) {
            Ok((output, _)) => Ok(format!("handled: {} bytes", output.len())),
            Err(PluginError::Refused { kind, message, .. }) => {
                Ok(format!("refused ({kind}): {message}"))
            }
            Err(other) => Err(other.to_string()),
        }
    }

    fn medium(&self, batch_size: usize) -> Result<Vec<u8>, String> {
        self.export(
            &fixtures::all_types(),
            &[],
            fixtures::generated(5_000),
            batch_size,
        )
        .map(|(output, _)| output)
        .map_err(|e| format!("batch size {batch_size}: {e}"))
    }

    fn batch_sizes(&self) -> Result<String, String> {
        let reference = self.medium(DEFAULT_BATCH_ROWS)?;
        for size in [1, 10_000] {
            if self.medium(size)? != reference {
                return Err(format!(
                    "batch size {size} gave different bytes than batch size {DEFAULT_BATCH_ROWS}"
                ));
            }
        }
        Ok(format!("5,000 rows, {} bytes each time", reference.len()))
    }

    fn deterministic(&self) -> Result<String, String> {
        let first = self.medium(DEFAULT_BATCH_ROWS)?;
        let second = self.medium(DEFAULT_BATCH_ROWS)?;
        if first != second {
            return Err("two runs over the same rows gave different bytes".into());
        }
        Ok(format!(
            "sha256 {}",
            &hex::encode(Sha256::digest(&first))[..16]
        ))
    }

    /// Expects `options` to be refused with invalid-option during open.
    fn expect_refused(&self, options: &[(String, String)]) -> Result<String, String> {
        let columns = fixtures::all_types();
        let sink = MemorySink::default();
        match self.formatter.start_with_limits(
            &columns,
            options,
            &context(),
            Box::new(sink),
            self.settings.limits.clone(),
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
                OptionKind::Boolean => "maybe",
                OptionKind::Integer => "twelve",
                OptionKind::Character => "two chars",
                OptionKind::Choice => "not-a-listed-choice",
                OptionKind::Text => continue,
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
            .map(|o| (o.name.clone(), o.default.clone()))
            .collect();
        let rows = fixtures::unicode();
        let columns = fixtures::all_types();
        let plain = self
            .export(&columns, &[], rows.iter().cloned(), DEFAULT_BATCH_ROWS)
            .map_err(|e| e.to_string())?
            .0;
        let explicit = self
            .export(&columns, &options, rows.iter().cloned(), DEFAULT_BATCH_ROWS)
            .map_err(|e| e.to_string())?
            .0;
        if plain != explicit {
            return Err("passing every option at its documented default changed the output".into());
        }
        Ok(format!("{} options", options.len()))
    }

    fn large(&self) -> Result<String, String> {
        let rows = self.settings.large_rows;
        let sink = Hashed::default();
        let started = Instant::now();
        let columns = fixtures::all_types();
        let mut run = self
            .formatter
            .start_with_limits(
                &columns,
                &[],
                &context(),
                Box::new(sink.clone()),
                self.settings.limits.clone(),
            )
            .map_err(|e| e.to_string())?;
        let mut builder = BatchBuilder::new(&columns, DEFAULT_BATCH_ROWS);
        for row in fixtures::generated(rows) {
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
        let total = sink.0.lock().expect("not poisoned").1;
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
            crate::cli::human_bytes(total),
            elapsed.as_secs_f64(),
            rows as f64 / elapsed.as_secs_f64().max(1e-9),
            stats.chunks,
            crate::cli::human_bytes(stats.peak_memory as u64),
            crate::cli::human_bytes(self.settings.limits.memory_bytes as u64),
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
