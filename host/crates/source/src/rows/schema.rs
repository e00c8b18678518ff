//! Column schemas: read from a file, written as text, inferred from values.
//! Types are named as the WIT spells them (`exporter-wit`'s `ColumnType`).

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

use exporter_runtime::batch::time::{parse_date, parse_timestamp};
use exporter_runtime::{Column, ColumnType};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnEntry {
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Reads a schema file: a JSON array of `{"name": ..., "type": ...}`.
pub fn read_schema_file(path: &Path) -> anyhow::Result<Vec<Column>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading schema {}", path.display()))?;
    parse_schema(&text).with_context(|| format!("schema {}", path.display()))
}

/// Parses a schema document.
pub fn parse_schema(text: &str) -> anyhow::Result<Vec<Column>> {
    let entries: Vec<ColumnEntry> = serde_json::from_str(text)
        .context(r#"expected a JSON array of {"name": "...", "type": "..."}"#)?;
    let mut columns = Vec::with_capacity(entries.len());
    for entry in entries {
        let kind = ColumnType::parse(&entry.kind).with_context(|| {
            let known: Vec<&str> = exporter_wit::ColumnType::ALL
                .iter()
                .map(|kind| kind.as_str())
                .collect();
            format!(
                "column {:?}: unknown type {:?} ({})",
                entry.name,
                entry.kind,
                known.join(", ")
            )
        })?;
        if columns.iter().any(|c: &Column| c.name == entry.name) {
            anyhow::bail!("column {:?} appears twice", entry.name);
        }
        columns.push(Column {
            name: entry.name,
            kind,
        });
    }
    Ok(columns)
}

/// Narrowest type seen so far for a column, widened value by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Guess {
    /// Only nulls so far.
    #[default]
    Unknown,
    Known(ColumnType),
}

impl Guess {
    pub(crate) fn widen(self, seen: ColumnType) -> Guess {
        use ColumnType as T;
        let merged = match self {
            Guess::Unknown => seen,
            Guess::Known(current) if current == seen => current,
            Guess::Known(T::Int64) if seen == T::Float64 => T::Float64,
            Guess::Known(T::Float64) if seen == T::Int64 => T::Float64,
            Guess::Known(T::Date | T::Timestamp)
                if matches!(seen, T::Date | T::Timestamp | T::Text) =>
            {
                T::Text
            }
            Guess::Known(T::Text) if matches!(seen, T::Date | T::Timestamp) => T::Text,
            // Mixed kinds (a number here, text there): keep every value
            // as it was, as JSON.
            Guess::Known(_) => T::Json,
        };
        Guess::Known(merged)
    }

    pub(crate) fn resolve(self) -> ColumnType {
        match self {
            Guess::Unknown => ColumnType::Text,
            Guess::Known(kind) => kind,
        }
    }
}

/// The type a piece of text looks like (CSV cells, JSON strings).
pub(crate) fn sniff_text(text: &str, numbers: bool) -> ColumnType {
    if numbers {
        if text == "true" || text == "false" {
            return ColumnType::Boolean;
        }
        if text.parse::<i64>().is_ok() {
            return ColumnType::Int64;
        }
        if looks_like_float(text) {
            return ColumnType::Float64;
        }
    }
    if parse_date(text).is_some() {
        ColumnType::Date
    } else if parse_timestamp(text).is_some() {
        ColumnType::Timestamp
    } else {
        ColumnType::Text
    }
}

/// Decimal notation only: "1e5" and "inf" stay text unless a schema says so.
fn looks_like_float(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_some_and(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_files_parse_and_reject_nonsense() {
        let cols = parse_schema(r#"[{"name":"a","type":"int64"},{"name":"b","type":"timestamp"}]"#)
            .unwrap();
        assert_eq!(cols.len(), 2);
        assert_eq!(cols[1].kind, ColumnType::Timestamp);
        assert_eq!(
            format!(
                "{:#}",
                parse_schema(r#"[{"name":"a","type":"int"}]"#).unwrap_err()
            ),
            r#"column "a": unknown type "int" (boolean, int64, float64, decimal, text, date, timestamp, json)"#
        );
        assert!(
            parse_schema(r#"[{"name":"a","type":"text"},{"name":"a","type":"text"}]"#).is_err()
        );
    }

    #[test]
    fn guesses_widen_sensibly() {
        let g = Guess::Unknown
            .widen(ColumnType::Int64)
            .widen(ColumnType::Float64);
        assert_eq!(g.resolve(), ColumnType::Float64);
        let g = Guess::Unknown
            .widen(ColumnType::Date)
            .widen(ColumnType::Text);
        assert_eq!(g.resolve(), ColumnType::Text);
        let g = Guess::Unknown
            .widen(ColumnType::Int64)
            .widen(ColumnType::Text);
        assert_eq!(g.resolve(), ColumnType::Json);
        assert_eq!(Guess::Unknown.resolve(), ColumnType::Text);
        assert_eq!(sniff_text("2026-01-02", true), ColumnType::Date);
        assert_eq!(sniff_text("12.50", true), ColumnType::Float64);
        assert_eq!(sniff_text("1e5", true), ColumnType::Text);
        assert_eq!(sniff_text("12", false), ColumnType::Text);
    }
}
