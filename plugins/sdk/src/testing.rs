//! Run a format natively, without a host: for the format's unit tests.
//!
//! [`run`] drives a [`Format`] through exactly the steps the host does
//! (option validation, `open`, batch validation, `write_batch` per batch,
//! `finish`, the final flush) with the output collected in memory.
//!
//! ```
//! use exporter_plugin_sdk::testing::{self, TestBatch};
//! use exporter_plugin_sdk::{Column, ColumnType};
//! # use exporter_plugin_sdk::*;
//! # struct Lines;
//! # impl Format for Lines {
//! #     type Encoder = Lines;
//! #     fn info() -> FormatInfo {
//! #         FormatInfo { name: "lines".into(), version: "1.0.0".into(), media_type: "text/plain".into(),
//! #             file_extension: "txt".into(), description: "One line per row".into(), options: vec![] }
//! #     }
//! #     fn open(_: &[Column], _: &Options, _: &ExportContext, _: &mut Output) -> Result<Lines, FormatError> { Ok(Lines) }
//! # }
//! # impl Encoder for Lines {
//! #     fn write_batch(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError> {
//! #         let mut text = TextFormatter::new();
//! #         for row in 0..batch.rows() { out.write_str(text.value(batch.value(row, 0)).unwrap_or("")); out.write_str("\n"); }
//! #         Ok(())
//! #     }
//! #     fn finish(self, _: &mut Output) -> Result<(), FormatError> { Ok(()) }
//! # }
//!
//! testing::check_info::<Lines>().unwrap();
//! let columns = [Column::new("n", ColumnType::Int64)];
//! let batch = TestBatch::new(2).int64(&[Some(1), None]);
//! let bytes = testing::run::<Lines>(&columns, &[], &[batch]).unwrap();
//! assert_eq!(bytes, b"1\n\n");
//! ```

use crate::bindings::exporter::formatter::types as wit;
use crate::session::Session;
use crate::{Column, ExportContext, Format, FormatError, Options, Output};

/// A batch to feed [`run`], built column by column. Each column method
/// takes one `Option` per row (`None` for null).
///
/// Nothing checks that the columns match the row count or the schema: a
/// mismatched `TestBatch` reaches the format as the host's malformed batch
/// would, and [`run`] returns the SDK's [`FormatError::InvalidData`].
#[derive(Clone)]
pub struct TestBatch {
    batch: wit::Batch,
}

impl std::fmt::Debug for TestBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBatch")
            .field("rows", &self.batch.rows)
            .field("columns", &self.batch.columns.len())
            .finish()
    }
}

impl TestBatch {
    /// A batch of `rows` rows and, so far, no columns.
    pub fn new(rows: u32) -> TestBatch {
        TestBatch {
            batch: wit::Batch {
                rows,
                columns: Vec::new(),
            },
        }
    }

    /// Add a boolean column.
    pub fn boolean(self, values: &[Option<bool>]) -> TestBatch {
        self.primitive(values, wit::ColumnValues::Boolean)
    }

    /// Add an int64 column.
    pub fn int64(self, values: &[Option<i64>]) -> TestBatch {
        self.primitive(values, wit::ColumnValues::Int64)
    }

    /// Add a float64 column.
    pub fn float64(self, values: &[Option<f64>]) -> TestBatch {
        self.primitive(values, wit::ColumnValues::Float64)
    }

    /// Add a date column (days since 1970-01-01).
    pub fn date(self, values: &[Option<i32>]) -> TestBatch {
        self.primitive(values, wit::ColumnValues::Date)
    }

    /// Add a timestamp column (microseconds since the epoch).
    pub fn timestamp(self, values: &[Option<i64>]) -> TestBatch {
        self.primitive(values, wit::ColumnValues::Timestamp)
    }

    /// Add a decimal column.
    pub fn decimal(self, values: &[Option<&str>]) -> TestBatch {
        self.text_shaped(values, wit::ColumnValues::Decimal)
    }

    /// Add a text column.
    pub fn text(self, values: &[Option<&str>]) -> TestBatch {
        self.text_shaped(values, wit::ColumnValues::Text)
    }

    /// Add a json column.
    pub fn json(self, values: &[Option<&str>]) -> TestBatch {
        self.text_shaped(values, wit::ColumnValues::Json)
    }

    fn primitive<T: Copy + Default>(
        self,
        values: &[Option<T>],
        wrap: fn(Vec<T>) -> wit::ColumnValues,
    ) -> TestBatch {
        let data = values.iter().map(|v| v.unwrap_or_default()).collect();
        self.push(wrap(data), values)
    }

    fn text_shaped(
        self,
        values: &[Option<&str>],
        wrap: fn(wit::TextValues) -> wit::ColumnValues,
    ) -> TestBatch {
        let mut data = Vec::new();
        let mut offsets = Vec::with_capacity(values.len() + 1);
        offsets.push(0);
        for value in values {
            data.extend_from_slice(value.unwrap_or_default().as_bytes());
            offsets.push(u32::try_from(data.len()).expect("test batch text over 4 GiB"));
        }
        self.push(wrap(wit::TextValues { data, offsets }), values)
    }

    fn push<T>(mut self, values: wit::ColumnValues, validity: &[Option<T>]) -> TestBatch {
        let validity = validity.iter().any(Option::is_none).then(|| {
            let mut bits = vec![0u8; validity.len().div_ceil(8)];
            for (row, value) in validity.iter().enumerate() {
                if value.is_some() {
                    bits[row / 8] |= 1 << (row % 8);
                }
            }
            bits
        });
        self.batch
            .columns
            .push(wit::ColumnData { values, validity });
        self
    }
}

/// Run `F` on `columns` with `options` (name/value pairs as a user gives
/// them) over `batches`, and return the file it writes. The export context
/// is [`ExportContext::default`].
pub fn run<F: Format>(
    columns: &[Column],
    options: &[(&str, &str)],
    batches: &[TestBatch],
) -> Result<Vec<u8>, FormatError> {
    run_with_context::<F>(columns, options, &ExportContext::default(), batches)
}

/// [`run`] with a given export context.
pub fn run_with_context<F: Format>(
    columns: &[Column],
    options: &[(&str, &str)],
    context: &ExportContext,
    batches: &[TestBatch],
) -> Result<Vec<u8>, FormatError> {
    run_chunked::<F>(columns, options, context, batches).map(|(bytes, _)| bytes)
}

/// [`run_with_context`], also returning the size of each chunk the host
/// would have received.
pub fn run_chunked<F: Format>(
    columns: &[Column],
    options: &[(&str, &str)],
    context: &ExportContext,
    batches: &[TestBatch],
) -> Result<(Vec<u8>, Vec<usize>), FormatError> {
    let mut session = Session::<F>::open(
        columns.to_vec(),
        options.iter().copied(),
        context,
        Output::memory(),
    )?;
    for batch in batches {
        session.write_batch(&batch.batch)?;
    }
    Ok(session.finish()?.into_memory())
}

/// Check that `F::info()` is well formed: kebab-case names, a semver
/// version, a media type, an extension without a dot, options listed once
/// each with a valid default, choices exactly for choice options. Returns
/// every problem found, one per line.
pub fn check_info<F: Format>() -> Result<(), String> {
    let info = F::info();
    let mut problems = Vec::new();
    if !is_kebab(&info.name) {
        problems.push(format!("name {:?} is not lower-kebab-case", info.name));
    }
    if !is_semver(&info.version) {
        problems.push(format!("version {:?} is not semver", info.version));
    }
    let essence = info.media_type.split(';').next().unwrap_or_default().trim();
    if essence.split('/').filter(|part| !part.is_empty()).count() != 2 {
        problems.push(format!(
            "media type {:?} is not type/subtype",
            info.media_type
        ));
    }
    if info.file_extension.is_empty()
        || !info
            .file_extension
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
    {
        problems.push(format!(
            "file extension {:?} must be ASCII letters and digits, without the dot",
            info.file_extension
        ));
    }
    if info.description.trim().is_empty() {
        problems.push("description is empty".to_owned());
    }
    for spec in &info.options {
        if !is_kebab(&spec.name) {
            problems.push(format!("option {:?} is not lower-kebab-case", spec.name));
        }
        let is_choice = spec.kind == crate::OptionType::Choice;
        if is_choice == spec.choices.is_empty() {
            problems.push(format!(
                "option {:?}: choices must be listed for choice options and only for them",
                spec.name
            ));
        }
        if spec.description.trim().is_empty() {
            problems.push(format!("option {:?} has no description", spec.name));
        }
    }
    if let Err(error) = Options::parse(&info.options, std::iter::empty::<(&str, &str)>()) {
        problems.push(error.to_string());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn is_kebab(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn is_semver(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

/// The warnings reported on this thread ([`crate::warn`]) since the last
/// call, as (code, count, example): for a format's tests that it tells the
/// user what it changed.
#[cfg(not(target_arch = "wasm32"))]
pub fn take_warnings() -> Vec<(String, u64, String)> {
    crate::warnings::native::REPORTED.with_borrow_mut(std::mem::take)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_and_semver() {
        assert!(is_kebab("csv"));
        assert!(is_kebab("line-terminator"));
        assert!(is_kebab("utf8-bom2"));
        assert!(!is_kebab("Line"));
        assert!(!is_kebab("a--b"));
        assert!(!is_kebab("a-"));
        assert!(!is_kebab("1a"));
        assert!(!is_kebab("a_b"));
        assert!(is_semver("1.2.3"));
        assert!(is_semver("0.1.0-alpha.1+build"));
        assert!(!is_semver("1.2"));
        assert!(!is_semver("01.2.3"));
    }

    #[test]
    fn test_batch_validity() {
        let b = TestBatch::new(9).int64(&[
            Some(1),
            None,
            Some(3),
            None,
            None,
            None,
            None,
            None,
            Some(9),
        ]);
        let column = &b.batch.columns[0];
        assert_eq!(column.validity, Some(vec![0b0000_0101, 0b1]));
        let b = TestBatch::new(1).text(&[Some("x")]);
        assert_eq!(b.batch.columns[0].validity, None);
    }
}
