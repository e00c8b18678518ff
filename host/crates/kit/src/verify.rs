//! Reads back the output of the reference formats (CSV, JSON, NDJSON) and
//! compares it value by value with the rows that went in. Other formats are
//! checked by the generic cases only (and by their own readers in the tests).

use std::io::{BufRead as _, BufReader, Read};

use serde_json::Value as Json;
use serde_json::value::RawValue;

use exporter_runtime::Column;
use exporter_runtime::batch::Value;
use exporter_runtime::batch::time::{format_date, format_timestamp};

/// Which reader understands a media type, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Csv,
    JsonArray,
    Ndjson,
}

impl Reader {
    pub fn for_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" => Some(Reader::Csv),
            "application/json" => Some(Reader::JsonArray),
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
                Some(Reader::Ndjson)
            }
            _ => None,
        }
    }

    /// Checks that `output` holds exactly `rows` under `columns`, written
    /// with the format's default options.
    pub fn verify(
        self,
        output: &[u8],
        columns: &[Column],
        rows: &[Vec<Value>],
    ) -> Result<(), String> {
        self.verify_stream(output, columns, rows)
    }

    /// [`verify`](Self::verify), reading `output` record by record: only
    /// one record is held at a time, and a record far larger than the row
    /// it should hold is refused before it is parsed (a JSON tree can take
    /// many times its text in memory).
    pub fn verify_stream(
        self,
        output: impl Read,
        columns: &[Column],
        rows: &[Vec<Value>],
    ) -> Result<(), String> {
        match self {
            Reader::Csv => verify_csv(output, columns, rows),
            Reader::JsonArray => verify_json_array(output, columns, rows),
            Reader::Ndjson => verify_ndjson(output, columns, rows),
        }
    }
}

/// The most bytes an encoding of `row` may take: escaping multiplies text
/// by at most 6 (`\u00XX`), so 16 times plus room for names and syntax
/// only refuses output that is not this row.
fn record_bound(row: &[Value]) -> usize {
    let text: usize = row
        .iter()
        .map(|value| match value {
            Value::Text(t) | Value::Decimal(t) | Value::Json(t) => t.len(),
            _ => 32,
        })
        .sum();
    4096 + 16 * text
}

fn verify_csv(output: impl Read, columns: &[Column], rows: &[Vec<Value>]) -> Result<(), String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(output);
    let mut check = CsvCheck::new(columns, rows);
    let mut record = csv::StringRecord::new();
    let mut index = 0;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(format!("record {}: {e}", index + 1)),
        }
        index += 1;
        check.record(&record.iter().collect::<Vec<_>>())?;
    }
    check.finish()
}

/// Checks CSV records one at a time: the header, then one per row.
struct CsvCheck<'a> {
    columns: &'a [Column],
    rows: &'a [Vec<Value>],
    header: bool,
    records: usize,
}

impl<'a> CsvCheck<'a> {
    fn new(columns: &'a [Column], rows: &'a [Vec<Value>]) -> Self {
        Self {
            columns,
            rows,
            header: false,
            records: 0,
        }
    }

    fn record(&mut self, record: &[&str]) -> Result<(), String> {
        if !self.header {
            self.header = true;
            let expected: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
            if record != expected {
                return Err(format!("header is {record:?}, expected {expected:?}"));
            }
            return Ok(());
        }
        let index = self.records;
        self.records += 1;
        // Extra records are only counted; `finish` reports them.
        let Some(row) = self.rows.get(index) else {
            return Ok(());
        };
        if record.len() != self.columns.len() {
            return Err(format!(
                "record {} has {} fields, expected {}",
                index + 1,
                record.len(),
                self.columns.len()
            ));
        }
        for ((cell, value), column) in record.iter().zip(row).zip(self.columns) {
            check_csv_cell(cell, value)
                .map_err(|e| format!("row {}, column {:?}: {e}", index + 1, column.name))?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), String> {
        if !self.header {
            return Err("no header row".into());
        }
        if self.records != self.rows.len() {
            return Err(format!(
                "{} records for {} rows",
                self.records,
                self.rows.len()
            ));
        }
        Ok(())
    }
}

fn verify_ndjson(output: impl Read, columns: &[Column], rows: &[Vec<Value>]) -> Result<(), String> {
    let mut output = BufReader::new(output);
    let mut check = JsonCheck::new(columns, rows);
    let widest = rows.iter().map(|r| record_bound(r)).max().unwrap_or(4096);
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let bound = rows.get(number - 1).map_or(widest, |r| record_bound(r));
        (&mut output)
            .take(bound as u64 + 2)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("reading line {number}: {e}"))?;
        if line.is_empty() {
            break;
        }
        if line.last() != Some(&b'\n') {
            return Err(if line.len() > bound {
                format!("line {number} is longer than {bound} bytes, far more than its row needs")
            } else {
                "the last line does not end with a newline".into()
            });
        }
        let text = std::str::from_utf8(&line).map_err(|e| format!("output is not UTF-8: {e}"))?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if check.items >= rows.len() {
            // Extra lines are only counted; `finish` reports them.
            check.items += 1;
            continue;
        }
        let item: Json =
            serde_json::from_str(text).map_err(|e| format!("line {number} is not JSON: {e}"))?;
        check.item(&item)?;
    }
    check.finish()
}

fn verify_json_array(
    output: impl Read,
    columns: &[Column],
    rows: &[Vec<Value>],
) -> Result<(), String> {
    use serde::Deserializer as _;
    use serde::de::{Error as _, SeqAccess, Visitor};

    struct Items<'c, 'a>(&'c mut JsonCheck<'a>, &'c mut Option<String>);

    impl<'de> Visitor<'de> for Items<'_, '_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
                let index = self.0.items;
                let text = raw.get();
                let outcome = match self.0.rows.get(index) {
                    // Extra items are only counted; `finish` reports them.
                    None => {
                        self.0.items += 1;
                        Ok(())
                    }
                    Some(row) if text.len() > record_bound(row) => Err(format!(
                        "item {} is {} bytes, far more than its row needs",
                        index + 1,
                        text.len()
                    )),
                    Some(_) => serde_json::from_str::<Json>(text)
                        .map_err(|e| format!("item {} is not JSON: {e}", index + 1))
                        .and_then(|item| self.0.item(&item)),
                };
                if let Err(failure) = outcome {
                    *self.1 = Some(failure);
                    return Err(A::Error::custom("stopped"));
                }
            }
            Ok(())
        }
    }

    let mut check = JsonCheck::new(columns, rows);
    let mut failure = None;
    let mut deserializer = serde_json::Deserializer::from_reader(BufReader::new(output));
    let parsed = deserializer
        .deserialize_seq(Items(&mut check, &mut failure))
        .and_then(|()| deserializer.end());
    if let Some(failure) = failure {
        return Err(failure);
    }
    parsed.map_err(|e| {
        if e.is_data() {
            format!("output is not a JSON array: {e}")
        } else {
            format!("output is not JSON: {e}")
        }
    })?;
    check.finish()
}

/// Checks JSON objects one at a time, one per row.
struct JsonCheck<'a> {
    columns: &'a [Column],
    rows: &'a [Vec<Value>],
    items: usize,
}

impl<'a> JsonCheck<'a> {
    fn new(columns: &'a [Column], rows: &'a [Vec<Value>]) -> Self {
        Self {
            columns,
            rows,
            items: 0,
        }
    }

    fn item(&mut self, item: &Json) -> Result<(), String> {
        let index = self.items;
        self.items += 1;
        let Some(row) = self.rows.get(index) else {
            return Ok(());
        };
        let Json::Object(object) = item else {
            return Err(format!("item {} is not an object", index + 1));
        };
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        let expected: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        if keys != expected {
            return Err(format!(
                "object {} has keys {keys:?}, expected {expected:?}",
                index + 1
            ));
        }
        for ((column, value), json) in self.columns.iter().zip(row).zip(object.values()) {
            check_json_value(json, value)
                .map_err(|e| format!("object {}, key {:?}: {e}", index + 1, column.name))?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), String> {
        if self.items != self.rows.len() {
            return Err(format!(
                "{} objects for {} rows",
                self.items,
                self.rows.len()
            ));
        }
        Ok(())
    }
}

/// Compares a parsed CSV table (header first) with the rows exported. Any
/// CSV reader's result will do: the tests feed it Python's.
pub fn check_csv_table(
    table: &[Vec<String>],
    columns: &[Column],
    rows: &[Vec<Value>],
) -> Result<(), String> {
    let mut check = CsvCheck::new(columns, rows);
    for record in table {
        check.record(&record.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    check.finish()
}

fn check_csv_cell(cell: &str, value: &Value) -> Result<(), String> {
    let ok = match value {
        Value::Null => cell.is_empty(),
        Value::Boolean(b) => cell == if *b { "true" } else { "false" },
        Value::Int64(n) => cell == n.to_string(),
        Value::Float64(f) => {
            let parsed = match cell {
                "NaN" => Some(f64::NAN),
                "inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                _ => cell.parse::<f64>().ok(),
            };
            parsed.is_some_and(|p| same_float(p, *f))
        }
        Value::Decimal(d) | Value::Text(d) => cell == d,
        Value::Date(days) => cell == format_date(*days),
        Value::Timestamp(micros) => cell == format_timestamp(*micros),
        Value::Json(text) => same_json_text(cell, text),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "got {:?}, expected {}",
            truncate(cell),
            describe(value)
        ))
    }
}

/// Compares parsed JSON objects (one per row) with the rows exported.
pub fn check_json_objects(
    items: &[Json],
    columns: &[Column],
    rows: &[Vec<Value>],
) -> Result<(), String> {
    let mut check = JsonCheck::new(columns, rows);
    for item in items {
        check.item(item)?;
    }
    check.finish()
}

fn check_json_value(json: &Json, value: &Value) -> Result<(), String> {
    let ok = match (value, json) {
        (Value::Null, Json::Null) => true,
        (Value::Boolean(b), Json::Bool(j)) => b == j,
        (Value::Int64(n), Json::Number(j)) => j.as_i64() == Some(*n),
        (Value::Float64(f), Json::Null) => !f.is_finite(),
        (Value::Float64(f), Json::Number(j)) => j.as_f64().is_some_and(|p| same_float(p, *f)),
        (Value::Decimal(d), Json::Number(j)) => d
            .parse::<f64>()
            .ok()
            .zip(j.as_f64())
            .is_some_and(|(a, b)| a == b),
        (Value::Decimal(d), Json::String(s)) | (Value::Text(d), Json::String(s)) => d == s,
        (Value::Date(days), Json::String(s)) => *s == format_date(*days),
        (Value::Timestamp(micros), Json::String(s)) => *s == format_timestamp(*micros),
        (Value::Json(text), j) => serde_json::from_str::<Json>(text).is_ok_and(|v| &v == j),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "got {}, expected {}",
            truncate(&json.to_string()),
            describe(value)
        ))
    }
}

fn same_float(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits() || (a == b && a != 0.0)
}

fn same_json_text(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Json>(a),
        serde_json::from_str::<Json>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn truncate(text: &str) -> String {
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text.to_owned()
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Text(t) | Value::Decimal(t) | Value::Json(t) => format!("{:?}", truncate(t)),
        other => format!("{other:?}"),
    }
}
