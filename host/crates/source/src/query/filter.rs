//! Conditions a request sets on a dataset's columns (`filters.columns`):
//! equality, `in` lists and ranges, on the columns the catalog declares
//! `filterable`. Each value is checked against its column's type and
//! becomes a typed parameter: bound on SQLite and MySQL, an escaped,
//! typed literal for PostgreSQL's `COPY`, never text spliced into SQL.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::QueryError;
use super::sql::Param;
use crate::catalog::DatasetColumn;
use exporter_runtime::ColumnType;
use exporter_runtime::batch::time;

/// Values an `in` list may hold: enough for any list a person writes or a
/// program pastes, small enough to keep every engine's statement sane.
pub const MAX_IN_VALUES: usize = 1000;

/// Conditions on one column; every one given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ColumnFilter {
    /// Equal to this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<FilterValue>,
    /// Equal to one of these values (at most 1000).
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<FilterValue>>,
    /// Greater than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<FilterValue>,
    /// Greater than or equal to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<FilterValue>,
    /// Less than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<FilterValue>,
    /// Less than or equal to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<FilterValue>,
}

/// A value as JSON gives it: text (dates, instants, decimals and text),
/// a number, or a boolean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FilterValue {
    Text(String),
    Bool(bool),
    Number(serde_json::Number),
}

/// A string, a number or a boolean.
impl utoipa::PartialSchema for FilterValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .into()
    }
}

impl utoipa::ToSchema for FilterValue {}

impl std::fmt::Display for FilterValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilterValue::Text(text) => write!(f, "{text:?}"),
            FilterValue::Bool(b) => write!(f, "{b}"),
            FilterValue::Number(n) => write!(f, "{n}"),
        }
    }
}

/// A comparison of a [`ColumnFilter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::In => "in",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
        }
    }

    pub(super) fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::In => "IN",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
        }
    }

    /// The comparisons a column of `kind` takes: equality for every type a
    /// filter applies to, ranges for the ordered ones.
    pub fn for_kind(kind: ColumnType) -> &'static [Op] {
        match kind {
            ColumnType::Json => &[],
            ColumnType::Boolean => &[Op::Eq, Op::In],
            _ => &[Op::Eq, Op::In, Op::Gt, Op::Gte, Op::Lt, Op::Lte],
        }
    }
}

/// One condition, typed: a column, a comparison, its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition<'a> {
    pub(crate) column: &'a DatasetColumn,
    pub(crate) op: Op,
    pub(crate) values: Vec<Param>,
}

impl ColumnFilter {
    fn ops(&self) -> impl Iterator<Item = (Op, Vec<&FilterValue>)> {
        [
            (Op::Eq, self.eq.iter().collect::<Vec<_>>()),
            (Op::In, self.one_of.iter().flatten().collect()),
            (Op::Gt, self.gt.iter().collect()),
            (Op::Gte, self.gte.iter().collect()),
            (Op::Lt, self.lt.iter().collect()),
            (Op::Lte, self.lte.iter().collect()),
        ]
        .into_iter()
        .filter(|(op, values)| !values.is_empty() || (*op == Op::In && self.one_of.is_some()))
    }
}

/// `filters` typed against their columns (already checked to be declared
/// filterable and visible in clear to the reader).
pub(super) fn conditions<'a>(
    filters: &BTreeMap<String, ColumnFilter>,
    column: impl Fn(&str) -> Option<&'a DatasetColumn>,
) -> Result<Vec<Condition<'a>>, QueryError> {
    let mut out = Vec::new();
    for (name, filter) in filters {
        let Some(column) = column(name) else {
            continue;
        };
        let mut any = false;
        for (op, values) in filter.ops() {
            any = true;
            if !Op::for_kind(column.kind).contains(&op) {
                return Err(QueryError::Filter {
                    column: name.clone(),
                    problem: format!(
                        "`{}` does not apply to a {} column; use one of: {}",
                        op.as_str(),
                        column.kind,
                        names(Op::for_kind(column.kind))
                    ),
                });
            }
            if op == Op::In && !(1..=MAX_IN_VALUES).contains(&values.len()) {
                return Err(QueryError::Filter {
                    column: name.clone(),
                    problem: format!(
                        "`in` takes 1 to {MAX_IN_VALUES} values, not {}",
                        values.len()
                    ),
                });
            }
            let values = values
                .into_iter()
                .map(|value| typed(column, value))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|problem| QueryError::Filter {
                    column: name.clone(),
                    problem: format!("`{}`: {problem}", op.as_str()),
                })?;
            out.push(Condition { column, op, values });
        }
        if !any {
            return Err(QueryError::Filter {
                column: name.clone(),
                problem: format!(
                    "has no condition; give one of: {}",
                    names(Op::for_kind(column.kind))
                ),
            });
        }
    }
    Ok(out)
}

fn names(ops: &[Op]) -> String {
    ops.iter()
        .map(|op| op.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `value` as a parameter of `column`'s type, or what is wrong with it.
fn typed(column: &DatasetColumn, value: &FilterValue) -> Result<Param, String> {
    let wrong = |expected: &str| format!("{value} is not {expected}");
    Ok(match (column.kind, value) {
        (ColumnType::Boolean, FilterValue::Bool(b)) => Param::Bool(*b),
        // As a command line writes it.
        (ColumnType::Boolean, FilterValue::Text(t)) if t == "true" || t == "false" => {
            Param::Bool(t == "true")
        }
        (ColumnType::Boolean, _) => return Err(wrong("true or false")),
        (ColumnType::Int64, FilterValue::Number(n)) => {
            Param::Int(n.as_i64().ok_or_else(|| wrong("a 64-bit integer"))?)
        }
        (ColumnType::Int64, FilterValue::Text(t)) => {
            Param::Int(t.parse().map_err(|_| wrong("a 64-bit integer"))?)
        }
        (ColumnType::Float64, FilterValue::Number(n)) => {
            Param::Float(n.as_f64().ok_or_else(|| wrong("a number"))?)
        }
        (ColumnType::Float64, FilterValue::Text(t)) => Param::Float(
            t.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| wrong("a number"))?,
        ),
        (ColumnType::Decimal, FilterValue::Number(n)) => {
            decimal(&n.to_string()).ok_or_else(|| wrong("a decimal like 12.50"))?
        }
        (ColumnType::Decimal, FilterValue::Text(t)) => {
            decimal(t).ok_or_else(|| wrong("a decimal like \"12.50\""))?
        }
        (ColumnType::Text, FilterValue::Text(t)) => {
            if t.contains('\0') {
                return Err(QueryError::NulInFilter.to_string());
            }
            Param::Text(t.clone())
        }
        (ColumnType::Date, FilterValue::Text(t)) => Param::Day(
            time::parse_request_date(t).map_err(|_| wrong("a date like \"2026-01-31\""))?,
        ),
        (ColumnType::Timestamp, FilterValue::Text(t)) => Param::Instant(
            time::parse_timestamp(t)
                .ok_or_else(|| wrong("an instant like \"2026-01-31T12:00:00Z\""))?,
        ),
        (kind, _) => return Err(wrong(&format!("a {kind} value"))),
    })
}

/// A decimal in plain notation: sign, digits, an optional fraction.
fn decimal(text: &str) -> Option<Param> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !whole.is_empty()
        && whole.len() + fraction.len() <= 65
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| Param::Decimal(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(kind: ColumnType) -> DatasetColumn {
        DatasetColumn {
            name: "c".into(),
            kind,
            label: None,
            description: String::new(),
            expression: None,
            visible_from: None,
            mask: None,
            unmasked_from: None,
            filterable: true,
        }
    }

    fn filter(json: serde_json::Value) -> BTreeMap<String, ColumnFilter> {
        serde_json::from_value(serde_json::json!({ "c": json })).unwrap()
    }

    fn check(kind: ColumnType, json: serde_json::Value) -> Result<Vec<(Op, Vec<Param>)>, String> {
        let c = column(kind);
        conditions(&filter(json), |_| Some(&c))
            .map(|cs| cs.into_iter().map(|c| (c.op, c.values)).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn values_are_typed_by_their_column() {
        assert_eq!(
            check(ColumnType::Int64, serde_json::json!({"gte": 5, "lt": "9"})).unwrap(),
            [
                (Op::Gte, vec![Param::Int(5)]),
                (Op::Lt, vec![Param::Int(9)])
            ]
        );
        assert_eq!(
            check(ColumnType::Date, serde_json::json!({"in": ["2026-01-31"]})).unwrap(),
            [(Op::In, vec![Param::Day(20_484)])]
        );
        assert_eq!(
            check(ColumnType::Decimal, serde_json::json!({"eq": "-12.50"})).unwrap(),
            [(Op::Eq, vec![Param::Decimal("-12.50".into())])]
        );
        assert_eq!(
            check(ColumnType::Boolean, serde_json::json!({"eq": true})).unwrap(),
            [(Op::Eq, vec![Param::Bool(true)])]
        );
    }

    #[test]
    fn wrong_values_say_what_was_expected() {
        let e = check(ColumnType::Int64, serde_json::json!({"eq": "ten"})).unwrap_err();
        assert!(e.contains("\"ten\" is not a 64-bit integer"), "{e}");
        let e = check(ColumnType::Decimal, serde_json::json!({"eq": "1e5"})).unwrap_err();
        assert!(e.contains("decimal"), "{e}");
        let e = check(ColumnType::Boolean, serde_json::json!({"gt": true})).unwrap_err();
        assert!(e.contains("`gt` does not apply to a boolean column"), "{e}");
        let e = check(ColumnType::Text, serde_json::json!({"in": []})).unwrap_err();
        assert!(e.contains("1 to 1000 values, not 0"), "{e}");
        let e = check(ColumnType::Text, serde_json::json!({})).unwrap_err();
        assert!(e.contains("has no condition"), "{e}");
        let e = check(
            ColumnType::Timestamp,
            serde_json::json!({"lt": "yesterday"}),
        )
        .unwrap_err();
        assert!(e.contains("an instant like"), "{e}");
        let e = check(ColumnType::Text, serde_json::json!({"eq": 5})).unwrap_err();
        assert!(e.contains("5 is not a text value"), "{e}");
    }
}
