//! A dataset as data: what an operator declares in a catalog file
//! (`datasets/default.toml` is the shipped one), stored in the service's
//! database, and read by every process.
//!
//! The dataset's SQL is only ever the inside of a query: the host wraps
//! it as `SELECT <columns> FROM (<sql>) AS d WHERE d.<tenant> = ? ...
//! ORDER BY <range>, <key>`, so the tenant predicate, the date range, the
//! order and the resume point are the host's, never the SQL's.

use serde::{Deserialize, Serialize};

use super::access::{Mask, Role};
use exporter_runtime::ColumnType;

pub use crate::sources::DEFAULT_SOURCE;

/// One exportable dataset: an entry of a catalog file, and the body of
/// `PUT /api/admin/datasets/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dataset {
    /// Set from the catalog's key (`[datasets.orders]`), never from the body.
    #[serde(skip)]
    #[schema(ignore)]
    pub name: String,
    /// The stored version this definition is (0: not installed); set by
    /// the store, never part of the definition.
    #[serde(skip)]
    #[schema(ignore)]
    pub version: i64,
    pub description: String,
    /// A source named in the configuration (`[sources.warehouse]`), or
    /// `default`: the service's own database.
    #[serde(default = "default_source", skip_serializing_if = "is_default_source")]
    pub source: String,
    /// Where the rows come from, one of the two: a table or view
    /// (`public.orders`), or a read-only SELECT (`WITH ... SELECT`
    /// allowed, joins allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<EngineSql>,
    /// The column holding the organization id; every export is filtered on
    /// it by the host.
    pub tenant_column: String,
    /// The date or timestamp column a `dateRange` applies to, and the first
    /// sort key. A dataset without one cannot be filtered by date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_column: Option<String>,
    /// Columns that identify a row (a unique key): the order after the
    /// range column, and where an export in parts resumes.
    pub key: Vec<String>,
    /// The column a `filters.userId` applies to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_column: Option<String>,
    pub columns: Vec<DatasetColumn>,
}

/// SQL text, one for every engine or one per engine: the default source is
/// SQLite or PostgreSQL depending on how the service runs, so a dataset on
/// it may need each engine's spelling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum EngineSql {
    Any(String),
    PerEngine {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sqlite: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        postgres: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mysql: Option<String>,
    },
}

/// The SQL dialects a source can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
        }
    }

    /// `name` as an identifier: double quotes on every engine (MySQL
    /// sources run with `ANSI_QUOTES`). Catalog names are checked to be
    /// plain identifiers, so there is nothing to escape.
    pub fn quote(self, name: &str) -> String {
        debug_assert!(super::validate::is_identifier(name), "{name}");
        format!("\"{name}\"")
    }
}

impl EngineSql {
    /// The text for `dialect`, if the entry has one.
    pub fn for_dialect(&self, dialect: Dialect) -> Option<&str> {
        match self {
            EngineSql::Any(text) => Some(text),
            EngineSql::PerEngine {
                sqlite,
                postgres,
                mysql,
            } => match dialect {
                Dialect::Sqlite => sqlite.as_deref(),
                Dialect::Postgres => postgres.as_deref(),
                Dialect::MySql => mysql.as_deref(),
            },
        }
    }

    /// Every text the entry holds, with the dialect it is for (`None`: all).
    pub fn texts(&self) -> Vec<(Option<Dialect>, &str)> {
        match self {
            EngineSql::Any(text) => vec![(None, text)],
            EngineSql::PerEngine {
                sqlite,
                postgres,
                mysql,
            } => [
                (Dialect::Sqlite, sqlite),
                (Dialect::Postgres, postgres),
                (Dialect::MySql, mysql),
            ]
            .into_iter()
            .filter_map(|(d, t)| t.as_deref().map(|t| (Some(d), t)))
            .collect(),
        }
    }
}

/// One exportable column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatasetColumn {
    pub name: String,
    /// One of the WIT column types: boolean, int64, float64, decimal,
    /// text, date, timestamp, json.
    #[serde(rename = "type", with = "column_type")]
    #[schema(value_type = String, example = "timestamp")]
    pub kind: ColumnType,
    /// A heading for people ("Started at"); derived from the name when not
    /// given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// An SQL expression over the dataset's rows (`d`); by default the
    /// column of this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<EngineSql>,
    /// The lowest role that sees this column at all (`Manager`, `Admin`,
    /// `SuperAdmin`); below it the column does not exist for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_from: Option<Role>,
    /// How the values read for roles below `unmaskedFrom`: `redact`,
    /// `hash`, `email-domain` or `last4`. Masked values are text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<Mask>,
    /// The lowest role that sees the values in clear; absent: everyone sees
    /// the mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmasked_from: Option<Role>,
    /// Whether a request may filter on it (`filters.columns`): equality and
    /// `in` on every type but json, ranges on ordered types. Only roles that
    /// see the column in clear may.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub filterable: bool,
}

impl DatasetColumn {
    /// The heading people see: the label, or the name as words
    /// (`started_at` reads "Started at").
    pub fn label(&self) -> String {
        match &self.label {
            Some(label) => label.clone(),
            None => label_from_name(&self.name),
        }
    }

    /// The SQL that reads this column on `dialect`: its expression, or the
    /// column of its name.
    pub fn sql(&self, dialect: Dialect) -> Option<String> {
        match &self.expression {
            Some(expression) => expression.for_dialect(dialect).map(str::to_owned),
            None => Some(format!("d.{}", dialect.quote(&self.name))),
        }
    }
}

impl Dataset {
    pub fn column(&self, name: &str) -> Option<&DatasetColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The range column's declaration (checked to exist when the catalog
    /// is validated).
    pub fn range(&self) -> Option<&DatasetColumn> {
        self.range_column
            .as_deref()
            .and_then(|name| self.column(name))
    }

    /// The key columns' declarations, in order.
    pub fn key_columns(&self) -> impl Iterator<Item = &DatasetColumn> {
        self.key.iter().filter_map(|name| self.column(name))
    }

    /// The dataset's rows on `dialect`, ready to follow `FROM`.
    pub fn from_sql(&self, dialect: Dialect) -> Option<String> {
        match (&self.table, &self.query) {
            (Some(table), _) => Some(format!(
                "{} AS d",
                table
                    .split('.')
                    .map(|part| dialect.quote(part))
                    .collect::<Vec<_>>()
                    .join(".")
            )),
            (None, Some(sql)) => sql
                .for_dialect(dialect)
                .map(|sql| format!("({}) AS d", sql.trim().trim_end_matches(';'))),
            (None, None) => None,
        }
    }
}

/// `started_at` → "Started at"; `ip_address` → "Ip address".
pub fn label_from_name(name: &str) -> String {
    let words = name.replace(['_', '-'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn default_source() -> String {
    DEFAULT_SOURCE.to_owned()
}

fn is_default_source(source: &str) -> bool {
    source == DEFAULT_SOURCE
}

/// A [`ColumnType`] as the WIT spells it (`int64`, `timestamp`, ...).
mod column_type {
    use serde::{Deserialize as _, Deserializer, Serializer};

    use exporter_runtime::ColumnType;

    pub fn serialize<S: Serializer>(kind: &ColumnType, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(kind.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ColumnType, D::Error> {
        let name = String::deserialize(deserializer)?;
        ColumnType::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "type {name:?} is not a column type; use one of {}",
                exporter_wit::ColumnType::ALL
                    .map(exporter_wit::ColumnType::as_str)
                    .join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_words() {
        assert_eq!(label_from_name("started_at"), "Started at");
        assert_eq!(label_from_name("ip_address"), "Ip address");
        assert_eq!(label_from_name("id"), "Id");
        let column = DatasetColumn {
            name: "x".into(),
            kind: ColumnType::Text,
            label: Some("Ex".into()),
            description: String::new(),
            expression: None,
            visible_from: None,
            mask: None,
            unmasked_from: None,
            filterable: false,
        };
        assert_eq!(column.label(), "Ex");
        assert_eq!(column.sql(Dialect::Postgres).unwrap(), "d.\"x\"");
    }
}
