//! Reads rows from files for `exporter plugin run`: NDJSON (one JSON object
//! per line) or CSV with a header row.
//!
//! Rows stream: only a sample (for type inference) is held, so memory does
//! not grow with the file.

mod csv_input;
mod ndjson;
pub mod schema;

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::Path;

use anyhow::Context as _;

pub use csv_input::CsvRows;
pub use ndjson::NdjsonRows;

use exporter_runtime::Column;
use exporter_runtime::batch::Value;

/// Rows sampled to infer column types when no schema is given.
pub const INFERENCE_SAMPLE_ROWS: usize = 1000;

/// A stream of typed rows.
pub trait RowSource {
    fn columns(&self) -> &[Column];
    /// Fills `row` with the next row; `false` at the end.
    fn next_row(&mut self, row: &mut Vec<Value>) -> anyhow::Result<bool>;
}

/// The input file formats `plugin run` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    Ndjson,
    Csv,
}

impl InputFormat {
    /// Guesses from the file extension: `.csv` is CSV, anything else NDJSON.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => InputFormat::Csv,
            _ => InputFormat::Ndjson,
        }
    }
}

/// Opens `path` as a row source, with `schema` or an inferred one.
pub fn open(
    path: &Path,
    format: InputFormat,
    schema: Option<Vec<Column>>,
) -> anyhow::Result<Box<dyn RowSource>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = std::io::BufReader::with_capacity(256 << 10, file);
    Ok(match format {
        InputFormat::Ndjson => Box::new(NdjsonRows::new(reader, schema)?),
        InputFormat::Csv => Box::new(CsvRows::new(reader, schema)?),
    })
}

/// Rows read ahead for inference, replayed before the rest of the input.
pub(crate) struct Sample<T> {
    pending: VecDeque<T>,
}

impl<T> Sample<T> {
    pub(crate) fn new(rows: Vec<T>) -> Self {
        Self {
            pending: rows.into(),
        }
    }

    pub(crate) fn next(&mut self) -> Option<T> {
        self.pending.pop_front()
    }
}

/// A line reader that counts lines for error messages.
pub(crate) struct Lines<R> {
    reader: R,
    pub(crate) line: u64,
    buffer: String,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            line: 0,
            buffer: String::new(),
        }
    }

    /// The next non-blank line, without its terminator.
    pub(crate) fn next_line(&mut self) -> anyhow::Result<Option<&str>> {
        loop {
            self.buffer.clear();
            let read = self
                .reader
                .read_line(&mut self.buffer)
                .with_context(|| format!("line {}", self.line + 1))?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            if !self.buffer.trim().is_empty() {
                return Ok(Some(self.buffer.trim_end_matches(['\n', '\r'])));
            }
        }
    }
}
