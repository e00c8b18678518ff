//! JSON renderings of values and rows, shared by the JSON-family formats.

use std::io::Write;

use crate::{Batch, Column, FormatError, TextFormatter, Value};

/// Writes [`Value`]s as JSON.
///
/// The rules:
///
/// | value | JSON |
/// |---|---|
/// | null | `null` |
/// | boolean | `true`, `false` |
/// | int64 | a number, e.g. `-42`; a string (`"-42"`) with [`JsonWriter::int64_as_string`] |
/// | float64 | the shortest round-trip number (e.g. `0.1`, `1.0`, `1e100`, `-0.0`); `null` when NaN or infinite |
/// | decimal | the digits as a raw number when they match the JSON number grammar (e.g. `-12.50`) and do not overflow a double, else a string (e.g. `"+1"`, `".5"`, `"NaN"`, `"1e400"`) |
/// | text | a string, escaped per RFC 8259 (`"`, `\`, and control characters; everything else as UTF-8) |
/// | date | a string `"YYYY-MM-DD"` (see [`TextFormatter`]) |
/// | timestamp | a string `"YYYY-MM-DDTHH:MM:SS[.ffffff]Z"` (see [`TextFormatter`]) |
/// | json | embedded as is; with [`JsonWriter::single_line`], CR and LF (which valid JSON only has between tokens) become spaces |
///
/// An empty or all-whitespace json value is not a JSON document and gives
/// [`FormatError::InvalidData`].
#[derive(Debug, Default)]
pub struct JsonWriter {
    text: TextFormatter,
    int64_as_string: bool,
    single_line: bool,
}

impl JsonWriter {
    /// A writer with int64 as numbers and json embedded as is.
    pub fn new() -> JsonWriter {
        JsonWriter::default()
    }

    /// Write int64 values as strings, for readers (JavaScript) that lose
    /// digits past 2^53.
    pub fn int64_as_string(mut self, yes: bool) -> JsonWriter {
        self.int64_as_string = yes;
        self
    }

    /// Keep every value on one line, for line-delimited formats: embedded
    /// json values have their CR and LF replaced by spaces.
    pub fn single_line(mut self, yes: bool) -> JsonWriter {
        self.single_line = yes;
        self
    }

    /// Write `value` as one JSON value.
    #[inline]
    pub fn write_value<W: Write + ?Sized>(
        &mut self,
        out: &mut W,
        value: Value<'_>,
    ) -> Result<(), FormatError> {
        match value {
            Value::Null => out.write_all(b"null")?,
            Value::Boolean(v) => out.write_all(self.text.boolean(v).as_bytes())?,
            Value::Int64(v) => {
                let digits = self.text.int64(v).as_bytes();
                if self.int64_as_string {
                    write_quoted_ascii(out, digits)?;
                } else {
                    out.write_all(digits)?;
                }
            }
            Value::Float64(v) if v.is_finite() => out.write_all(self.text.float64(v).as_bytes())?,
            Value::Float64(_) => out.write_all(b"null")?,
            Value::Decimal(v) if is_json_number(v) && fits_double(v) => {
                out.write_all(v.as_bytes())?
            }
            Value::Decimal(v) | Value::Text(v) => write_string(out, v)?,
            Value::Date(v) => write_quoted_ascii(out, self.text.date(v).as_bytes())?,
            Value::Timestamp(v) => write_quoted_ascii(out, self.text.timestamp(v).as_bytes())?,
            Value::Json(v) => self.write_embedded(out, v)?,
        }
        Ok(())
    }

    fn write_embedded<W: Write + ?Sized>(
        &self,
        out: &mut W,
        json: &str,
    ) -> Result<(), FormatError> {
        if json.trim_ascii().is_empty() {
            return Err(FormatError::InvalidData(
                "a json value is empty, which is not a JSON document".to_owned(),
            ));
        }
        if self.single_line && json.bytes().any(|b| b == b'\n' || b == b'\r') {
            let mut pieces = json.split(['\n', '\r']);
            if let Some(first) = pieces.next() {
                out.write_all(first.as_bytes())?;
            }
            for piece in pieces {
                out.write_all(b" ")?;
                out.write_all(piece.as_bytes())?;
            }
        } else {
            out.write_all(json.as_bytes())?;
        }
        Ok(())
    }
}

/// Write `text` as a JSON string, escaped per RFC 8259.
#[inline]
pub fn write_string<W: Write + ?Sized>(out: &mut W, text: &str) -> Result<(), FormatError> {
    serde_json::to_writer(out, text).map_err(|e| FormatError::Other(format!("write failed: {e}")))
}

fn write_quoted_ascii<W: Write + ?Sized>(out: &mut W, ascii: &[u8]) -> std::io::Result<()> {
    out.write_all(b"\"")?;
    out.write_all(ascii)?;
    out.write_all(b"\"")
}

/// Whether `text` is a number in the JSON grammar (RFC 8259 section 6):
/// `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`.
pub fn is_json_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut at = 0;
    let digits_from = |at: usize| {
        bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };

    if bytes.first() == Some(&b'-') {
        at += 1;
    }
    match bytes.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at += digits_from(at),
        _ => return false,
    }
    if bytes.get(at) == Some(&b'.') {
        let n = digits_from(at + 1);
        if n == 0 {
            return false;
        }
        at += 1 + n;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let n = digits_from(at);
        if n == 0 {
            return false;
        }
        at += n;
    }
    at == bytes.len()
}

/// Whether the JSON number `text` stays finite as a double. Readers that
/// parse numbers into doubles (serde_json, most others) refuse larger ones
/// outright, so those are written as strings. Written for speed: without an
/// exponent, up to 308 integer digits is always below `f64::MAX`; only
/// numbers with an exponent are parsed.
fn fits_double(text: &str) -> bool {
    if text.bytes().any(|b| b == b'e' || b == b'E') {
        return text.parse::<f64>().is_ok_and(f64::is_finite);
    }
    let integer = text.trim_start_matches('-');
    let digits = integer.find('.').unwrap_or(integer.len());
    digits <= 308
}

/// Writes rows of a [`Batch`] as JSON objects: `{"name":value,...}` with
/// the column names as keys, in schema order, no whitespace. Values follow
/// the [`JsonWriter`] rules.
#[derive(Debug)]
pub struct JsonRowWriter {
    /// `{"name":` for the first column, `,"name":` for the rest: escaped
    /// once here rather than per row.
    keys: Vec<Vec<u8>>,
    values: JsonWriter,
    names: Vec<String>,
}

impl JsonRowWriter {
    /// A row writer for `columns`. Refuses, with
    /// [`FormatError::UnsupportedSchema`], two columns with the same name:
    /// the objects would have duplicate keys, which most readers resolve by
    /// silently dropping one.
    pub fn new(columns: &[Column], values: JsonWriter) -> Result<JsonRowWriter, FormatError> {
        let mut keys = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            if columns[..i].iter().any(|c| c.name == column.name) {
                return Err(FormatError::UnsupportedSchema(format!(
                    "column name {:?} appears more than once; JSON object keys must be unique",
                    column.name
                )));
            }
            let mut key = vec![if i == 0 { b'{' } else { b',' }];
            write_string(&mut key, &column.name)?;
            key.push(b':');
            keys.push(key);
        }
        Ok(JsonRowWriter {
            keys,
            values,
            names: columns.iter().map(|c| c.name.clone()).collect(),
        })
    }

    /// Write row `row` of `batch` as one object (no trailing separator).
    #[inline]
    pub fn write_row<W: Write + ?Sized>(
        &mut self,
        out: &mut W,
        batch: &Batch<'_>,
        row: usize,
    ) -> Result<(), FormatError> {
        if self.keys.is_empty() {
            out.write_all(b"{}")?;
            return Ok(());
        }
        for (column, key) in self.keys.iter().enumerate() {
            out.write_all(key)?;
            self.values
                .write_value(out, batch.value(row, column))
                .map_err(|e| match e {
                    FormatError::InvalidData(m) => FormatError::InvalidData(format!(
                        "column {:?}, row {row} of the batch: {m}",
                        self.names[column]
                    )),
                    other => other,
                })?;
        }
        out.write_all(b"}")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(writer: &mut JsonWriter, value: Value<'_>) -> String {
        let mut out = Vec::new();
        writer.write_value(&mut out, value).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_number_grammar() {
        for ok in [
            "0",
            "-0",
            "12",
            "-12.50",
            "1e5",
            "1E+5",
            "1.5e-07",
            "0.0",
            "9007199254740993",
        ] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in [
            "", "-", "+1", "01", "1.", ".5", "1e", "1e+", "NaN", "inf", "1,5", " 1", "1 ", "0x10",
            "--1", "1.2.3", "١",
        ] {
            assert!(!is_json_number(bad), "{bad:?}");
        }
    }

    #[test]
    fn values() {
        let mut w = JsonWriter::new();
        assert_eq!(json(&mut w, Value::Null), "null");
        assert_eq!(json(&mut w, Value::Boolean(true)), "true");
        assert_eq!(json(&mut w, Value::Int64(i64::MIN)), "-9223372036854775808");
        assert_eq!(json(&mut w, Value::Float64(0.1)), "0.1");
        assert_eq!(json(&mut w, Value::Float64(1e300)), "1e300");
        assert_eq!(json(&mut w, Value::Float64(-0.0)), "-0.0");
        assert_eq!(json(&mut w, Value::Float64(f64::NAN)), "null");
        assert_eq!(json(&mut w, Value::Float64(f64::INFINITY)), "null");
        assert_eq!(json(&mut w, Value::Float64(f64::NEG_INFINITY)), "null");
        assert_eq!(json(&mut w, Value::Decimal("-12.50")), "-12.50");
        assert_eq!(json(&mut w, Value::Decimal("+1")), "\"+1\"");
        assert_eq!(json(&mut w, Value::Decimal("NaN")), "\"NaN\"");
        assert_eq!(json(&mut w, Value::Decimal("1e308")), "1e308");
        assert_eq!(json(&mut w, Value::Decimal("-1E-400")), "-1E-400");
        assert_eq!(json(&mut w, Value::Decimal("1e400")), "\"1e400\"");
        let huge = "9".repeat(308) + ".5";
        assert_eq!(json(&mut w, Value::Decimal(&huge)), huge);
        let too_huge = "9".repeat(309);
        assert_eq!(
            json(&mut w, Value::Decimal(&too_huge)),
            format!("\"{too_huge}\"")
        );
        let parsed: serde_json::Value =
            serde_json::from_str(&json(&mut w, Value::Decimal(&huge))).unwrap();
        assert!(parsed.is_f64());
        assert_eq!(json(&mut w, Value::Date(-1)), "\"1969-12-31\"");
        assert_eq!(
            json(&mut w, Value::Timestamp(1)),
            "\"1970-01-01T00:00:00.000001Z\""
        );
        assert_eq!(json(&mut w, Value::Json("{\"a\":\n[1]}")), "{\"a\":\n[1]}");
    }

    #[test]
    fn strings_are_escaped_per_rfc_8259() {
        let mut w = JsonWriter::new();
        assert_eq!(
            json(
                &mut w,
                Value::Text("q\"b\\n\n\r\t\u{0}\u{1f}\u{7f}é😀\u{2028}/")
            ),
            "\"q\\\"b\\\\n\\n\\r\\t\\u0000\\u001f\u{7f}é😀\u{2028}/\""
        );
        let parsed: String =
            serde_json::from_str(&json(&mut w, Value::Text("a\u{0}b\"c"))).unwrap();
        assert_eq!(parsed, "a\u{0}b\"c");
    }

    #[test]
    fn int64_as_string() {
        let mut w = JsonWriter::new().int64_as_string(true);
        assert_eq!(
            json(&mut w, Value::Int64(9_007_199_254_740_993)),
            "\"9007199254740993\""
        );
        assert_eq!(json(&mut w, Value::Null), "null");
    }

    #[test]
    fn single_line_flattens_embedded_json() {
        let mut w = JsonWriter::new().single_line(true);
        assert_eq!(
            json(&mut w, Value::Json("{\r\n  \"a\": 1\n}")),
            "{    \"a\": 1 }"
        );
        assert_eq!(json(&mut w, Value::Json("[1]")), "[1]");
        assert_eq!(json(&mut w, Value::Text("a\nb")), "\"a\\nb\"");
    }

    #[test]
    fn empty_json_is_invalid_data() {
        let mut out = Vec::new();
        let e = JsonWriter::new()
            .write_value(&mut out, Value::Json(" \n"))
            .unwrap_err();
        assert!(matches!(e, FormatError::InvalidData(_)));
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let columns = vec![
            Column::new("a", crate::ColumnType::Int64),
            Column::new("a", crate::ColumnType::Text),
        ];
        assert!(matches!(
            JsonRowWriter::new(&columns, JsonWriter::new()),
            Err(FormatError::UnsupportedSchema(_))
        ));
    }
}
