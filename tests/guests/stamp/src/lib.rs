//! A plain-text format that stamps its version on every file, so a test can
//! tell from the bytes alone which version of a plugin wrote them. Built in
//! several versions (cargo features, see Cargo.toml) for the registry's
//! hot-swap and rollback tests. Never ship it.
//!
//! Output: `stamp <version>` on the first line, then each row's first
//! column as text (null: empty), one per line.

use exporter_plugin_sdk::{
    Batch, Column, Encoder, ExportContext, Format, FormatError, FormatInfo, Options, Output,
    TextFormatter,
};

/// The stamp test format.
pub struct Stamp;

const VERSION: &str = if cfg!(feature = "html") {
    "4.0.0"
} else if cfg!(feature = "trap-on-users") {
    "3.0.0"
} else if cfg!(feature = "v2") {
    "2.0.0"
} else {
    "1.0.0"
};

/// Markup where a console shows text (the `html` variant).
const HTML_DESCRIPTION: &str =
    "Stamp <script>window.pwned = 'description'</script><b>bold?</b> & <i>more</i>";
const HTML_ERROR: &str = "<img src=x onerror=\"window.pwned = 'error'\"><script>window.pwned = 'error'</script><b>not bold</b>";

/// A stamp export in progress.
pub struct StampEncoder {
    text: TextFormatter,
}

impl Format for Stamp {
    type Encoder = StampEncoder;

    fn info() -> FormatInfo {
        FormatInfo {
            name: "stamp".into(),
            version: VERSION.into(),
            media_type: "text/plain; charset=utf-8".into(),
            file_extension: "txt".into(),
            description: if cfg!(feature = "html") {
                HTML_DESCRIPTION
            } else {
                "Test plugin: first column per line, under a version stamp"
            }
            .into(),
            options: Vec::new(),
        }
    }

    fn open(
        columns: &[Column],
        _options: &Options,
        _context: &ExportContext,
        out: &mut Output,
    ) -> Result<StampEncoder, FormatError> {
        // A users export has an `email` column; no fixture of the kit does,
        // and the kit varies titles and data types (so "Users" would not do).
        if cfg!(feature = "trap-on-users") && columns.iter().any(|c| c.name == "email") {
            panic!("stamp {VERSION} crashes on users exports on purpose");
        }
        if cfg!(feature = "html") && columns.iter().any(|c| c.name == "email") {
            return Err(FormatError::UnsupportedSchema(HTML_ERROR.into()));
        }
        if columns.is_empty() {
            return Err(FormatError::UnsupportedSchema(
                "stamp writes the first column; there is none".into(),
            ));
        }
        out.write_str("stamp ");
        out.write_str(VERSION);
        out.write_str("\n");
        Ok(StampEncoder {
            text: TextFormatter::new(),
        })
    }
}

impl Encoder for StampEncoder {
    fn write_batch(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError> {
        for row in 0..batch.rows() {
            out.write_str(self.text.value(batch.value(row, 0)).unwrap_or(""));
            out.write_str("\n");
        }
        Ok(())
    }

    fn finish(self, _out: &mut Output) -> Result<(), FormatError> {
        Ok(())
    }
}

exporter_plugin_sdk::export_format!(Stamp);
