//! Cells as SpreadsheetML: one value to its `<c>` element.
//!
//! Cells carry no `r` reference: a reader places them by position, which is
//! why a null is an empty `<c/>` instead of nothing. Strings are inline
//! (`t="inlineStr"`), so no shared-string table has to be held until the
//! end.

use exporter_plugin_sdk::{TextFormatter, TimeZone, Value};

use crate::time;

/// Excel's limit on the characters (UTF-16 code units) in one cell.
pub const MAX_CELL_CHARS: usize = 32_767;
/// Integers beyond ±2^53 lose digits as doubles, so they are written as text.
const EXACT_INTEGER: i64 = 1 << 53;
/// Excel's largest number; beyond it a cell is an error.
const EXCEL_MAX: f64 = 9.999_999_999_999_99e307;

/// Decimals with more significant digits than a double keeps (15, as
/// Excel shows them) are written as text, so no digit is lost.
const EXACT_DIGITS: usize = 15;

/// Style indexes into `cellXfs` in `styles.xml` (see `parts::styles`).
mod style {
    /// Dates, with the `date-format` number format.
    pub const DATE: &[u8] = b"2";
    /// Timestamps, with the `timestamp-format` number format.
    pub const TIMESTAMP: &[u8] = b"3";
}

/// Renders cells into a sheet's XML, reusing its number buffers.
#[derive(Default)]
pub struct CellWriter {
    text: TextFormatter,
    int: itoa::Buffer,
    /// The zone timestamps are shown in.
    zone: TimeZone,
    /// Cells cut at [`MAX_CELL_CHARS`] so far.
    pub truncated: u64,
}

impl CellWriter {
    /// A writer showing timestamps in `zone`.
    pub fn new(zone: TimeZone) -> CellWriter {
        CellWriter {
            zone,
            ..CellWriter::default()
        }
    }

    /// Appends the cell for `value` to `xml` and returns roughly how many
    /// characters wide it shows, for column widths.
    #[inline]
    pub fn write(&mut self, xml: &mut Vec<u8>, value: Value<'_>) -> usize {
        match value {
            Value::Null => {
                xml.extend_from_slice(b"<c/>");
                0
            }
            Value::Boolean(v) => {
                xml.extend_from_slice(if v {
                    b"<c t=\"b\"><v>1</v></c>"
                } else {
                    b"<c t=\"b\"><v>0</v></c>"
                });
                5
            }
            Value::Int64(v) if (-EXACT_INTEGER..=EXACT_INTEGER).contains(&v) => {
                number(xml, None, self.int.format(v))
            }
            Value::Int64(v) => {
                let text = self.int.format(v);
                string(xml, text, &mut self.truncated)
            }
            Value::Float64(v) if in_excel_range(v) => number(xml, None, self.text.float64(v)),
            // Excel has no NaN, infinity or subnormals; keep what the value was.
            Value::Float64(v) => string(xml, self.text.float64(v), &mut self.truncated),
            Value::Decimal(v) if is_exact_number(v) => number(xml, None, v),
            Value::Decimal(v) | Value::Text(v) | Value::Json(v) => {
                string(xml, v, &mut self.truncated)
            }
            Value::Date(days) => match time::date_serial(i64::from(days)) {
                Some(serial) => {
                    number(xml, Some(style::DATE), self.int.format(serial));
                    10
                }
                None => string(xml, self.text.date(days), &mut self.truncated),
            },
            // Excel has no zones: the serial is the export zone's wall clock.
            Value::Timestamp(micros) => {
                match self
                    .zone
                    .local_micros(micros)
                    .and_then(time::timestamp_serial)
                {
                    Some(serial) => {
                        number(xml, Some(style::TIMESTAMP), self.text.float64(serial));
                        19
                    }
                    None => string(
                        xml,
                        self.text.timestamp_in(micros, &self.zone),
                        &mut self.truncated,
                    ),
                }
            }
        }
    }
}

/// `<c s="style"><v>digits</v></c>`; returns the digits' length.
#[inline]
fn number(xml: &mut Vec<u8>, style: Option<&[u8]>, digits: &str) -> usize {
    match style {
        None => xml.extend_from_slice(b"<c><v>"),
        Some(style) => {
            xml.extend_from_slice(b"<c s=\"");
            xml.extend_from_slice(style);
            xml.extend_from_slice(b"\"><v>");
        }
    }
    xml.extend_from_slice(digits.as_bytes());
    xml.extend_from_slice(b"</v></c>");
    digits.len()
}

/// An inline string cell, cut at Excel's cell limit (counted in
/// `truncated`); returns its length in characters.
fn string(xml: &mut Vec<u8>, text: &str, truncated: &mut u64) -> usize {
    let text = match truncate_to_cell(text) {
        Some(cut) => {
            *truncated += 1;
            cut
        }
        None => text,
    };
    // Excel drops leading and trailing spaces unless told to keep them.
    let keep_spaces = text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace);
    xml.extend_from_slice(if keep_spaces {
        b"<c t=\"inlineStr\"><is><t xml:space=\"preserve\">"
    } else {
        b"<c t=\"inlineStr\"><is><t>"
    });
    escape_text(xml, text);
    xml.extend_from_slice(b"</t></is></c>");
    display_width(text)
}

/// Writes a header cell for a column name, in the bold style (1).
pub fn header_cell(xml: &mut Vec<u8>, name: &str) {
    let name = truncate_to_cell(name).unwrap_or(name);
    xml.extend_from_slice(b"<c s=\"1\" t=\"inlineStr\"><is><t xml:space=\"preserve\">");
    escape_text(xml, name);
    xml.extend_from_slice(b"</t></is></c>");
}

/// How wide `text` shows, in characters, capped: only used for widths.
pub fn display_width(text: &str) -> usize {
    if text.len() <= 100 {
        text.chars().count()
    } else {
        100
    }
}

/// `text` cut to at most [`MAX_CELL_CHARS`] UTF-16 code units on a
/// character boundary, or `None` when it already fits.
fn truncate_to_cell(text: &str) -> Option<&str> {
    // A UTF-8 byte never stands for more than one UTF-16 unit.
    if text.len() <= MAX_CELL_CHARS {
        return None;
    }
    let mut units = 0;
    for (at, c) in text.char_indices() {
        units += c.len_utf16();
        if units > MAX_CELL_CHARS {
            return Some(&text[..at]);
        }
    }
    None
}

/// Whether Excel holds `value` as a number: zero, or a normal double no
/// larger than [`EXCEL_MAX`] (it flushes subnormals to zero).
fn in_excel_range(value: f64) -> bool {
    value == 0.0 || (f64::MIN_POSITIVE..=EXCEL_MAX).contains(&value.abs())
}

/// Whether a decimal's text is a plain number a double holds exactly as
/// Excel shows it: `[-+]digits[.digits]` with at most 15 significant digits,
/// within Excel's range.
fn is_exact_number(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return false;
    }
    // Significant digits run from the first non-zero digit to the last.
    let digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
    match (
        digits.iter().position(|&b| b != b'0'),
        digits.iter().rposition(|&b| b != b'0'),
    ) {
        (Some(first), Some(last)) => {
            last - first < EXACT_DIGITS && text.parse().is_ok_and(in_excel_range)
        }
        _ => true, // all zeros
    }
}

/// Which bytes [`escape_text`] must look at: XML's five specials that
/// matter in element text, every C0 control (some are illegal in XML, CR is
/// normalised away by parsers), `_` (the start of Excel's own `_xHHHH_`
/// escape) and 0xEF (the lead byte of U+FFFE and U+FFFF).
const SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'_' as usize] = true;
    table[0xEF] = true;
    table
};

/// Appends `text` as SpreadsheetML element text (`ST_Xstring`).
///
/// Characters XML 1.0 cannot carry (C0 controls other than tab and line
/// feed, U+FFFE, U+FFFF) become Excel's `_xHHHH_`; CR becomes `&#13;` so
/// parsers keep it; and a literal `_xHHHH_` in the text has its `_`
/// escaped as `_x005F_`, so readers that decode the escape give back
/// exactly the original.
pub fn escape_text(xml: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (at, &b) in bytes.iter().enumerate() {
        if !SPECIAL[b as usize] {
            continue;
        }
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\t' | b'\n' => continue,
            b'\r' => b"&#13;",
            b'_' if looks_like_escape(&bytes[at..]) => b"_x005F_",
            b'_' => continue,
            0xEF if matches!(bytes.get(at + 1..at + 3), Some([0xBF, 0xBE | 0xBF])) => {
                xml.extend_from_slice(&bytes[start..at]);
                xml.extend_from_slice(if bytes[at + 2] == 0xBE {
                    b"_xFFFE_"
                } else {
                    b"_xFFFF_"
                });
                start = at + 3;
                continue;
            }
            0xEF => continue,
            control => {
                xml.extend_from_slice(&bytes[start..at]);
                xml.extend_from_slice(b"_x00");
                xml.push(HEX[usize::from(control >> 4)]);
                xml.push(HEX[usize::from(control & 0xF)]);
                xml.push(b'_');
                start = at + 1;
                continue;
            }
        };
        xml.extend_from_slice(&bytes[start..at]);
        xml.extend_from_slice(replacement);
        start = at + 1;
    }
    xml.extend_from_slice(&bytes[start..]);
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Whether `bytes` starts with `_xHHHH_`.
fn looks_like_escape(bytes: &[u8]) -> bool {
    bytes.len() >= 7
        && bytes[1] == b'x'
        && bytes[2..6].iter().all(u8::is_ascii_hexdigit)
        && bytes[6] == b'_'
}

/// Escapes `text` for an XML attribute value in double quotes.
pub fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// The column's letters: 0 is `A`, 25 `Z`, 26 `AA`, 16383 `XFD`.
pub fn column_name(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(value: Value<'_>) -> String {
        let mut xml = Vec::new();
        CellWriter::default().write(&mut xml, value);
        String::from_utf8(xml).unwrap()
    }

    fn escaped(text: &str) -> String {
        let mut xml = Vec::new();
        escape_text(&mut xml, text);
        String::from_utf8(xml).unwrap()
    }

    #[test]
    fn typed_cells() {
        assert_eq!(cell(Value::Null), "<c/>");
        assert_eq!(cell(Value::Boolean(true)), "<c t=\"b\"><v>1</v></c>");
        assert_eq!(cell(Value::Int64(-42)), "<c><v>-42</v></c>");
        assert_eq!(cell(Value::Float64(0.1)), "<c><v>0.1</v></c>");
        assert_eq!(cell(Value::Float64(1e21)), "<c><v>1e21</v></c>");
        assert_eq!(
            cell(Value::Float64(f64::NAN)),
            "<c t=\"inlineStr\"><is><t>NaN</t></is></c>"
        );
        assert_eq!(cell(Value::Decimal("-12.50")), "<c><v>-12.50</v></c>");
        assert_eq!(cell(Value::Date(20_454)), "<c s=\"2\"><v>46023</v></c>");
        assert_eq!(
            cell(Value::Timestamp(1_767_225_600_000_000 + 21_600_000_000)),
            "<c s=\"3\"><v>46023.25</v></c>"
        );
    }

    #[test]
    fn values_excel_cannot_hold_exactly_become_text() {
        assert_eq!(
            cell(Value::Int64(9_007_199_254_740_993)),
            "<c t=\"inlineStr\"><is><t>9007199254740993</t></is></c>"
        );
        assert_eq!(
            cell(Value::Int64(1 << 53)),
            "<c><v>9007199254740992</v></c>"
        );
        assert_eq!(
            cell(Value::Decimal("1234567890.1234567")),
            "<c t=\"inlineStr\"><is><t>1234567890.1234567</t></is></c>"
        );
        // Leading and trailing zeros are not significant.
        assert_eq!(
            cell(Value::Decimal("000123456789012345.000")),
            "<c><v>000123456789012345.000</v></c>"
        );
        assert_eq!(
            cell(Value::Float64(f64::MAX)),
            "<c t=\"inlineStr\"><is><t>1.7976931348623157e308</t></is></c>"
        );
        assert_eq!(
            cell(Value::Float64(5e-324)),
            "<c t=\"inlineStr\"><is><t>5e-324</t></is></c>"
        );
        let huge = format!("1{}", "0".repeat(400));
        assert_eq!(
            cell(Value::Decimal(&huge)),
            format!("<c t=\"inlineStr\"><is><t>{huge}</t></is></c>")
        );
        assert_eq!(
            cell(Value::Decimal("1e5")),
            "<c t=\"inlineStr\"><is><t>1e5</t></is></c>"
        );
        // Before 1900-01-01 and after 9999-12-31 Excel has no dates.
        assert_eq!(
            cell(Value::Date(-25_568)),
            "<c t=\"inlineStr\"><is><t>1899-12-31</t></is></c>"
        );
        assert_eq!(
            cell(Value::Timestamp(i64::MAX)),
            "<c t=\"inlineStr\"><is><t>+294247-01-10T04:00:54.775807Z</t></is></c>"
        );
    }

    #[test]
    fn text_is_escaped_for_xml_and_excel() {
        assert_eq!(escaped("plain"), "plain");
        assert_eq!(escaped("a<b & c>d"), "a&lt;b &amp; c&gt;d");
        assert_eq!(escaped("tab\tline\nret\r"), "tab\tline\nret&#13;");
        assert_eq!(escaped("bell\u{7}nul\u{0}"), "bell_x0007_nul_x0000_");
        assert_eq!(
            escaped("x\u{FFFE}\u{FFFF}é\u{FFFD}"),
            "x_xFFFE__xFFFF_é\u{FFFD}"
        );
        assert_eq!(
            escaped("_x0041_ and _x41_ and a_b"),
            "_x005F_x0041_ and _x41_ and a_b"
        );
        assert_eq!(escaped("ΕλληνικάКириллица🎉"), "ΕλληνικάКириллица🎉");
        assert_eq!(
            cell(Value::Text("  padded ")),
            "<c t=\"inlineStr\"><is><t xml:space=\"preserve\">  padded </t></is></c>"
        );
    }

    #[test]
    fn long_text_is_cut_at_the_cell_limit() {
        let mut cells = CellWriter::default();
        let long = "é".repeat(MAX_CELL_CHARS + 10);
        let mut xml = Vec::new();
        cells.write(&mut xml, Value::Text(&long));
        let text = String::from_utf8(xml).unwrap();
        assert_eq!(text.matches('é').count(), MAX_CELL_CHARS);
        assert_eq!(cells.truncated, 1);
        // Astral characters count two units each and are never split.
        let emoji = "🎉".repeat(MAX_CELL_CHARS);
        assert_eq!(
            truncate_to_cell(&emoji).unwrap().chars().count(),
            MAX_CELL_CHARS / 2
        );
        assert_eq!(truncate_to_cell(&"a".repeat(MAX_CELL_CHARS)), None);
    }

    #[test]
    fn column_names() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
        assert_eq!(column_name(16_383), "XFD");
    }
}
