//! PDF table reports for Exporter, streamed page by page.
//!
//! The report is a table: the first page starts with a header block (the
//! export's title, `Generated <RFC 3339 time>` and its properties as
//! `key: value` lines, such as the filters behind it); every page repeats
//! the column names in a shaded header band and ends with a footer of the
//! title and `Page N of M`. Rows are shaded alternately (`zebra`), numbers
//! (int64, float64, decimal) are right-aligned, and text wider than its
//! column is cut short with `…`. A row is never split across pages.
//!
//! Cells: booleans `true`/`false`; integers in decimal; floats as the
//! shortest text that round-trips, `NaN`, `inf`, `-inf`; decimals, text and
//! json verbatim on one line (line breaks and other control characters
//! print as spaces); dates `YYYY-MM-DD`; timestamps RFC 3339 as the local
//! time in the export's time zone with its offset
//! (`2026-01-02T04:04:05+01:00`; in UTC, the default, `...Z`), as is the
//! header block's generation time; nulls as the `null` option (empty by
//! default). The zone comes from the context's `Time zone` property, which
//! the header block lists with the others.
//!
//! Column headings are the columns' names as the host passes them: with
//! `header=labels`, the default, it has put the labels there.
//!
//! Layout: column widths are fitted from the header and the first
//! [`SAMPLE_ROWS`] rows, which are held back until then; after that rows
//! stream. With `orientation=auto` the page turns landscape when the
//! table's natural width exceeds the portrait page. A table too wide for
//! the page even with every column at its minimum (about four characters)
//! wraps each row onto several lines, header included; see [`layout`]. A
//! table so wide that a header and one row do not fit on a page is refused
//! as an unsupported schema. An export without columns is refused too.
//!
//! Text: by default the embedded, subset Liberation Sans (SIL Open Font
//! License 1.1), which covers Latin, Greek and Cyrillic; characters it lacks
//! (CJK, emoji, ...) print as `?`. `font=helvetica` uses the standard
//! Helvetica instead (smaller files, Windows-1252 characters only).
//!
//! Streaming: pages are written as they fill; the plugin keeps only the
//! page in progress, object offsets, page ids and the set of glyphs used.
//! The page tree, the page total, the font subset, the document
//! information (title, producer, creation date = the export's
//! `generated_at`) and the cross-reference table come at the end.

#![deny(missing_docs)]

mod document;
mod font;
pub mod layout;
mod report;

use exporter_plugin_sdk::{
    Batch, Column, ColumnType, Encoder, ExportContext, Format, FormatError, FormatInfo, OptionSpec,
    Options, Output, TextFormatter, TimeZone, Value, header_option,
};

use crate::document::Document;
use crate::font::Font;
use crate::layout::{Geometry, Orientation, Paper, fit_columns};
use crate::report::{Heading, Report, Setup};

/// Rows held back to fit the column widths before the first page is drawn.
pub const SAMPLE_ROWS: usize = 100;

/// Sampled cells longer than this many characters are cut (and marked so
/// the cut shows as `…`): no column is wide enough to show more.
const SAMPLE_CELL_CHARS: usize = 2048;

/// The smallest and largest `font-size` accepted, in points.
const FONT_SIZES: std::ops::RangeInclusive<i64> = 5..=14;

/// The PDF format.
pub struct Pdf;

/// A PDF export in progress.
pub struct PdfEncoder {
    stage: Stage,
    text: TextFormatter,
    /// The zone timestamps are shown in.
    zone: TimeZone,
    null: String,
    /// The export's time, for the document's creation date.
    generated_at: i64,
}

enum Stage {
    /// Holding back the first rows to fit the columns.
    Sampling(Box<Sampling>),
    /// Laid out; rows go straight to pages.
    Writing(Box<Report>),
    /// Only between the two, while the report is being started.
    Switching,
}

struct Sampling {
    setup: Setup,
    paper: Paper,
    orientation: Orientation,
    font_size: f32,
    rows: Vec<Vec<SampleCell>>,
}

/// A sampled cell: its text (at most [`SAMPLE_CELL_CHARS`] characters) and
/// whether it was cut.
struct SampleCell {
    text: String,
    more: bool,
}

impl Format for Pdf {
    type Encoder = PdfEncoder;

    fn info() -> FormatInfo {
        FormatInfo {
            name: "pdf".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            media_type: "application/pdf".into(),
            file_extension: "pdf".into(),
            description:
                "A printable table report: title, filters, a header on every page, page numbers"
                    .into(),
            options: vec![
                OptionSpec::choice(
                    "page-size",
                    "a4",
                    ["a4", "letter"],
                    "Paper size: ISO A4 or US Letter",
                ),
                OptionSpec::choice(
                    "orientation",
                    "auto",
                    ["auto", "portrait", "landscape"],
                    "Page orientation; auto turns the page landscape when the table is wider than a portrait page",
                ),
                OptionSpec::choice(
                    "font",
                    "embedded",
                    ["embedded", "helvetica"],
                    "embedded: Liberation Sans, subset into the file (Latin, Greek, Cyrillic); helvetica: the standard font, not embedded (Windows-1252 characters only)",
                ),
                OptionSpec::integer("font-size", 8, "Body text size in points, 5 to 14"),
                OptionSpec::boolean("zebra", true, "Shade every other row"),
                OptionSpec::text("null", "", "How null cells are printed"),
                header_option("labels"),
            ],
        }
    }

    fn open(
        columns: &[Column],
        options: &Options,
        context: &ExportContext,
        out: &mut Output,
    ) -> Result<PdfEncoder, FormatError> {
        if columns.is_empty() {
            return Err(FormatError::UnsupportedSchema(
                "a PDF table needs at least one column".into(),
            ));
        }
        let font_size = options.integer("font-size")?;
        if !FONT_SIZES.contains(&font_size) {
            return Err(FormatError::InvalidOption(format!(
                "option \"font-size\" must be between {} and {}, got {font_size}",
                FONT_SIZES.start(),
                FONT_SIZES.end()
            )));
        }
        let paper = match options.choice("page-size")? {
            "a4" => Paper::A4,
            "letter" => Paper::Letter,
            other => return Err(unexpected_choice("page-size", other)),
        };
        let orientation = match options.choice("orientation")? {
            "auto" => Orientation::Auto,
            "portrait" => Orientation::Portrait,
            "landscape" => Orientation::Landscape,
            other => return Err(unexpected_choice("orientation", other)),
        };
        let font = match options.choice("font")? {
            "embedded" => Font::embedded()?,
            "helvetica" => Font::Helvetica(font::Missing::default()),
            other => return Err(unexpected_choice("font", other)),
        };

        let zone = context.time_zone()?;
        let mut text = TextFormatter::new();
        let heading = Heading {
            title: context.title.clone(),
            generated: format!(
                "Generated {}",
                text.timestamp_in(context.generated_at, &zone)
            ),
            properties: context
                .properties
                .iter()
                .map(|(key, value)| format!("{key}: {value}"))
                .collect(),
        };
        let mut doc = Document::start(out);
        Report::write_prelude(&mut doc, out);
        let setup = Setup {
            font,
            doc,
            names: columns.iter().map(|c| c.name.clone()).collect(),
            numeric: columns
                .iter()
                .map(|c| {
                    matches!(
                        c.kind,
                        ColumnType::Int64 | ColumnType::Float64 | ColumnType::Decimal
                    )
                })
                .collect(),
            heading,
            zebra: options.bool("zebra")?,
        };
        Ok(PdfEncoder {
            stage: Stage::Sampling(Box::new(Sampling {
                setup,
                paper,
                orientation,
                font_size: font_size as f32,
                rows: Vec::new(),
            })),
            text,
            zone,
            null: options.text("null")?.to_owned(),
            generated_at: context.generated_at,
        })
    }
}

impl Encoder for PdfEncoder {
    fn write_batch(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError> {
        for row in 0..batch.rows() {
            match &mut self.stage {
                Stage::Sampling(sampling) => {
                    let cells = (0..batch.column_count())
                        .map(|column| {
                            let value = show(&mut self.text, &self.zone, batch.value(row, column));
                            sample_cell(value.unwrap_or(&self.null))
                        })
                        .collect();
                    sampling.rows.push(cells);
                    if sampling.rows.len() >= SAMPLE_ROWS {
                        self.start(out)?;
                    }
                }
                Stage::Writing(report) => {
                    report.begin_row(out)?;
                    for column in 0..batch.column_count() {
                        let value = show(&mut self.text, &self.zone, batch.value(row, column));
                        report.cell(column, value.unwrap_or(&self.null), false);
                    }
                    report.end_row();
                }
                Stage::Switching => return Err(switching()),
            }
        }
        Ok(())
    }

    fn finish(mut self, out: &mut Output) -> Result<(), FormatError> {
        if matches!(self.stage, Stage::Sampling(_)) {
            self.start(out)?;
        }
        let Stage::Writing(report) = self.stage else {
            return Err(switching());
        };
        report.finish(creation_date(&mut self.text, self.generated_at), out)
    }
}

impl PdfEncoder {
    /// Fits the columns to the sample, starts the report and writes the
    /// sampled rows.
    fn start(&mut self, out: &mut Output) -> Result<(), FormatError> {
        let Stage::Sampling(sampling) = std::mem::replace(&mut self.stage, Stage::Switching) else {
            return Err(switching());
        };
        let Sampling {
            mut setup,
            paper,
            orientation,
            font_size,
            rows,
        } = *sampling;

        // Natural widths are measured at the body size; the orientation
        // depends on them, the minimum and maximum only on the size.
        let probe = Geometry::new(paper, Orientation::Portrait, font_size, 0.0);
        let units_per_point = f32::from(setup.font.units_per_em()) / font_size;
        let extra = 2.0 * probe.padding();
        let min = probe.min_column_width();
        // No column is wider than a landscape page, so stop measuring there.
        let limit = (paper.portrait().1 * units_per_point) as u32;
        let natural: Vec<f32> = setup
            .names
            .iter()
            .enumerate()
            .map(|(column, name)| {
                let header = setup.font.measure(name, limit);
                let widest = rows
                    .iter()
                    .map(|row| setup.font.measure(&row[column].text, limit))
                    .fold(header, u32::max);
                (widest as f32 / units_per_point + extra).max(min)
            })
            .collect();
        let geometry = Geometry::new(paper, orientation, font_size, natural.iter().sum());
        let available = geometry.body_width();
        let natural: Vec<f32> = natural.iter().map(|w| w.min(available)).collect();
        let columns = fit_columns(&natural, min, available);

        let mut report = Report::start(setup, geometry, &columns)?;
        for row in &rows {
            report.begin_row(out)?;
            for (column, cell) in row.iter().enumerate() {
                report.cell(column, &cell.text, cell.more);
            }
            report.end_row();
        }
        self.stage = Stage::Writing(Box::new(report));
        Ok(())
    }
}

/// A cell's text; `None` for a null. Timestamps are the wall clock in
/// `zone`, with its offset.
fn show<'a>(text: &'a mut TextFormatter, zone: &TimeZone, value: Value<'a>) -> Option<&'a str> {
    match value {
        Value::Timestamp(micros) => Some(text.timestamp_in(micros, zone)),
        value => text.value(value),
    }
}

fn sample_cell(text: &str) -> SampleCell {
    match text.char_indices().nth(SAMPLE_CELL_CHARS) {
        Some((end, _)) => SampleCell {
            text: text[..end].to_owned(),
            more: true,
        },
        None => SampleCell {
            text: text.to_owned(),
            more: false,
        },
    }
}

/// The export's `generated_at` as a PDF date, when its year has four
/// digits (the only years a PDF date can hold).
fn creation_date(text: &mut TextFormatter, micros: i64) -> Option<pdf_writer::Date> {
    // `YYYY-MM-DDTHH:MM:SS...Z`; the formatter has the calendar arithmetic.
    let stamp = text.timestamp(micros).as_bytes();
    let field = |at: usize, len: usize| -> Option<u16> {
        let digits = stamp.get(at..at + len)?;
        digits.iter().try_fold(0u16, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u16::from(d - b'0'))
        })
    };
    if stamp.get(4) != Some(&b'-') {
        return None;
    }
    Some(
        pdf_writer::Date::new(field(0, 4)?)
            .month(field(5, 2)? as u8)
            .day(field(8, 2)? as u8)
            .hour(field(11, 2)? as u8)
            .minute(field(14, 2)? as u8)
            .second(field(17, 2)? as u8)
            .utc_offset_hour(0)
            .utc_offset_minute(0),
    )
}

/// The SDK only passes listed choices; reaching this means `info()` and the
/// match disagree.
fn unexpected_choice(option: &str, value: &str) -> FormatError {
    FormatError::Other(format!("format bug: unhandled {option} {value:?}"))
}

fn switching() -> FormatError {
    FormatError::Other("format bug: the report was left half started".into())
}

exporter_plugin_sdk::export_format!(Pdf);

#[cfg(test)]
mod tests;
