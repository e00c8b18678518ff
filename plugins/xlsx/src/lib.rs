//! XLSX (Office Open XML workbooks) for Exporter, streamed.
//!
//! Rows become sheet XML as they arrive and go straight through deflate
//! into a streaming ZIP entry ([`zip`]), so memory stays flat however many
//! rows: the plugin keeps the XML of the current rows, deflate's window,
//! and one small record per finished part. The workbook, styles,
//! relationships, properties and content types are written at finish
//! ([`parts`]).
//!
//! Cells are typed ([`cells`]): numbers as numbers, booleans as booleans,
//! dates and timestamps as Excel date serials with a date number format
//! (as ISO text before 1900-03-01, where Excel and LibreOffice disagree);
//! integers beyond 2^53 and decimals beyond 15 significant digits as text so
//! no digit is lost; NaN and infinities as text; strings inline, cut at
//! Excel's 32,767-character limit. The header row is bold, frozen and
//! carries an autofilter; column widths are fitted to the header and the
//! first 100 rows (which are held back, as XML, until then).
//!
//! Excel has no time zones: a timestamp cell holds the wall-clock time in
//! the export's time zone (the context's `Time zone`, UTC without one).
//! When that is not UTC the workbook says so: its description (document
//! properties) names the zone, and so do the headings of timestamp columns
//! when the headings are labels for people (`header=labels`, the default).
//!
//! A sheet holds at most 1,048,576 rows (Excel's limit, header included);
//! past that the export continues on "Data (2)", "Data (3)", ... with the
//! header repeated. It also rolls over before a sheet's XML nears 4 GiB,
//! because the archive is never ZIP64.

use exporter_plugin_sdk::{
    Batch, Column, ColumnType, Encoder, ExportContext, Format, FormatError, FormatInfo,
    HEADER_OPTION, Level, OptionSpec, Options, Output, TextFormatter, TimeZone, Value, log,
};

mod cells;
mod parts;
mod time;
mod zip;

use cells::CellWriter;
use parts::SheetEntry;
use zip::{Archive, EntryWriter};

/// Excel's row limit per sheet.
const EXCEL_MAX_ROWS: i64 = 1_048_576;
/// Excel's column limit (`XFD`).
const EXCEL_MAX_COLUMNS: usize = 16_384;
/// Excel's limit on a sheet name's length.
const MAX_SHEET_NAME: usize = 31;
/// Rows measured for column widths before the first sheet is started.
const SAMPLE_ROWS: usize = 100;
/// Sheet XML is handed to deflate in pieces of about this size.
const FLUSH_AT: usize = 256 << 10;
/// A sheet whose XML passes this rolls over: one ZIP entry must stay under
/// 4 GiB, with room for the row being written and the sheet's end.
const MAX_SHEET_BYTES: u64 = (4 << 30) - (64 << 20);
/// Column widths, in Excel's units (characters of the default font).
const MIN_WIDTH: f64 = 6.0;
const MAX_WIDTH: f64 = 60.0;

/// The XLSX format.
pub struct Xlsx;

/// The options, checked.
struct Settings {
    sheet_name: String,
    header: bool,
    freeze_header: bool,
    autofilter: bool,
    date_format: String,
    timestamp_format: String,
    /// Rows per sheet, header included.
    max_rows: u64,
}

/// An XLSX export in progress.
pub struct XlsxEncoder {
    settings: Settings,
    columns: Vec<Column>,
    /// The header row's text, one per column.
    headings: Vec<String>,
    title: String,
    /// The zone timestamps are shown in.
    zone: TimeZone,
    generated_at: i64,
    archive: Archive,
    cells: CellWriter,
    /// Sheet XML not yet handed to deflate.
    xml: Vec<u8>,
    /// The current sheet's ZIP entry; `None` until the column widths are
    /// settled (after [`SAMPLE_ROWS`] rows or at finish).
    sheet: Option<EntryWriter>,
    /// Rows in the current sheet, header included.
    sheet_rows: u64,
    /// Sheets already closed.
    done: Vec<SheetEntry>,
    /// Widest rendering per column so far, in characters.
    widths: Vec<usize>,
    /// Data rows measured for `widths`.
    sampled: usize,
    /// Data rows written, for the row numbers in warnings.
    data_rows: u64,
    /// Cut cells already reported to the host one by one, with an example.
    truncations_reported: u64,
}

impl Format for Xlsx {
    type Encoder = XlsxEncoder;

    fn info() -> FormatInfo {
        FormatInfo {
            name: "xlsx".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            media_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".into(),
            file_extension: "xlsx".into(),
            description: "An Excel workbook with typed cells, a bold frozen header and an autofilter; more than 1,048,576 rows continue on further sheets".into(),
            options: vec![
                OptionSpec::text("sheet-name", "Data", "Name of the first sheet; further sheets add \" (2)\", \" (3)\", ... (at most 31 characters, none of []:*?/\\)"),
                // Was a boolean; `true` and `false` still mean what they did.
                OptionSpec::choice(HEADER_OPTION, "labels", ["names", "labels", "true", "false"], "The first row of each sheet: the dataset's column names, or their labels for people (applied by the host); false for none, true for names"),
                OptionSpec::boolean("freeze-header", true, "Keep the header row in view while scrolling"),
                OptionSpec::boolean("autofilter", true, "Put filter buttons on the header row"),
                OptionSpec::integer("compression-level", 3, "Deflate level, 1 (fastest) to 9 (smallest)"),
                OptionSpec::text("date-format", "yyyy-mm-dd", "Excel number format for date columns"),
                OptionSpec::text("timestamp-format", "yyyy-mm-dd hh:mm:ss", "Excel number format for timestamp columns (local time in the export's time zone, UTC unless it names one)"),
                OptionSpec::integer("max-rows-per-sheet", EXCEL_MAX_ROWS, "Rows per sheet, header included, before continuing on a new sheet (2 to 1048576)"),
            ],
        }
    }

    fn open(
        columns: &[Column],
        options: &Options,
        context: &ExportContext,
        _out: &mut Output,
    ) -> Result<XlsxEncoder, FormatError> {
        if columns.len() > EXCEL_MAX_COLUMNS {
            return Err(FormatError::UnsupportedSchema(format!(
                "{} columns; a sheet holds at most {EXCEL_MAX_COLUMNS}",
                columns.len()
            )));
        }
        let settings = Settings::from_options(options)?;
        let level = options.integer("compression-level")?;
        if !(1..=9).contains(&level) {
            return Err(FormatError::InvalidOption(format!(
                "option \"compression-level\" must be from 1 to 9, got {level}"
            )));
        }
        let zone = context.time_zone()?;
        // Labels are for people, who need the zone next to the times;
        // programs reading names need the names as they are.
        let zoned_headings = options.choice(HEADER_OPTION)? == "labels";
        let headings: Vec<String> = columns
            .iter()
            .map(|c| {
                if zoned_headings && !zone.is_utc() && c.kind == ColumnType::Timestamp {
                    format!("{} ({})", c.name, zone.name())
                } else {
                    c.name.clone()
                }
            })
            .collect();
        let mut encoder = XlsxEncoder {
            widths: headings
                .iter()
                .map(|heading| {
                    if settings.header {
                        cells::display_width(heading)
                    } else {
                        0
                    }
                })
                .collect(),
            settings,
            columns: columns.to_vec(),
            headings,
            title: context.title.clone(),
            generated_at: context.generated_at,
            archive: Archive::new(context.generated_at, level as u32),
            cells: CellWriter::new(zone.clone()),
            zone,
            xml: Vec::with_capacity(FLUSH_AT + (64 << 10)),
            sheet: None,
            sheet_rows: 0,
            done: Vec::new(),
            sampled: 0,
            data_rows: 0,
            truncations_reported: 0,
        };
        encoder.header_row();
        Ok(encoder)
    }
}

impl Settings {
    fn from_options(options: &Options) -> Result<Settings, FormatError> {
        let sheet_name = options.text("sheet-name")?;
        check_sheet_name(sheet_name)?;
        let max_rows = options.integer("max-rows-per-sheet")?;
        if !(2..=EXCEL_MAX_ROWS).contains(&max_rows) {
            return Err(FormatError::InvalidOption(format!(
                "option \"max-rows-per-sheet\" must be from 2 to {EXCEL_MAX_ROWS}, got {max_rows}"
            )));
        }
        let number_format = |name: &str| -> Result<String, FormatError> {
            let format = options.text(name)?;
            if format.is_empty() || format.chars().count() > 255 {
                return Err(FormatError::InvalidOption(format!(
                    "option \"{name}\" must be an Excel number format of 1 to 255 characters"
                )));
            }
            Ok(format.to_owned())
        };
        let header = options.choice(HEADER_OPTION)? != "false";
        Ok(Settings {
            sheet_name: sheet_name.to_owned(),
            header,
            // Both describe the header row; without one there is nothing to
            // freeze or filter on.
            freeze_header: header && options.bool("freeze-header")?,
            autofilter: header && options.bool("autofilter")?,
            date_format: number_format("date-format")?,
            timestamp_format: number_format("timestamp-format")?,
            max_rows: max_rows as u64,
        })
    }

    /// The name of sheet `number` (from 1).
    fn sheet_name(&self, number: usize) -> String {
        if number == 1 {
            return self.sheet_name.clone();
        }
        let suffix = format!(" ({number})");
        let room = MAX_SHEET_NAME - suffix.chars().count();
        let base: String = self.sheet_name.chars().take(room).collect();
        format!("{base}{suffix}")
    }
}

fn check_sheet_name(name: &str) -> Result<(), FormatError> {
    let problem = if name.is_empty() {
        Some("is empty".to_owned())
    } else if name.chars().count() > MAX_SHEET_NAME {
        Some(format!("is longer than {MAX_SHEET_NAME} characters"))
    } else if let Some(c) = name
        .chars()
        .find(|c| "[]:*?/\\".contains(*c) || c.is_control())
    {
        Some(format!("contains {c:?}, which Excel does not allow"))
    } else if name.starts_with('\'') || name.ends_with('\'') {
        Some("starts or ends with an apostrophe, which Excel does not allow".to_owned())
    } else if name.eq_ignore_ascii_case("history") {
        Some("is reserved by Excel".to_owned())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(FormatError::InvalidOption(format!(
            "option \"sheet-name\" {problem}: {name:?}"
        ))),
        None => Ok(()),
    }
}

impl XlsxEncoder {
    /// Appends the header row to the current sheet, if there is one.
    fn header_row(&mut self) {
        if !self.settings.header {
            return;
        }
        self.start_row();
        for heading in &self.headings {
            cells::header_cell(&mut self.xml, heading);
        }
        self.xml.extend_from_slice(b"</row>");
    }

    /// Opens the next row of the current sheet.
    #[inline]
    fn start_row(&mut self) {
        self.sheet_rows += 1;
        self.xml.extend_from_slice(b"<row r=\"");
        self.xml
            .extend_from_slice(itoa::Buffer::new().format(self.sheet_rows).as_bytes());
        self.xml.extend_from_slice(b"\">");
    }

    /// Starts the current sheet's ZIP entry, now that widths are known.
    fn start_sheet(&mut self, out: &mut Output) -> Result<(), FormatError> {
        let number = self.done.len() + 1;
        let mut entry = self.archive.start(&parts::sheet_path(number), out)?;
        let widths: Vec<f64> = self
            .widths
            .iter()
            .map(|&chars| (chars as f64 + 2.0).clamp(MIN_WIDTH, MAX_WIDTH))
            .collect();
        let start = parts::sheet_start(number == 1, self.settings.freeze_header, &widths);
        entry.write(start.as_bytes(), out)?;
        self.sheet = Some(entry);
        Ok(())
    }

    /// Hands the pending XML to the current sheet's entry.
    fn flush(&mut self, out: &mut Output) -> Result<(), FormatError> {
        if self.sheet.is_none() {
            self.start_sheet(out)?;
        }
        let entry = self.sheet.as_mut().expect("started above");
        entry.write(&self.xml, out)?;
        // Fail now rather than at the central directory after all the work.
        zip::check_room(out)?;
        self.xml.clear();
        Ok(())
    }

    /// Closes the current sheet.
    fn end_sheet(&mut self, out: &mut Output) -> Result<(), FormatError> {
        self.flush(out)?;
        let filter = (self.settings.autofilter && !self.columns.is_empty())
            .then(|| parts::filter_range(self.columns.len(), self.sheet_rows));
        let mut entry = self.sheet.take().expect("flushed into a sheet");
        entry.write(parts::sheet_end(filter.as_deref()).as_bytes(), out)?;
        self.archive.finish_entry(entry, out)?;
        self.done.push(SheetEntry {
            name: self.settings.sheet_name(self.done.len() + 1),
            filter,
        });
        Ok(())
    }

    /// Continues on a new sheet, header repeated.
    fn roll_over(&mut self, out: &mut Output) -> Result<(), FormatError> {
        self.end_sheet(out)?;
        self.sheet_rows = 0;
        self.header_row();
        self.start_sheet(out)
    }

    fn sheet_is_full(&self) -> bool {
        self.sheet_rows >= self.settings.max_rows
            || self
                .sheet
                .as_ref()
                .is_some_and(|s| s.uncompressed() + self.xml.len() as u64 > MAX_SHEET_BYTES)
    }
}

/// The warning code for a cell cut at Excel's limit.
const CELL_TRUNCATED: &str = "cell-truncated";
/// Cut cells reported with their row and column; the rest only counted.
const TRUNCATION_EXAMPLES: u64 = 5;

impl XlsxEncoder {
    /// Tells the user which cells of data row `row` of `batch` (the
    /// export's row `self.data_rows`) were cut, while examples are wanted.
    /// Off the hot path: called only for a row with a cut cell.
    fn report_truncations(&mut self, batch: &Batch<'_>, row: usize) {
        for (column, spec) in self.columns.iter().enumerate() {
            if self.truncations_reported == TRUNCATION_EXAMPLES {
                return;
            }
            let (Value::Text(text) | Value::Decimal(text) | Value::Json(text)) =
                batch.value(row, column)
            else {
                continue;
            };
            // Excel counts UTF-16 units, as the cut does.
            let chars = text.encode_utf16().count();
            if chars > cells::MAX_CELL_CHARS {
                self.truncations_reported += 1;
                exporter_plugin_sdk::warn(
                    CELL_TRUNCATED,
                    1,
                    &format!(
                        "row {}, column {}: {chars} characters cut to Excel's {} per cell",
                        self.data_rows,
                        spec.name,
                        cells::MAX_CELL_CHARS
                    ),
                );
            }
        }
    }
}

impl Encoder for XlsxEncoder {
    fn write_batch(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError> {
        for row in 0..batch.rows() {
            if self.sheet_is_full() {
                self.roll_over(out)?;
            }
            self.start_row();
            let truncated_before = self.cells.truncated;
            if self.sampled < SAMPLE_ROWS {
                for (column, width) in self.widths.iter_mut().enumerate() {
                    let shown = self.cells.write(&mut self.xml, batch.value(row, column));
                    *width = (*width).max(shown);
                }
                self.sampled += 1;
            } else {
                for column in 0..batch.column_count() {
                    self.cells.write(&mut self.xml, batch.value(row, column));
                }
            }
            self.xml.extend_from_slice(b"</row>");
            self.data_rows += 1;
            if self.cells.truncated != truncated_before {
                self.report_truncations(batch, row);
            }
            if self.xml.len() >= FLUSH_AT || self.sampled == SAMPLE_ROWS && self.sheet.is_none() {
                self.flush(out)?;
            }
        }
        Ok(())
    }

    fn finish(mut self, out: &mut Output) -> Result<(), FormatError> {
        self.end_sheet(out)?;
        let sheets = self.done.len();
        let version = env!("CARGO_PKG_VERSION");
        let created = TextFormatter::new()
            .timestamp(self.generated_at - self.generated_at.rem_euclid(1_000_000))
            .to_owned();
        let archive = &mut self.archive;
        archive.add(
            "xl/workbook.xml",
            parts::workbook(&self.done).as_bytes(),
            out,
        )?;
        archive.add(
            "xl/_rels/workbook.xml.rels",
            parts::workbook_relationships(sheets).as_bytes(),
            out,
        )?;
        archive.add(
            "xl/styles.xml",
            parts::styles(&self.settings.date_format, &self.settings.timestamp_format).as_bytes(),
            out,
        )?;
        let description = (!self.zone.is_utc())
            .then(|| format!("Timestamps are local times in {}", self.zone.name()));
        archive.add(
            "docProps/core.xml",
            parts::core_properties(&self.title, &created, description.as_deref()).as_bytes(),
            out,
        )?;
        archive.add(
            "docProps/app.xml",
            parts::app_properties(version).as_bytes(),
            out,
        )?;
        archive.add(
            "_rels/.rels",
            parts::package_relationships().as_bytes(),
            out,
        )?;
        archive.add(
            "[Content_Types].xml",
            parts::content_types(sheets).as_bytes(),
            out,
        )?;
        // The cells past the first examples, counted at once.
        let unreported = self.cells.truncated - self.truncations_reported;
        if unreported > 0 {
            exporter_plugin_sdk::warn(CELL_TRUNCATED, unreported, "");
        }
        if self.cells.truncated > 0 {
            log(
                Level::Warn,
                &format!(
                    "{} cells were longer than Excel's {} characters and were cut",
                    self.cells.truncated,
                    cells::MAX_CELL_CHARS
                ),
            );
        }
        self.archive.finish(out)
    }
}

exporter_plugin_sdk::export_format!(Xlsx);

#[cfg(test)]
mod tests;
