//! A tab-separated writer built with raw `wit-bindgen` against the frozen
//! text of `exporter:formatter@1.0.0` (`wit/formatter.wit` here, copied
//! from the release that introduced it), not against the SDK: it is what a
//! third party's plugin built before 1.1.0 looks like. A 1.1.0 host must
//! load it, record its contract as 1.0.0, and run exports through it
//! unchanged.

wit_bindgen::generate!({
    path: "wit",
    world: "plugin",
});

use std::cell::RefCell;

use exporter::formatter::sink;
use exporter::formatter::types::{
    Batch, Column, ColumnValues, ExportContext, FormatError, FormatInfo, Level, OptionValue,
    TextValues,
};
use exports::exporter::formatter::formatter::{Guest, GuestWriter, Writer};

struct Legacy;

impl Guest for Legacy {
    type Writer = LegacyWriter;

    fn info() -> FormatInfo {
        FormatInfo {
            name: "contract-1-0".into(),
            version: "1.0.0".into(),
            media_type: "text/tab-separated-values".into(),
            file_extension: "tsv".into(),
            description: "Tab-separated values, built against exporter:formatter@1.0.0".into(),
            options: Vec::new(),
        }
    }
}

struct LegacyWriter {
    rows: RefCell<u64>,
}

impl GuestWriter for LegacyWriter {
    fn open(
        columns: Vec<Column>,
        options: Vec<OptionValue>,
        _context: ExportContext,
    ) -> Result<Writer, FormatError> {
        if let Some(option) = options.first() {
            return Err(FormatError::InvalidOption(format!(
                "unknown option {:?}: this format has none",
                option.name
            )));
        }
        if columns.is_empty() {
            return Err(FormatError::UnsupportedSchema("no columns".into()));
        }
        let header: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        sink::write(format!("{}\n", header.join("\t")).as_bytes());
        Ok(Writer::new(LegacyWriter {
            rows: RefCell::new(0),
        }))
    }

    fn write_batch(&self, batch: Batch) -> Result<(), FormatError> {
        let mut out = String::new();
        for row in 0..batch.rows as usize {
            for (i, column) in batch.columns.iter().enumerate() {
                if i > 0 {
                    out.push('\t');
                }
                let present = column
                    .validity
                    .as_ref()
                    .is_none_or(|bits| bits[row / 8] & (1 << (row % 8)) != 0);
                if present {
                    push_value(&mut out, &column.values, row);
                }
            }
            out.push('\n');
        }
        *self.rows.borrow_mut() += u64::from(batch.rows);
        sink::write(out.as_bytes());
        Ok(())
    }

    fn finish(&self) -> Result<(), FormatError> {
        sink::log(Level::Info, &format!("wrote {} rows", self.rows.borrow()));
        Ok(())
    }
}

/// One value as text; tabs and newlines in text become spaces, which is
/// this test format's whole escaping.
fn push_value(out: &mut String, values: &ColumnValues, row: usize) {
    let text = |values: &TextValues| {
        let (start, end) = (
            values.offsets[row] as usize,
            values.offsets[row + 1] as usize,
        );
        String::from_utf8_lossy(&values.data[start..end]).replace(['\t', '\n', '\r'], " ")
    };
    let value = match values {
        ColumnValues::Boolean(v) => v[row].to_string(),
        ColumnValues::Int64(v) => v[row].to_string(),
        ColumnValues::Float64(v) => v[row].to_string(),
        ColumnValues::Decimal(v) | ColumnValues::Text(v) | ColumnValues::Json(v) => text(v),
        ColumnValues::Date(v) => v[row].to_string(),
        ColumnValues::Timestamp(v) => v[row].to_string(),
    };
    out.push_str(&value);
}

export!(Legacy);
