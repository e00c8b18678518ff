//! Page geometry and column fitting: plain arithmetic in points (1/72 in),
//! no PDF.
//!
//! Columns get their natural width (the widest of the header and the
//! sampled rows, plus padding), at least [`Geometry::min_column_width`].
//! Then:
//!
//! * if they fit the page width they are widened proportionally to fill it;
//! * else, if every column fits at its minimum width, the widest columns are
//!   narrowed to a common cap ("water filling") so the narrow ones keep
//!   their natural width;
//! * else the row becomes a *band* of several lines: columns are dealt into
//!   as few lines as fit at minimum width, spread evenly, and each line is
//!   fitted as above. The header band wraps the same way, so every value
//!   sits under its name.

/// Page margin on every side.
pub const MARGIN: f32 = 36.0;

/// The paper sizes offered, in portrait points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// ISO A4, 210 x 297 mm.
    A4,
    /// US Letter, 8.5 x 11 in.
    Letter,
}

impl Paper {
    /// (width, height) in portrait.
    pub fn portrait(self) -> (f32, f32) {
        match self {
            Paper::A4 => (595.0, 842.0),
            Paper::Letter => (612.0, 792.0),
        }
    }
}

/// Which way up the page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// Landscape when the table's natural width exceeds the portrait page.
    Auto,
    /// Always portrait.
    Portrait,
    /// Always landscape.
    Landscape,
}

/// The page and the type size, and the measures that follow from them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// Page width.
    pub width: f32,
    /// Page height.
    pub height: f32,
    /// Body text size.
    pub font_size: f32,
}

impl Geometry {
    /// The page for `paper` turned per `orientation`, where `natural_width`
    /// is the table's natural width (decides [`Orientation::Auto`]).
    pub fn new(
        paper: Paper,
        orientation: Orientation,
        font_size: f32,
        natural_width: f32,
    ) -> Geometry {
        let (short, long) = paper.portrait();
        let landscape = match orientation {
            Orientation::Portrait => false,
            Orientation::Landscape => true,
            Orientation::Auto => natural_width > short - 2.0 * MARGIN,
        };
        let (width, height) = if landscape {
            (long, short)
        } else {
            (short, long)
        };
        Geometry {
            width,
            height,
            font_size,
        }
    }

    /// The width between the margins: the table's width.
    pub fn body_width(&self) -> f32 {
        self.width - 2.0 * MARGIN
    }

    /// The height of one line of the table.
    pub fn line_height(&self) -> f32 {
        self.font_size * 1.5
    }

    /// Horizontal space between a cell's edge and its text.
    pub fn padding(&self) -> f32 {
        self.font_size * 0.4
    }

    /// The narrowest a column gets: about four characters.
    pub fn min_column_width(&self) -> f32 {
        2.0 * self.padding() + 2.5 * self.font_size
    }

    /// The height of the title line of the header block.
    pub fn title_height(&self) -> f32 {
        self.title_size() * 1.5
    }

    /// The size of the title.
    pub fn title_size(&self) -> f32 {
        self.font_size + 6.0
    }

    /// The y of the top of the body (below the top margin).
    pub fn top(&self) -> f32 {
        self.height - MARGIN
    }

    /// The lowest y a table row may reach.
    pub fn bottom(&self) -> f32 {
        MARGIN
    }

    /// The baseline of the footer, in the bottom margin.
    pub fn footer_baseline(&self) -> f32 {
        MARGIN / 2.0
    }

    /// The baseline of text in a line whose bottom is at `bottom`: the text
    /// sits centred on the line.
    pub fn baseline(&self, bottom: f32) -> f32 {
        bottom + (self.line_height() - self.font_size) / 2.0 + 0.22 * self.font_size
    }

    /// How many bands of `lines` lines fit below a table header (also of
    /// `lines` lines) whose top is at `top`.
    pub fn rows_fitting(&self, top: f32, lines: usize) -> usize {
        let band = self.line_height() * lines as f32;
        let room = top - band - self.bottom();
        if room < band {
            0
        } else {
            // The small epsilon keeps exact fits from rounding down.
            ((room + 1e-3) / band) as usize
        }
    }
}

/// Where one column sits in a row band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// The line of the band, from 0 at the top.
    pub line: usize,
    /// Left edge, from the table's left edge.
    pub x: f32,
    /// Width, padding included.
    pub width: f32,
}

/// The columns placed in a band of `lines` lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    /// One slot per column, in schema order.
    pub slots: Vec<Slot>,
    /// Lines per row (1 unless the table is too wide for the page).
    pub lines: usize,
}

/// Places columns of the given natural widths (each already at least `min`)
/// in `available` points; see the module documentation.
pub fn fit_columns(natural: &[f32], min: f32, available: f32) -> Columns {
    let count = natural.len();
    let total: f32 = natural.iter().sum();
    let per_line = if total <= available || count as f32 * min <= available {
        count.max(1)
    } else {
        let most = ((available / min) as usize).max(1);
        let lines = count.div_ceil(most);
        count.div_ceil(lines)
    };
    let mut slots = Vec::with_capacity(count);
    for (line, group) in natural.chunks(per_line).enumerate() {
        let mut x = 0.0;
        for width in fit_line(group, available) {
            slots.push(Slot { line, x, width });
            x += width;
        }
    }
    let lines = count.div_ceil(per_line).max(1);
    Columns { slots, lines }
}

/// Widths for one line of columns that sum to `available`: widened in
/// proportion when they fit, else the widest capped at a common width.
fn fit_line(natural: &[f32], available: f32) -> Vec<f32> {
    let total: f32 = natural.iter().sum();
    if total <= available {
        let scale = if total > 0.0 { available / total } else { 1.0 };
        return natural.iter().map(|w| w * scale).collect();
    }
    let mut sorted = natural.to_vec();
    sorted.sort_by(f32::total_cmp);
    let mut remaining = available;
    let mut left = sorted.len();
    for &width in &sorted {
        if width * left as f32 <= remaining {
            remaining -= width;
            left -= 1;
        } else {
            break;
        }
    }
    let cap = if left > 0 {
        remaining / left as f32
    } else {
        f32::INFINITY
    };
    natural.iter().map(|&w| w.min(cap)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn auto_orientation_follows_the_natural_width() {
        let narrow = Geometry::new(Paper::A4, Orientation::Auto, 8.0, 400.0);
        assert_eq!((narrow.width, narrow.height), (595.0, 842.0));
        let wide = Geometry::new(Paper::A4, Orientation::Auto, 8.0, 600.0);
        assert_eq!((wide.width, wide.height), (842.0, 595.0));
        let forced = Geometry::new(Paper::Letter, Orientation::Portrait, 8.0, 9000.0);
        assert_eq!((forced.width, forced.height), (612.0, 792.0));
        let landscape = Geometry::new(Paper::Letter, Orientation::Landscape, 8.0, 1.0);
        assert_eq!((landscape.width, landscape.height), (792.0, 612.0));
    }

    #[test]
    fn narrow_tables_stretch_to_the_page() {
        let columns = fit_columns(&[50.0, 150.0], 20.0, 400.0);
        assert_eq!(columns.lines, 1);
        assert!(close(columns.slots[0].width, 100.0));
        assert!(close(columns.slots[1].x, 100.0));
        assert!(close(columns.slots[1].width, 300.0));
    }

    #[test]
    fn wide_columns_are_capped_and_narrow_ones_kept() {
        let columns = fit_columns(&[30.0, 500.0, 40.0, 300.0], 20.0, 400.0);
        assert_eq!(columns.lines, 1);
        let widths: Vec<f32> = columns.slots.iter().map(|s| s.width).collect();
        assert!(close(widths[0], 30.0) && close(widths[2], 40.0));
        assert!(close(widths[1], 165.0) && close(widths[3], 165.0));
        assert!(close(widths.iter().sum::<f32>(), 400.0));
    }

    #[test]
    fn too_many_columns_wrap_into_a_band() {
        // 200 columns, 25 fit per line at the minimum: 8 lines of 25.
        let natural = vec![40.0; 200];
        let columns = fit_columns(&natural, 30.0, 750.0);
        assert_eq!(columns.lines, 8);
        for line in 0..8 {
            let on_line: Vec<&Slot> = columns.slots.iter().filter(|s| s.line == line).collect();
            assert_eq!(on_line.len(), 25);
            assert!(close(on_line[0].x, 0.0));
            let width: f32 = on_line.iter().map(|s| s.width).sum();
            assert!(close(width, 750.0), "line {line} is {width} wide");
        }
        // Uneven counts spread evenly: 26 columns at 25 per line -> 13 + 13.
        let columns = fit_columns(&[40.0; 26], 30.0, 750.0);
        assert_eq!(columns.lines, 2);
        assert_eq!(columns.slots[12].line, 0);
        assert_eq!(columns.slots[13].line, 1);
    }

    #[test]
    fn rows_fitting_counts_whole_bands() {
        let g = Geometry::new(Paper::A4, Orientation::Portrait, 8.0, 0.0);
        // 12 pt lines; from 806 down to 36 under a 12 pt header: 758 / 12.
        assert_eq!(g.rows_fitting(g.top(), 1), 63);
        assert_eq!(g.rows_fitting(g.top(), 2), 31);
        assert_eq!(g.rows_fitting(g.top(), 40), 0);
    }
}
