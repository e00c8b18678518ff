//! The two fonts a report can use, behind one interface: characters become
//! codes for content streams plus advances for layout.
//!
//! * [`Font::embedded`]: Liberation Sans (SIL OFL 1.1), written as a Type 0
//!   font with a `CIDFontType2` descendant and `Identity-H` encoding. Content
//!   streams show 2-byte codes where code (CID) = the glyph's id in the
//!   *original* font, so nothing written before the end depends on which
//!   glyphs are used. At the end the font is subset to the used glyphs and a
//!   `/CIDToGIDMap` maps each CID to its id in the subset; `/W` gives the
//!   used glyphs' widths and `/ToUnicode` maps them back to text (so copy and
//!   paste and `pdftotext` work).
//! * [`Font::Helvetica`]: the standard Type 1 font with `WinAnsiEncoding`,
//!   not embedded; characters outside Windows-1252 print as `?`.
//!
//! Characters the font lacks print as `?`; control characters as spaces;
//! invisible format characters (zero-width joiners, variation selectors,
//! byte order marks) are dropped.

use exporter_plugin_sdk::FormatError;
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Filter, Name, Rect, Ref, Str};
use ttf_parser::{Face, GlyphId};

use crate::document::{Deflater, Document, Objects};

/// Liberation Sans 2 Regular; licence in `fonts/LICENSE-LiberationSans.txt`.
static LIBERATION_SANS: &[u8] = include_bytes!("../fonts/LiberationSans-Regular.ttf");

/// The PostScript name the subset is published under, after its tag.
const EMBEDDED_NAME: &str = "LiberationSans";

/// One character as drawn: its code in the content stream and its advance
/// in font units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Glyph {
    /// A glyph id (embedded font) or a WinAnsi byte (Helvetica).
    pub code: u16,
    /// Advance width in font units ([`Font::units_per_em`] per em).
    pub advance: u16,
}

/// The glyphs of one piece of text, fitted to a width.
#[derive(Debug, Default)]
pub struct Run {
    /// The glyphs in order.
    pub glyphs: Vec<Glyph>,
    /// Their total advance in font units.
    pub width: u32,
}

impl Run {
    fn clear(&mut self) {
        self.glyphs.clear();
        self.width = 0;
    }

    fn push(&mut self, glyph: Glyph) {
        self.width += u32::from(glyph.advance);
        self.glyphs.push(glyph);
    }

    fn pop(&mut self) -> bool {
        match self.glyphs.pop() {
            Some(glyph) => {
                self.width -= u32::from(glyph.advance);
                true
            }
            None => false,
        }
    }
}

/// The report's font.
pub enum Font {
    /// Liberation Sans, embedded and subset.
    Embedded(Box<Embedded>),
    /// Standard Helvetica, not embedded.
    Helvetica(Missing),
}

/// The characters a font could not draw (they printed as `?`), for the
/// warning the user sees: distinct characters, the first ones kept in
/// order. Only a missing character costs anything here.
#[derive(Debug, Default)]
pub struct Missing {
    /// Distinct characters seen missing.
    seen: std::collections::HashSet<char>,
    /// The first of them, in the order they appeared.
    first: Vec<char>,
}

/// Missing characters named one by one in the warning.
const MISSING_EXAMPLES: usize = 5;
/// Distinct missing characters remembered; past this they are not counted.
const MISSING_TRACKED: usize = 65_536;

impl Missing {
    fn note(&mut self, c: char) {
        if self.seen.len() < MISSING_TRACKED
            && self.seen.insert(c)
            && self.first.len() < MISSING_EXAMPLES
        {
            self.first.push(c);
        }
    }

    /// Tells the host which characters printed as `?`: a `glyph-missing`
    /// warning counting the distinct characters, the first few by name.
    pub fn report(&self, font: &str) {
        let mut reported = 0;
        for &c in &self.first {
            reported += 1;
            exporter_plugin_sdk::warn(
                "glyph-missing",
                1,
                &format!(
                    "U+{:04X} ({c}) is not in the {font} font; it prints as ?",
                    c as u32
                ),
            );
        }
        let rest = (self.seen.len() - reported) as u64;
        if rest > 0 {
            exporter_plugin_sdk::warn("glyph-missing", rest, "");
        }
    }
}

/// State of the embedded font: the parsed face, a character cache and the
/// set of glyphs used so far (all that is kept until the end).
pub struct Embedded {
    face: Face<'static>,
    /// Basic Multilingual Plane cache: `advance << 16 | glyph id`, 0 for a
    /// character not looked up yet. Lookups in the font's `cmap` are far
    /// slower than this table, and nearly all text is in the BMP.
    bmp: Vec<u32>,
    /// For each glyph of the font, the character it was first used for
    /// (the `/ToUnicode` entry); 0 while unused.
    used: Vec<u32>,
    /// What missing characters print as: `?`.
    fallback: Glyph,
    /// The characters that printed as `fallback`.
    pub missing: Missing,
}

impl Font {
    /// Liberation Sans, embedded.
    pub fn embedded() -> Result<Font, FormatError> {
        let face = Face::parse(LIBERATION_SANS, 0)
            .map_err(|e| FormatError::Other(format!("the embedded font is unreadable: {e}")))?;
        let mut embedded = Embedded {
            used: vec![0; usize::from(face.number_of_glyphs())],
            face,
            bmp: vec![0; 0x1_0000],
            fallback: Glyph {
                code: 0,
                advance: 0,
            },
            missing: Missing::default(),
        };
        embedded.fallback = embedded
            .lookup('?')
            .ok_or_else(|| FormatError::Other("the embedded font has no glyph for '?'".into()))?;
        Ok(Font::Embedded(Box::new(embedded)))
    }

    /// The characters this font could not draw so far.
    pub fn missing(&self) -> &Missing {
        match self {
            Font::Embedded(font) => &font.missing,
            Font::Helvetica(missing) => missing,
        }
    }

    /// The font's name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Font::Embedded(_) => "embedded Liberation Sans",
            Font::Helvetica(_) => "Helvetica (Windows-1252)",
        }
    }

    /// Font units per em: glyph advances are in these.
    pub fn units_per_em(&self) -> u16 {
        match self {
            Font::Embedded(font) => font.face.units_per_em(),
            Font::Helvetica(_) => 1000,
        }
    }

    /// The glyph for `c`, which must already be printable (see
    /// [`printable`]); the fallback `?` when the font lacks it.
    #[inline]
    pub fn glyph(&mut self, c: char) -> Glyph {
        match self {
            Font::Embedded(font) => font.glyph(c),
            Font::Helvetica(missing) => {
                let code = winansi(c).unwrap_or_else(|| {
                    missing.note(c);
                    b'?'
                });
                Glyph {
                    code: u16::from(code),
                    advance: HELVETICA_WIDTHS[usize::from(code.max(32) - 32)],
                }
            }
        }
    }

    /// The total advance of `text` in font units, stopping early once it
    /// passes `limit`.
    pub fn measure(&mut self, text: &str, limit: u32) -> u32 {
        let mut width = 0u32;
        for c in text.chars().filter_map(printable) {
            width += u32::from(self.glyph(c).advance);
            if width > limit {
                break;
            }
        }
        width
    }

    /// Fits `text` into `max` font units: whole if it fits (and `more` is
    /// false), otherwise as many characters as fit followed by `…`. `more`
    /// says the text was already cut short by the caller.
    pub fn fit(&mut self, text: &str, max: u32, more: bool, run: &mut Run) {
        run.clear();
        let mut truncated = more;
        for c in text.chars().filter_map(printable) {
            let glyph = self.glyph(c);
            if run.width + u32::from(glyph.advance) > max {
                truncated = true;
                break;
            }
            run.push(glyph);
        }
        if truncated {
            let ellipsis = self.glyph('…');
            while run.width + u32::from(ellipsis.advance) > max && run.pop() {}
            if run.width + u32::from(ellipsis.advance) <= max {
                run.push(ellipsis);
            }
        }
    }

    /// Appends `run` to a content stream as a literal string, `(...)`.
    pub fn push_string(&self, run: &Run, content: &mut Vec<u8>) {
        content.push(b'(');
        match self {
            Font::Embedded(_) => {
                for glyph in &run.glyphs {
                    let [high, low] = glyph.code.to_be_bytes();
                    push_escaped(content, high);
                    push_escaped(content, low);
                }
            }
            Font::Helvetica(_) => {
                for glyph in &run.glyphs {
                    push_escaped(content, glyph.code as u8);
                }
            }
        }
        content.push(b')');
    }

    /// Writes the font dictionary as object `id` and, for the embedded font,
    /// the subset font program and the objects describing it.
    pub fn write(
        &self,
        id: Ref,
        doc: &mut Document,
        deflater: &mut Deflater,
        out: &mut exporter_plugin_sdk::Output,
    ) -> Result<(), FormatError> {
        match self {
            Font::Helvetica(_) => {
                let mut objects = Objects::new();
                objects
                    .start(id)
                    .type1_font(id)
                    .base_font(Name(b"Helvetica"))
                    .encoding_predefined(Name(b"WinAnsiEncoding"));
                doc.emit(out, &objects);
                Ok(())
            }
            Font::Embedded(font) => font.write(id, doc, deflater, out),
        }
    }
}

impl Embedded {
    #[inline]
    fn glyph(&mut self, c: char) -> Glyph {
        let index = c as usize;
        if index < self.bmp.len() {
            let entry = self.bmp[index];
            if entry != 0 {
                return Glyph {
                    code: entry as u16,
                    advance: (entry >> 16) as u16,
                };
            }
            let glyph = self.lookup_or_fallback(c);
            // Glyph 0 is never cached (missing characters get the fallback),
            // so an entry is never 0.
            self.bmp[index] = u32::from(glyph.advance) << 16 | u32::from(glyph.code);
            glyph
        } else {
            self.lookup_or_fallback(c)
        }
    }

    fn lookup_or_fallback(&mut self, c: char) -> Glyph {
        self.lookup(c).unwrap_or_else(|| {
            self.missing.note(c);
            self.fallback
        })
    }

    /// The font's glyph for `c`, marked used; `None` if it has none.
    fn lookup(&mut self, c: char) -> Option<Glyph> {
        let id = self.face.glyph_index(c).filter(|id| id.0 != 0)?;
        let slot = self.used.get_mut(usize::from(id.0))?;
        if *slot == 0 {
            *slot = c as u32;
        }
        Some(Glyph {
            code: id.0,
            advance: self.face.glyph_hor_advance(id).unwrap_or(0),
        })
    }

    /// The used glyph ids, ascending, with the character each shows.
    fn used(&self) -> impl Iterator<Item = (u16, char)> + '_ {
        self.used.iter().enumerate().filter_map(|(id, &c)| {
            let c = char::from_u32(c).filter(|&c| c != '\0')?;
            Some((u16::try_from(id).ok()?, c))
        })
    }

    fn write(
        &self,
        font_id: Ref,
        doc: &mut Document,
        deflater: &mut Deflater,
        out: &mut exporter_plugin_sdk::Output,
    ) -> Result<(), FormatError> {
        let used: Vec<(u16, char)> = self.used().collect();
        let gids: Vec<u16> = used.iter().map(|&(gid, _)| gid).collect();
        let remapper = subsetter::GlyphRemapper::new_from_glyphs_sorted(&gids);
        let subset = subsetter::subset(LIBERATION_SANS, 0, &remapper)
            .map_err(|e| FormatError::Other(format!("subsetting the font failed: {e}")))?;
        let name = format!("{}+{EMBEDDED_NAME}", subset_tag(&gids));
        let name = Name(name.as_bytes());
        let scale = 1000.0 / f32::from(self.face.units_per_em());
        let to_pdf = |units: i16| f32::from(units) * scale;

        let cid_id = doc.alloc();
        let descriptor_id = doc.alloc();
        let file_id = doc.alloc();
        let cmap_id = doc.alloc();
        let map_id = doc.alloc();

        let mut objects = Objects::new();
        objects
            .start(font_id)
            .type0_font(font_id)
            .base_font(name)
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid_id)
            .to_unicode(cmap_id);

        {
            let mut cid = objects.start(cid_id).cid_font(cid_id);
            cid.subtype(CidFontType::Type2)
                .base_font(name)
                .system_info(SystemInfo {
                    registry: Str(b"Adobe"),
                    ordering: Str(b"Identity"),
                    supplement: 0,
                })
                .font_descriptor(descriptor_id)
                .default_width(0.0)
                .cid_to_gid_map_stream(map_id);
            let mut widths = cid.widths();
            // One `first [w1 w2 ...]` entry per run of consecutive ids.
            let mut start = 0;
            while start < gids.len() {
                let mut end = start + 1;
                while end < gids.len() && gids[end] == gids[end - 1] + 1 {
                    end += 1;
                }
                widths.consecutive(
                    gids[start],
                    gids[start..end].iter().map(|&gid| {
                        f32::from(self.face.glyph_hor_advance(GlyphId(gid)).unwrap_or(0)) * scale
                    }),
                );
                start = end;
            }
        }

        let bbox = self.face.global_bounding_box();
        objects
            .start(descriptor_id)
            .font_descriptor(descriptor_id)
            .name(name)
            .flags(FontFlags::SYMBOLIC)
            .bbox(Rect::new(
                to_pdf(bbox.x_min),
                to_pdf(bbox.y_min),
                to_pdf(bbox.x_max),
                to_pdf(bbox.y_max),
            ))
            .italic_angle(0.0)
            .ascent(to_pdf(self.face.ascender()))
            .descent(to_pdf(self.face.descender()))
            .cap_height(to_pdf(
                self.face.capital_height().unwrap_or(self.face.ascender()),
            ))
            .stem_v(80.0)
            .font_file2(file_id);
        doc.emit(out, &objects);

        let length = i32::try_from(subset.len())
            .map_err(|_| FormatError::Other("the font subset is too large".into()))?;
        let mut objects = Objects::new();
        objects
            .start(file_id)
            .stream(file_id, deflater.deflate(&subset)?)
            .filter(Filter::FlateDecode)
            .pair(Name(b"Length1"), length);
        doc.emit(out, &objects);

        let mut cmap = UnicodeCmap::new(
            Name(b"Custom"),
            SystemInfo {
                registry: Str(b"Adobe"),
                ordering: Str(b"UCS"),
                supplement: 0,
            },
        );
        for &(gid, c) in &used {
            cmap.pair(gid, c);
        }
        let cmap = cmap.finish();
        let mut objects = Objects::new();
        objects
            .start(cmap_id)
            .stream(cmap_id, deflater.deflate(cmap.as_slice())?)
            .filter(Filter::FlateDecode);
        doc.emit(out, &objects);

        // CID (original glyph id) -> glyph id in the subset, 2 bytes each.
        let last = gids.last().copied().unwrap_or(0);
        let mut map = vec![0u8; (usize::from(last) + 1) * 2];
        for &gid in &gids {
            let new = remapper.get(gid).unwrap_or(0);
            map[usize::from(gid) * 2..][..2].copy_from_slice(&new.to_be_bytes());
        }
        let mut objects = Objects::new();
        objects
            .start(map_id)
            .stream(map_id, deflater.deflate(&map)?)
            .filter(Filter::FlateDecode);
        doc.emit(out, &objects);
        Ok(())
    }
}

/// The character to draw for `c`: control and line-breaking characters
/// become spaces (cells are one line), invisible format characters are
/// dropped.
#[inline]
pub fn printable(c: char) -> Option<char> {
    match c {
        ' '..='~' => Some(c),
        '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => Some(' '),
        '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{fe00}'..='\u{fe0f}'
        | '\u{feff}'
        | '\u{e0000}'..='\u{e0fff}' => None,
        _ => Some(c),
    }
}

/// Appends one byte of a literal string, escaping what the string syntax
/// needs: parentheses, backslash, and CR (a raw CR would read as a newline).
#[inline]
fn push_escaped(content: &mut Vec<u8>, byte: u8) {
    match byte {
        b'(' | b')' | b'\\' => content.extend_from_slice(&[b'\\', byte]),
        b'\r' => content.extend_from_slice(b"\\r"),
        _ => content.push(byte),
    }
}

/// Six capital letters naming the subset (PDF 32000-1, 9.6.4), derived from
/// the glyph set so equal subsets get equal names and the output stays
/// deterministic.
fn subset_tag(gids: &[u16]) -> String {
    // FNV-1a.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for gid in gids {
        for byte in gid.to_be_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    (0..6)
        .map(|_| {
            let letter = (b'A' + (hash % 26) as u8) as char;
            hash /= 26;
            letter
        })
        .collect()
}

/// The Windows-1252 (`WinAnsiEncoding`) byte for `c`, if it has one.
pub fn winansi(c: char) -> Option<u8> {
    Some(match c {
        ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8a,
        '‹' => 0x8b,
        'Œ' => 0x8c,
        'Ž' => 0x8e,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9a,
        '›' => 0x9b,
        'œ' => 0x9c,
        'ž' => 0x9e,
        'Ÿ' => 0x9f,
        _ => return None,
    })
}

/// Helvetica's advance widths (1000 units per em) for WinAnsi codes 32 to
/// 255, from Adobe's Helvetica AFM. Codes WinAnsi leaves unassigned (0x81,
/// 0x8d, 0x8f, 0x90, 0x9d) are never produced by [`winansi`].
#[rustfmt::skip]
const HELVETICA_WIDTHS: [u16; 224] = [
    // 0x20
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    // 0x40
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    // 0x60
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 278,
    // 0x80
    556, 278, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 278, 611, 278,
    278, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 278, 500, 667,
    // 0xa0
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    // 0xc0
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    // 0xe0
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_maps_greek_cyrillic_and_accents() {
        let mut font = Font::embedded().unwrap();
        let question = font.glyph('?');
        for c in ['Ñ', 'ú', 'Ε', 'λ', 'К', 'и', '…'] {
            let glyph = font.glyph(c);
            assert_ne!(glyph, question, "{c} has a glyph");
            assert!(glyph.advance > 0);
            // Cached lookups agree with the first one.
            assert_eq!(font.glyph(c), glyph);
        }
        // Not in Liberation Sans: the fallback.
        assert_eq!(font.glyph('日'), question);
        assert_eq!(font.glyph('🎉'), question);
        let Font::Embedded(embedded) = &font else {
            unreachable!()
        };
        let used: Vec<char> = embedded.used().map(|(_, c)| c).collect();
        assert!(used.contains(&'Ñ') && used.contains(&'?'));
        assert!(!used.contains(&'日'));
    }

    #[test]
    fn fit_truncates_with_an_ellipsis() {
        let mut font = Font::Helvetica(Missing::default());
        let mut run = Run::default();
        font.fit("abc", 10_000, false, &mut run);
        assert_eq!(run.glyphs.len(), 3);
        assert_eq!(run.width, 556 + 556 + 500);

        // Room for "ab" and an ellipsis (1000), not for "abc".
        font.fit("abcdef", 556 * 2 + 1000, false, &mut run);
        let codes: Vec<u16> = run.glyphs.iter().map(|g| g.code).collect();
        assert_eq!(codes, vec![u16::from(b'a'), u16::from(b'b'), 0x85]);
        assert!(run.width <= 556 * 2 + 1000);

        // Text already cut short by the caller gets the ellipsis even
        // though what is left fits.
        font.fit("ab", 10_000, true, &mut run);
        assert_eq!(run.glyphs.last().map(|g| g.code), Some(0x85));

        // Too narrow even for the ellipsis: nothing.
        font.fit("abc", 500, false, &mut run);
        assert!(run.glyphs.is_empty());
    }

    #[test]
    fn control_characters_become_spaces_and_invisibles_vanish() {
        let mut font = Font::Helvetica(Missing::default());
        let mut run = Run::default();
        font.fit("a\nb\u{feff}\u{200d}c", 100_000, false, &mut run);
        let codes: Vec<u8> = run.glyphs.iter().map(|g| g.code as u8).collect();
        assert_eq!(codes, b"a bc");
    }

    #[test]
    fn helvetica_uses_winansi_and_question_marks() {
        let mut font = Font::Helvetica(Missing::default());
        assert_eq!(font.glyph('é').code, 0xe9);
        assert_eq!(font.glyph('€').code, 0x80);
        assert_eq!(font.glyph('Ω').code, u16::from(b'?'));
        assert_eq!(font.glyph('W').advance, 944);
        assert_eq!(font.glyph('\'').advance, 191);
    }

    #[test]
    fn strings_are_escaped() {
        let font = Font::Helvetica(Missing::default());
        let mut run = Run::default();
        for byte in [b'(', b')', b'\\', b'\r', b'x'] {
            run.push(Glyph {
                code: u16::from(byte),
                advance: 0,
            });
        }
        let mut content = Vec::new();
        font.push_string(&run, &mut content);
        assert_eq!(content, b"(\\(\\)\\\\\\rx)");
    }

    #[test]
    fn subset_tags_are_six_letters_and_stable() {
        let a = subset_tag(&[0, 3, 36]);
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|b| b.is_ascii_uppercase()));
        assert_eq!(a, subset_tag(&[0, 3, 36]));
        assert_ne!(a, subset_tag(&[0, 3, 37]));
    }
}
