//! CSV input with a header row. Empty cells are nulls.

use std::io::Read;

use anyhow::{Context as _, bail};

use super::ndjson::is_decimal;
use super::schema::{Guess, sniff_text};
use super::{INFERENCE_SAMPLE_ROWS, RowSource, Sample};
use exporter_runtime::batch::Value;
use exporter_runtime::batch::time::{parse_date, parse_timestamp};
use exporter_runtime::{Column, ColumnType};

pub struct CsvRows<R> {
    reader: csv::Reader<R>,
    columns: Vec<Column>,
    sample: Sample<csv::StringRecord>,
    record: csv::StringRecord,
}

impl<R: Read> CsvRows<R> {
    pub fn new(reader: R, schema: Option<Vec<Column>>) -> anyhow::Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(reader);
        let headers = reader.headers().context("reading the CSV header")?.clone();
        let mut sampled = Vec::new();
        if schema.is_none() {
            for record in reader.records().take(INFERENCE_SAMPLE_ROWS) {
                sampled.push(record.context("reading CSV")?);
            }
        }
        let columns = match schema {
            Some(columns) => {
                let names: Vec<&str> = headers.iter().collect();
                let expected: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                if names != expected {
                    bail!(
                        "the CSV header {names:?} does not match the schema's columns {expected:?}"
                    );
                }
                columns
            }
            None => infer(&headers, &sampled),
        };
        Ok(Self {
            reader,
            columns,
            sample: Sample::new(sampled),
            record: csv::StringRecord::new(),
        })
    }
}

impl<R: Read> RowSource for CsvRows<R> {
    fn columns(&self) -> &[Column] {
        &self.columns
    }

    fn next_row(&mut self, row: &mut Vec<Value>) -> anyhow::Result<bool> {
        let record = match self.sample.next() {
            Some(record) => record,
            None => {
                if !self
                    .reader
                    .read_record(&mut self.record)
                    .context("reading CSV")?
                {
                    return Ok(false);
                }
                std::mem::take(&mut self.record)
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        row.clear();
        for (column, cell) in self.columns.iter().zip(record.iter()) {
            row.push(to_value(cell, column.kind).with_context(|| {
                format!(
                    "line {line}, column {:?} ({})",
                    column.name,
                    column.kind.as_str()
                )
            })?);
        }
        Ok(true)
    }
}

fn infer(headers: &csv::StringRecord, sample: &[csv::StringRecord]) -> Vec<Column> {
    headers
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let guess = sample
                .iter()
                .filter_map(|record| record.get(index))
                .filter(|cell| !cell.is_empty())
                .fold(Guess::Unknown, |guess, cell| {
                    guess.widen(sniff_text(cell, true))
                });
            Column {
                name: name.to_owned(),
                // Mixed CSV cells are still text: CSV has no JSON.
                kind: match guess.resolve() {
                    ColumnType::Json => ColumnType::Text,
                    kind => kind,
                },
            }
        })
        .collect()
}

fn to_value(cell: &str, kind: ColumnType) -> anyhow::Result<Value> {
    if cell.is_empty() {
        return Ok(Value::Null);
    }
    Ok(match kind {
        ColumnType::Boolean => match cell {
            "true" => Value::Boolean(true),
            "false" => Value::Boolean(false),
            _ => bail!("{cell:?} is not true or false"),
        },
        ColumnType::Int64 => Value::Int64(
            cell.parse()
                .with_context(|| format!("{cell:?} is not an integer"))?,
        ),
        ColumnType::Float64 => Value::Float64(
            cell.parse()
                .with_context(|| format!("{cell:?} is not a number"))?,
        ),
        ColumnType::Decimal if is_decimal(cell) => Value::Decimal(cell.to_owned()),
        ColumnType::Decimal => bail!("{cell:?} is not a decimal"),
        ColumnType::Text => Value::Text(cell.to_owned()),
        ColumnType::Date => Value::Date(
            parse_date(cell).with_context(|| format!("{cell:?} is not a date (YYYY-MM-DD)"))?,
        ),
        ColumnType::Timestamp => Value::Timestamp(
            parse_timestamp(cell)
                .with_context(|| format!("{cell:?} is not an RFC 3339 timestamp"))?,
        ),
        ColumnType::Json => {
            let parsed: serde_json::Value =
                serde_json::from_str(cell).with_context(|| format!("{cell:?} is not JSON"))?;
            Value::Json(parsed.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_csv_types() {
        let input = "id,price,when,day,flag,name\n1,2.50,2026-01-01T00:00:00Z,2026-01-01,true,x\n2,,2026-01-01T00:00:01Z,2026-01-02,false,\"a,b\"\n";
        let mut rows = CsvRows::new(input.as_bytes(), None).unwrap();
        let kinds: Vec<_> = rows.columns().iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            vec![
                ColumnType::Int64,
                ColumnType::Float64,
                ColumnType::Timestamp,
                ColumnType::Date,
                ColumnType::Boolean,
                ColumnType::Text
            ]
        );
        let mut row = Vec::new();
        assert!(rows.next_row(&mut row).unwrap());
        assert!(rows.next_row(&mut row).unwrap());
        assert_eq!(row[1], Value::Null);
        assert_eq!(row[5], Value::Text("a,b".into()));
        assert!(!rows.next_row(&mut row).unwrap());
    }
}
