//! The report itself: pages of a table, drawn into content streams and
//! written out as each page fills.
//!
//! A page is a content stream plus a page dictionary, both written when the
//! page is full. Every page draws the header band and a footer
//! `Page N of M`, where `M` is the form XObject [`PAGE_TOTAL`], written at
//! the end when the count is known. The first page also carries the header
//! block: the title, the generation time and the export's properties.
//!
//! Content-stream conventions: one text object per row (`BT ... ET`), each
//! cell placed with an absolute `Tm`, so no text state carries between
//! cells. The header band is "bold" by stroking the glyph outlines as well
//! as filling them (`2 Tr`), which needs no second font.

use exporter_plugin_sdk::{FormatError, Output};
use pdf_writer::types::ProcSet;
use pdf_writer::{Date, Filter, Name, Rect, Ref, TextStr};

use crate::document::{
    CATALOG, Deflater, Document, FONT, Objects, PAGE_TOTAL, PAGE_TREE, RESOURCES,
};
use crate::font::{Font, Run};
use crate::layout::{Columns, Geometry, MARGIN};

/// The most properties (filters) listed in the header block; more are
/// summarised in one line so the block cannot crowd out the table.
const MAX_PROPERTY_LINES: usize = 12;

/// Zebra fill for odd rows and the header band's fill, as gray levels.
const ZEBRA_GRAY: &[u8] = b"0.94";
const HEADER_GRAY: &[u8] = b"0.84";

/// The texts of the header block, already formatted.
pub struct Heading {
    /// The export's title (may be empty).
    pub title: String,
    /// `Generated <RFC 3339>`.
    pub generated: String,
    /// `key: value` lines.
    pub properties: Vec<String>,
}

/// How one column is drawn.
#[derive(Debug, Clone, Copy)]
struct Placement {
    /// Line of the band, from the top.
    line: usize,
    /// Left and right text edges, absolute (padding applied).
    left: f32,
    right: f32,
    /// The room for text, in font units.
    room: u32,
    /// Numbers align right.
    right_aligned: bool,
}

/// A report being written: layout, the page in progress and what the end
/// needs (page ids, the font's used glyphs).
pub struct Report {
    geometry: Geometry,
    lines: usize,
    placements: Vec<Placement>,
    /// Column names, drawn in the header band of every page.
    names: Vec<String>,
    heading: Heading,
    zebra: bool,
    font: Font,
    doc: Document,
    deflater: Deflater,
    /// Font units per point at the body size, to turn widths into room.
    units_per_point: f32,
    /// The page in progress: its content stream, how many rows it holds
    /// and how many fit, and the top of the next row.
    content: Vec<u8>,
    rows_on_page: usize,
    page_capacity: usize,
    next_top: f32,
    /// Ids of the pages written so far, for the page tree.
    pages: Vec<Ref>,
    rows: u64,
    run: Run,
    number: itoa::Buffer,
}

/// Everything fixed when the export opens, before any row is seen.
pub struct Setup {
    /// The font, with the glyphs measuring the sample has used.
    pub font: Font,
    /// The document, with its header written.
    pub doc: Document,
    /// Column names, in schema order.
    pub names: Vec<String>,
    /// Which columns are numbers (right-aligned).
    pub numeric: Vec<bool>,
    /// The header block's texts.
    pub heading: Heading,
    /// Shade every other row.
    pub zebra: bool,
}

impl Report {
    /// Lays out the table for `geometry` and `columns`, and starts the
    /// first page. Refuses a table so wide that one row and the header do
    /// not fit on a page.
    pub fn start(
        setup: Setup,
        geometry: Geometry,
        columns: &Columns,
    ) -> Result<Report, FormatError> {
        let Setup {
            font,
            doc,
            names,
            numeric,
            heading,
            zebra,
        } = setup;
        if geometry.rows_fitting(geometry.top(), columns.lines) == 0 {
            return Err(FormatError::UnsupportedSchema(format!(
                "{} columns need {} lines per row, more than a page holds at font size {}; \
                 use a smaller font-size or fewer columns",
                names.len(),
                columns.lines,
                geometry.font_size
            )));
        }
        let units_per_point = f32::from(font.units_per_em()) / geometry.font_size;
        let padding = geometry.padding();
        let placements = columns
            .slots
            .iter()
            .zip(&numeric)
            .map(|(slot, &right_aligned)| {
                let left = MARGIN + slot.x + padding;
                let right = MARGIN + slot.x + slot.width - padding;
                Placement {
                    line: slot.line,
                    left,
                    right,
                    // Rounded: a column fitted to its widest text must not
                    // lose that text to float error.
                    room: ((right - left).max(0.0) * units_per_point).round() as u32,
                    right_aligned,
                }
            })
            .collect();
        let mut report = Report {
            geometry,
            lines: columns.lines,
            placements,
            names,
            heading,
            zebra,
            font,
            doc,
            deflater: Deflater::new(),
            units_per_point,
            content: Vec::with_capacity(64 * 1024),
            rows_on_page: 0,
            page_capacity: 0,
            next_top: 0.0,
            pages: Vec::new(),
            rows: 0,
            run: Run::default(),
            number: itoa::Buffer::new(),
        };
        report.open_page();
        Ok(report)
    }

    /// Starts a row: breaks the page first if the row would not fit, so a
    /// row is never split. Follow with [`Report::cell`] per column and
    /// [`Report::end_row`].
    pub fn begin_row(&mut self, out: &mut Output) -> Result<(), FormatError> {
        if self.rows_on_page >= self.page_capacity {
            self.close_page(out)?;
            self.open_page();
        }
        let band = self.band_height();
        let bottom = self.next_top - band;
        if self.zebra && self.rows % 2 == 1 {
            self.fill_rect(ZEBRA_GRAY, bottom, band);
        }
        self.content.extend_from_slice(b"BT\n");
        self.set_font(self.geometry.font_size);
        Ok(())
    }

    /// Draws one cell of the current row: `text` fitted to the column,
    /// `more` when the caller already cut it short.
    #[inline]
    pub fn cell(&mut self, column: usize, text: &str, more: bool) {
        let Some(&placement) = self.placements.get(column) else {
            return;
        };
        self.font.fit(text, placement.room, more, &mut self.run);
        if self.run.glyphs.is_empty() {
            return;
        }
        let line_bottom = self.next_top - (placement.line + 1) as f32 * self.geometry.line_height();
        let x = if placement.right_aligned {
            placement.right - self.run.width as f32 / self.units_per_point
        } else {
            placement.left
        };
        self.show_run_at(x, self.geometry.baseline(line_bottom));
    }

    /// Ends the row started by [`Report::begin_row`].
    pub fn end_row(&mut self) {
        self.content.extend_from_slice(b"ET\n");
        self.next_top -= self.band_height();
        self.rows_on_page += 1;
        self.rows += 1;
    }

    /// Writes the last page, then everything that refers to all pages or
    /// to the glyphs used: the page tree, the page total, the font, the
    /// document information, and the cross-reference table.
    pub fn finish(
        mut self,
        generated_at: Option<Date>,
        out: &mut Output,
    ) -> Result<(), FormatError> {
        self.close_page(out)?;
        self.font.missing().report(self.font.name());

        let mut objects = Objects::new();
        objects
            .start(PAGE_TREE)
            .pages(PAGE_TREE)
            .kids(self.pages.iter().copied())
            .count(self.pages.len() as i32);
        self.doc.emit(out, &objects);

        // The total, drawn at the origin; each footer places it after "of ".
        let total = self.pages.len().to_string();
        let size = self.geometry.font_size;
        self.font.fit(&total, u32::MAX, false, &mut self.run);
        let width = self.run.width as f32 / self.units_per_point;
        self.content.clear();
        self.content.extend_from_slice(b"BT\n");
        self.set_font(size);
        self.show_run_at(0.0, 0.0);
        self.content.extend_from_slice(b"ET\n");
        let stream = self.deflater.deflate(&self.content)?;
        let mut objects = Objects::new();
        {
            let mut form = objects.start(PAGE_TOTAL).form_xobject(PAGE_TOTAL, stream);
            form.bbox(Rect::new(-1.0, -size, width + 1.0, size * 1.2));
            form.filter(Filter::FlateDecode);
            form.resources().fonts().pair(Name(b"F1"), FONT);
        }
        self.doc.emit(out, &objects);

        self.font
            .write(FONT, &mut self.doc, &mut self.deflater, out)?;

        let info = self.doc.alloc();
        let producer = format!("Exporter PDF plugin {}", env!("CARGO_PKG_VERSION"));
        let mut objects = Objects::new();
        {
            let mut dict = objects
                .start(info)
                .indirect(info)
                .start::<pdf_writer::writers::DocumentInfo>();
            if !self.heading.title.is_empty() {
                dict.title(TextStr(&self.heading.title));
            }
            dict.producer(TextStr(&producer));
            if let Some(date) = generated_at {
                dict.creation_date(date);
            }
        }
        self.doc.emit(out, &objects);
        self.doc.finish(out, info)
    }

    /// Writes the objects every page refers to that need nothing from the
    /// rows: the catalog and the shared resources.
    pub fn write_prelude(doc: &mut Document, out: &mut Output) {
        let mut objects = Objects::new();
        objects
            .start(CATALOG)
            .indirect(CATALOG)
            .start::<pdf_writer::writers::Catalog>()
            .pages(PAGE_TREE)
            .viewer_preferences()
            .display_doc_title(true);
        {
            let mut resources = objects
                .start(RESOURCES)
                .indirect(RESOURCES)
                .start::<pdf_writer::writers::Resources>();
            resources.fonts().pair(Name(b"F1"), FONT);
            resources.x_objects().pair(Name(b"T"), PAGE_TOTAL);
            resources.proc_sets([ProcSet::Pdf, ProcSet::Text]);
        }
        doc.emit(out, &objects);
    }

    fn band_height(&self) -> f32 {
        self.geometry.line_height() * self.lines as f32
    }

    /// Starts a page: header block (first page only) and header band.
    fn open_page(&mut self) {
        self.content.clear();
        let mut top = self.geometry.top();
        if self.pages.is_empty() {
            top = self.draw_heading(top);
        }
        self.draw_header_band(top);
        self.next_top = top - self.band_height();
        self.rows_on_page = 0;
        self.page_capacity = self.geometry.rows_fitting(top, self.lines);
    }

    /// Draws the header block from `top` down; returns where it ends.
    fn draw_heading(&mut self, top: f32) -> f32 {
        let g = self.geometry;
        let width = g.body_width();
        let mut y = top;
        self.content.extend_from_slice(b"BT\n");
        if !self.heading.title.is_empty() {
            y -= g.title_height();
            self.set_font(g.title_size());
            self.content.extend_from_slice(b"2 Tr 0.4 w\n");
            let room = (width * f32::from(self.font.units_per_em()) / g.title_size()) as u32;
            let title = std::mem::take(&mut self.heading.title);
            self.font.fit(&title, room, false, &mut self.run);
            self.heading.title = title;
            self.show_run_at(MARGIN, y + g.title_height() * 0.3);
            self.content.extend_from_slice(b"0 Tr\n");
        }
        self.set_font(g.font_size);
        let room = (width * self.units_per_point) as u32;
        let mut lines = vec![std::mem::take(&mut self.heading.generated)];
        let properties = std::mem::take(&mut self.heading.properties);
        let shown = if properties.len() > MAX_PROPERTY_LINES {
            MAX_PROPERTY_LINES - 1
        } else {
            properties.len()
        };
        lines.extend(properties[..shown].iter().cloned());
        if shown < properties.len() {
            lines.push(format!("(and {} more)", properties.len() - shown));
        }
        for line in &lines {
            y -= g.line_height();
            self.font.fit(line, room, false, &mut self.run);
            self.show_run_at(MARGIN, g.baseline(y));
        }
        self.content.extend_from_slice(b"ET\n");
        self.heading.generated = lines.swap_remove(0);
        self.heading.properties = properties;
        y - g.line_height() / 2.0
    }

    /// Draws the column names in a shaded band whose top is at `top`.
    fn draw_header_band(&mut self, top: f32) {
        let band = self.band_height();
        self.fill_rect(HEADER_GRAY, top - band, band);
        self.content.extend_from_slice(b"q\nBT\n");
        self.set_font(self.geometry.font_size);
        self.content.extend_from_slice(b"2 Tr ");
        self.push_number(self.geometry.font_size * 0.03);
        self.content.extend_from_slice(b" w\n");
        let next_top = std::mem::replace(&mut self.next_top, top);
        let names = std::mem::take(&mut self.names);
        for (column, name) in names.iter().enumerate() {
            self.cell(column, name, false);
        }
        self.names = names;
        self.next_top = next_top;
        self.content.extend_from_slice(b"ET\nQ\n");
    }

    /// Draws the footer and writes the page's content and dictionary.
    fn close_page(&mut self, out: &mut Output) -> Result<(), FormatError> {
        let g = self.geometry;
        let number = self.pages.len() + 1;
        let baseline = g.footer_baseline();
        self.content.extend_from_slice(b"BT\n");
        self.set_font(g.font_size);
        // The title on the left, in at most half the width.
        if !self.heading.title.is_empty() {
            let room = (g.body_width() / 2.0 * self.units_per_point) as u32;
            let title = std::mem::take(&mut self.heading.title);
            self.font.fit(&title, room, false, &mut self.run);
            self.heading.title = title;
            self.show_run_at(MARGIN, baseline);
        }
        // "Page N of " ends where the total begins, leaving room for a
        // total of up to seven digits before the right margin.
        let anchor = g.width - MARGIN - 7.0 * self.digit_width();
        let label = format!("Page {number} of ");
        self.font.fit(&label, u32::MAX, false, &mut self.run);
        let x = anchor - self.run.width as f32 / self.units_per_point;
        self.show_run_at(x, baseline);
        self.content.extend_from_slice(b"ET\nq 1 0 0 1 ");
        self.push_number(anchor);
        self.content.push(b' ');
        self.push_number(baseline);
        self.content.extend_from_slice(b" cm /T Do Q\n");

        let content_id = self.doc.alloc();
        let page_id = self.doc.alloc();
        let stream = self.deflater.deflate(&self.content)?;
        let mut objects = Objects::new();
        objects
            .start(content_id)
            .stream(content_id, stream)
            .filter(Filter::FlateDecode);
        objects
            .start(page_id)
            .page(page_id)
            .parent(PAGE_TREE)
            .media_box(Rect::new(0.0, 0.0, g.width, g.height))
            .contents(content_id)
            .pair(Name(b"Resources"), RESOURCES);
        self.doc.emit(out, &objects);
        self.pages.push(page_id);
        Ok(())
    }

    /// The advance of a digit (all digits are equally wide in both fonts).
    fn digit_width(&mut self) -> f32 {
        f32::from(self.font.glyph('0').advance) / self.units_per_point
    }

    fn fill_rect(&mut self, gray: &[u8], bottom: f32, height: f32) {
        self.content.extend_from_slice(gray);
        self.content.extend_from_slice(b" g\n");
        self.push_number(MARGIN);
        self.content.push(b' ');
        self.push_number(bottom);
        self.content.push(b' ');
        self.push_number(self.geometry.body_width());
        self.content.push(b' ');
        self.push_number(height);
        self.content.extend_from_slice(b" re f\n0 g\n");
    }

    fn set_font(&mut self, size: f32) {
        self.content.extend_from_slice(b"/F1 ");
        self.push_number(size);
        self.content.extend_from_slice(b" Tf\n");
    }

    /// Shows `self.run` with its origin at (x, y).
    fn show_run_at(&mut self, x: f32, y: f32) {
        self.content.extend_from_slice(b"1 0 0 1 ");
        self.push_number(x);
        self.content.push(b' ');
        self.push_number(y);
        self.content.extend_from_slice(b" Tm ");
        self.font.push_string(&self.run, &mut self.content);
        self.content.extend_from_slice(b" Tj\n");
    }

    /// Appends `value` with at most two decimals (1/7200 in is plenty).
    fn push_number(&mut self, value: f32) {
        let hundredths = (value * 100.0).round() as i64;
        if hundredths < 0 {
            self.content.push(b'-');
        }
        let hundredths = hundredths.unsigned_abs();
        self.content
            .extend_from_slice(self.number.format(hundredths / 100).as_bytes());
        let fraction = hundredths % 100;
        if fraction != 0 {
            self.content.push(b'.');
            self.content.push(b'0' + (fraction / 10) as u8);
            if !fraction.is_multiple_of(10) {
                self.content.push(b'0' + (fraction % 10) as u8);
            }
        }
    }
}
