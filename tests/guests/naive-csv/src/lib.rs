//! A CSV plugin with four classic bugs, for the conformance kit's own test:
//! it never quotes, it writes the header once per batch instead of once per
//! file, it holds the whole file until `finish`, and it does not describe
//! itself. Each bug is a kit case that must fail.

use exporter_plugin_sdk::{
    Batch, Column, Encoder, ExportContext, Format, FormatError, FormatInfo, Options, Output,
    TextFormatter,
};

pub struct NaiveCsv;

impl Format for NaiveCsv {
    type Encoder = NaiveEncoder;

    fn info() -> FormatInfo {
        FormatInfo {
            name: "naive-csv".into(),
            version: "0.0.1".into(),
            media_type: "text/csv".into(),
            file_extension: "csv".into(),
            // Bug: nothing for the API's format list to show.
            description: String::new(),
            options: vec![],
        }
    }

    fn open(
        columns: &[Column],
        _options: &Options,
        _context: &ExportContext,
        _out: &mut Output,
    ) -> Result<NaiveEncoder, FormatError> {
        Ok(NaiveEncoder {
            header: columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
            text: TextFormatter::new(),
            file: String::new(),
        })
    }
}

pub struct NaiveEncoder {
    header: String,
    text: TextFormatter,
    /// Bug: the whole file, held until finish.
    file: String,
}

impl Encoder for NaiveEncoder {
    fn write_batch(&mut self, batch: &Batch<'_>, _out: &mut Output) -> Result<(), FormatError> {
        // Bug: a header per batch, so the output depends on batch sizes.
        self.file.push_str(&self.header);
        self.file.push_str("\r\n");
        for row in 0..batch.rows() {
            for column in 0..batch.column_count() {
                if column > 0 {
                    self.file.push(',');
                }
                // Bug: no quoting of commas, quotes or line breaks.
                self.file
                    .push_str(self.text.value(batch.value(row, column)).unwrap_or(""));
            }
            self.file.push_str("\r\n");
        }
        Ok(())
    }

    fn finish(self, out: &mut Output) -> Result<(), FormatError> {
        if self.file.is_empty() {
            out.write_str(&self.header);
            out.write_str("\r\n");
        }
        out.write_str(&self.file);
        Ok(())
    }
}

exporter_plugin_sdk::export_format!(NaiveCsv);
