//! Reads back the output of the reference formats (CSV, JSON, NDJSON) and
//! compares it value by value with the rows that went in. Other formats are
//! checked by the generic cases only (and by their own readers in the tests).

use serde_json::Value as Json;

use crate::batch::Value;
use crate::batch::time::{format_date, format_timestamp};
use crate::plugins::Column;

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
        match self {
            Reader::Csv => verify_csv(output, columns, rows),
            Reader::JsonArray => {
                let parsed: Json = serde_json::from_slice(output)
                    .map_err(|e| format!("output is not JSON: {e}"))?;
                let Json::Array(items) = parsed else {
                    return Err("output is not a JSON array".into());
                };
                check_json_objects(&items, columns, rows)
            }
            Reader::Ndjson => {
                let text =
                    std::str::from_utf8(output).map_err(|e| format!("output is not UTF-8: {e}"))?;
                if !text.is_empty() && !text.ends_with('\n') {
                    return Err("the last line does not end with a newline".into());
                }
                let items: Vec<Json> = text
                    .lines()
                    .enumerate()
                    .map(|(i, line)| {
                        serde_json::from_str(line)
                            .map_err(|e| format!("line {} is not JSON: {e}", i + 1))
                    })
                    .collect::<Result<_, _>>()?;
                check_json_objects(&items, columns, rows)
            }
        }
    }
}

fn verify_csv(output: &[u8], columns: &[Column], rows: &[Vec<Value>]) -> Result<(), String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(output);
    let table: Vec<Vec<String>> = reader
        .records()
        .enumerate()
        .map(|(index, record)| {
            record
                .map(|r| r.iter().map(str::to_owned).collect())
                .map_err(|e| format!("record {}: {e}", index + 1))
        })
        .collect::<Result<_, _>>()?;
    check_csv_table(&table, columns, rows)
}

/// Compares a parsed CSV table (header first) with the rows exported. Any
/// CSV reader's result will do: the tests feed it Python's.
pub fn check_csv_table(
    table: &[Vec<String>],
    columns: &[Column],
    rows: &[Vec<Value>],
) -> Result<(), String> {
    let (header, records) = table.split_first().ok_or("no header row")?;
    let expected: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    if *header != expected {
        return Err(format!("header is {header:?}, expected {expected:?}"));
    }
    if records.len() != rows.len() {
        return Err(format!("{} records for {} rows", records.len(), rows.len()));
    }
    for (index, (record, row)) in records.iter().zip(rows).enumerate() {
        if record.len() != columns.len() {
            return Err(format!(
                "record {} has {} fields, expected {}",
                index + 1,
                record.len(),
                columns.len()
            ));
        }
        for ((cell, value), column) in record.iter().zip(row).zip(columns) {
            check_csv_cell(cell, value)
                .map_err(|e| format!("row {}, column {:?}: {e}", index + 1, column.name))?;
        }
    }
    Ok(())
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
    if items.len() != rows.len() {
        return Err(format!("{} objects for {} rows", items.len(), rows.len()));
    }
    for (index, (item, row)) in items.iter().zip(rows).enumerate() {
        let Json::Object(object) = item else {
            return Err(format!("item {} is not an object", index + 1));
        };
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        let expected: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        if keys != expected {
            return Err(format!(
                "object {} has keys {keys:?}, expected {expected:?}",
                index + 1
            ));
        }
        for ((column, value), json) in columns.iter().zip(row).zip(object.values()) {
            check_json_value(json, value)
                .map_err(|e| format!("object {}, key {:?}: {e}", index + 1, column.name))?;
        }
    }
    Ok(())
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
