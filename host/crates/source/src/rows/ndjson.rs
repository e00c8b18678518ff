//! NDJSON input: one JSON object per line; keys are columns.

use std::io::BufRead;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value as Json};

use super::schema::{Guess, sniff_text};
use super::{INFERENCE_SAMPLE_ROWS, Lines, RowSource, Sample};
use exporter_runtime::batch::Value;
use exporter_runtime::batch::time::{parse_date, parse_timestamp};
use exporter_runtime::{Column, ColumnType};

pub struct NdjsonRows<R> {
    lines: Lines<R>,
    columns: Vec<Column>,
    sample: Sample<(u64, Map<String, Json>)>,
}

impl<R: BufRead> NdjsonRows<R> {
    pub fn new(reader: R, schema: Option<Vec<Column>>) -> anyhow::Result<Self> {
        let mut lines = Lines::new(reader);
        let mut sampled = Vec::new();
        let sample_size = if schema.is_some() {
            0
        } else {
            INFERENCE_SAMPLE_ROWS
        };
        while sampled.len() < sample_size {
            let Some(line) = lines.next_line()? else {
                break;
            };
            let object = parse_object(line).with_context(|| format!("line {}", lines.line))?;
            sampled.push((lines.line, object));
        }
        let columns = match schema {
            Some(columns) => columns,
            None => infer(&sampled),
        };
        Ok(Self {
            lines,
            columns,
            sample: Sample::new(sampled),
        })
    }

    fn convert(
        &self,
        line: u64,
        mut object: Map<String, Json>,
        row: &mut Vec<Value>,
    ) -> anyhow::Result<()> {
        row.clear();
        for column in &self.columns {
            let value = object.remove(&column.name).unwrap_or(Json::Null);
            let typed = to_value(value, column.kind).with_context(|| {
                format!(
                    "line {line}, column {:?} ({})",
                    column.name,
                    column.kind.as_str()
                )
            })?;
            row.push(typed);
        }
        if let Some(extra) = object.keys().next() {
            bail!(
                "line {line}: key {extra:?} is not a column (columns come from the first {INFERENCE_SAMPLE_ROWS} rows or --schema)"
            );
        }
        Ok(())
    }
}

impl<R: BufRead> RowSource for NdjsonRows<R> {
    fn columns(&self) -> &[Column] {
        &self.columns
    }

    fn next_row(&mut self, row: &mut Vec<Value>) -> anyhow::Result<bool> {
        if let Some((line, object)) = self.sample.next() {
            self.convert(line, object, row)?;
            return Ok(true);
        }
        let object = match self.lines.next_line()? {
            Some(text) => parse_object(text),
            None => return Ok(false),
        };
        let line = self.lines.line;
        let object = object.with_context(|| format!("line {line}"))?;
        self.convert(line, object, row)?;
        Ok(true)
    }
}

fn parse_object(line: &str) -> anyhow::Result<Map<String, Json>> {
    match serde_json::from_str::<Json>(line).context("not valid JSON")? {
        Json::Object(map) => Ok(map),
        other => bail!("expected a JSON object, got {}", kind_of(&other)),
    }
}

fn kind_of(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn infer(sample: &[(u64, Map<String, Json>)]) -> Vec<Column> {
    let mut names: Vec<String> = Vec::new();
    let mut guesses: Vec<Guess> = Vec::new();
    for (_, object) in sample {
        for (key, value) in object {
            let index = match names.iter().position(|n| n == key) {
                Some(index) => index,
                None => {
                    names.push(key.clone());
                    guesses.push(Guess::Unknown);
                    names.len() - 1
                }
            };
            let seen = match value {
                Json::Null => continue,
                Json::Bool(_) => ColumnType::Boolean,
                Json::Number(n) if n.is_i64() => ColumnType::Int64,
                Json::Number(_) => ColumnType::Float64,
                Json::String(s) => sniff_text(s, false),
                Json::Array(_) | Json::Object(_) => ColumnType::Json,
            };
            guesses[index] = guesses[index].widen(seen);
        }
    }
    names
        .into_iter()
        .zip(guesses)
        .map(|(name, guess)| Column {
            name,
            kind: guess.resolve(),
        })
        .collect()
}

fn to_value(value: Json, kind: ColumnType) -> anyhow::Result<Value> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    if kind == ColumnType::Json {
        return Ok(Value::Json(value.to_string()));
    }
    Ok(match (kind, value) {
        (ColumnType::Boolean, Json::Bool(b)) => Value::Boolean(b),
        (ColumnType::Int64, Json::Number(n)) => Value::Int64(
            n.as_i64()
                .with_context(|| format!("{n} is not a 64-bit integer"))?,
        ),
        (ColumnType::Float64, Json::Number(n)) => {
            Value::Float64(n.as_f64().context("not a number")?)
        }
        (ColumnType::Float64, Json::String(s)) => Value::Float64(match s.as_str() {
            "NaN" => f64::NAN,
            "inf" | "Infinity" => f64::INFINITY,
            "-inf" | "-Infinity" => f64::NEG_INFINITY,
            _ => bail!("{s:?} is not a number"),
        }),
        (ColumnType::Decimal, Json::Number(n)) => Value::Decimal(n.to_string()),
        (ColumnType::Decimal, Json::String(s)) if is_decimal(&s) => Value::Decimal(s),
        (ColumnType::Text, Json::String(s)) => Value::Text(s),
        (ColumnType::Date, Json::String(s)) => Value::Date(
            parse_date(&s).with_context(|| format!("{s:?} is not a date (YYYY-MM-DD)"))?,
        ),
        (ColumnType::Timestamp, Json::String(s)) => Value::Timestamp(
            parse_timestamp(&s).with_context(|| format!("{s:?} is not an RFC 3339 timestamp"))?,
        ),
        (_, other) => bail!("got {}", kind_of(&other)),
    })
}

/// `-12.50`, `3`, `0.001`: what a decimal column accepts as text.
pub(crate) fn is_decimal(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next().unwrap_or("0");
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_types_and_keeps_key_order() {
        let input = "{\"id\":1,\"name\":\"a\",\"at\":\"2026-01-02T03:04:05Z\",\"day\":\"2026-01-02\",\"x\":1.5,\"ok\":true,\"meta\":{\"k\":1}}\n\
                     {\"id\":2,\"name\":null,\"at\":\"2026-01-02T03:04:06Z\",\"day\":\"2026-01-03\",\"x\":2,\"ok\":false,\"meta\":[1]}\n";
        let mut rows = NdjsonRows::new(input.as_bytes(), None).unwrap();
        let kinds: Vec<_> = rows
            .columns()
            .iter()
            .map(|c| (c.name.as_str(), c.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("id", ColumnType::Int64),
                ("name", ColumnType::Text),
                ("at", ColumnType::Timestamp),
                ("day", ColumnType::Date),
                ("x", ColumnType::Float64),
                ("ok", ColumnType::Boolean),
                ("meta", ColumnType::Json),
            ]
        );
        let mut row = Vec::new();
        assert!(rows.next_row(&mut row).unwrap());
        assert!(rows.next_row(&mut row).unwrap());
        assert_eq!(row[1], Value::Null);
        assert_eq!(row[4], Value::Float64(2.0));
        assert_eq!(row[6], Value::Json("[1]".into()));
        assert!(!rows.next_row(&mut row).unwrap());
    }

    #[test]
    fn reports_the_line_of_a_bad_value() {
        let schema = vec![Column {
            name: "id".into(),
            kind: ColumnType::Int64,
        }];
        let input = "{\"id\":1}\n\n{\"id\":\"x\"}\n";
        let mut rows = NdjsonRows::new(input.as_bytes(), Some(schema)).unwrap();
        let mut row = Vec::new();
        assert!(rows.next_row(&mut row).unwrap());
        let error = format!("{:#}", rows.next_row(&mut row).unwrap_err());
        assert!(error.contains("line 3"), "{error}");
    }
}
