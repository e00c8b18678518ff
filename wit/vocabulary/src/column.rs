//! The WIT `column-type`.

use std::fmt;

/// The type of a column, the WIT `column-type`. Each type has one
/// representation in a batch (the matching case of `column-values`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// `true`/`false`.
    Boolean,
    /// A signed 64-bit integer. JavaScript and spreadsheets lose digits past
    /// 2^53.
    Int64,
    /// An IEEE 754 double. May be NaN or infinite.
    Float64,
    /// An exact decimal number as text, e.g. `-12.50`. Never reformat it
    /// through a float: keep the digits.
    Decimal,
    /// UTF-8 text. May contain any Unicode, including newlines, quotes, NUL
    /// and emoji.
    Text,
    /// A calendar date without time zone: days since 1970-01-01.
    Date,
    /// An instant in UTC: microseconds since 1970-01-01T00:00:00Z.
    Timestamp,
    /// A JSON document as UTF-8 text (already valid JSON).
    Json,
}

impl ColumnType {
    /// Every type, in the order the WIT lists them.
    pub const ALL: [ColumnType; 8] = [
        ColumnType::Boolean,
        ColumnType::Int64,
        ColumnType::Float64,
        ColumnType::Decimal,
        ColumnType::Text,
        ColumnType::Date,
        ColumnType::Timestamp,
        ColumnType::Json,
    ];

    /// The type's name as the WIT spells it, e.g. `int64`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ColumnType::Boolean => "boolean",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Decimal => "decimal",
            ColumnType::Text => "text",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Json => "json",
        }
    }

    /// The type the WIT spells `name` (exactly: lower case, no spaces).
    pub fn parse(name: &str) -> Option<ColumnType> {
        ColumnType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The cases of the WIT enum `name` in `formatter.wit`, in order: the tests
/// check the Rust enums against the contract itself.
#[cfg(test)]
pub(crate) fn wit_enum_cases(name: &str) -> Vec<&'static str> {
    let wit = include_str!("../../formatter.wit");
    let body = wit
        .split(&format!("enum {name} {{"))
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_else(|| panic!("formatter.wit declares no enum {name}"));
    body.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .map(|line| line.trim_end_matches(','))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_wit_spelling_and_parse_back() {
        let names: Vec<&str> = ColumnType::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "boolean",
                "int64",
                "float64",
                "decimal",
                "text",
                "date",
                "timestamp",
                "json"
            ]
        );
        for kind in ColumnType::ALL {
            assert_eq!(ColumnType::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        for name in ["", "int", "Int64", " text", "text ", "string", "bool"] {
            assert_eq!(ColumnType::parse(name), None, "{name:?}");
        }
    }

    #[test]
    fn the_wit_file_lists_the_same_types_in_the_same_order() {
        let ours: Vec<&str> = ColumnType::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(wit_enum_cases("column-type"), ours);
    }
}
