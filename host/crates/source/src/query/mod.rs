//! A validated, tenant-scoped query over one dataset, streamed as batches.
//!
//! # Layout
//! - here: the query model ([`ExportQuery`], its columns and schema), row
//!   keys for exports in parts;
//! - `filter`: conditions a request sets on filterable columns, typed;
//! - `mask`: who reads a query ([`Access`]), and masked columns' values
//!   replaced before any plugin sees them;
//! - `sql`: the SQL text built from the catalog, every value bound;
//! - `read`: reading a query, dispatched by engine, and counting its rows;
//! - `sqlite`: SQLite rows decoded into batches;
//! - `pg_copy`: PostgreSQL through binary `COPY`;
//! - `mysql`: MySQL and MariaDB rows, streamed.

pub mod filter;
mod mask;
mod mysql;
mod pg_copy;
mod read;
mod sql;
mod sqlite;

pub use mask::{Access, MaskKey, MaskSecret, Masking};
pub use pg_copy::select_with_literals;
pub use read::{SourceError, count_rows, send_batches, send_keyed_batches};

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::catalog::{ColumnAccess, Dataset, DatasetColumn};
use exporter_runtime::{Column, ColumnData, ColumnType, ColumnValues};
use filter::{ColumnFilter, Condition};

/// What to export. The tenant is already resolved: `organization_id` is the
/// caller's own organization unless a SuperAdmin asked for another (or for
/// all, `None`). The dataset is the version the job started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportQuery {
    pub dataset: Arc<Dataset>,
    pub organization_id: Option<String>,
    pub user_id: Option<String>,
    /// First day included (days since the epoch, UTC).
    pub from: Option<i32>,
    /// Last day included.
    pub to: Option<i32>,
    /// Columns in output order; empty means all the reader may see, in
    /// the dataset's order.
    pub columns: Vec<String>,
    /// Conditions on the dataset's filterable columns, by column name.
    pub filters: BTreeMap<String, ColumnFilter>,
    /// Who reads: which columns they see, and which masked.
    pub access: Access,
}

/// A query that cannot run: always the client's mistake (or the catalog's,
/// for [`QueryError::Dialect`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unknown column {column:?} for {dataset}; available: {available}")]
    UnknownColumn {
        dataset: String,
        column: String,
        available: String,
    },
    /// A column (or the column a filter applies to) the reader's role may
    /// not see: a refusal of permission, not a mistake in the request.
    #[error(
        "column {column:?} of {dataset} is not visible to {role}s; ask an administrator, or leave it out"
    )]
    HiddenColumn {
        dataset: String,
        column: String,
        role: &'static str,
    },
    /// A filter on a column the reader sees masked: its answers would
    /// unmask it, one row count at a time.
    #[error("column {column:?} of {dataset} is masked for {role}s, so it cannot be filtered on")]
    MaskedFilter {
        dataset: String,
        column: String,
        role: &'static str,
    },
    #[error("filters.columns.{column}: {problem}")]
    Filter { column: String, problem: String },
    #[error("column {0:?} is listed twice")]
    DuplicateColumn(String),
    #[error("the date range ends before it starts")]
    EmptyRange,
    #[error("{0} cannot be filtered by user")]
    NoUserFilter(String),
    #[error("{0} has no date column, so it cannot be filtered by a date range")]
    NoRange(String),
    #[error("a filter value contains a NUL character, which PostgreSQL text cannot hold")]
    NulInFilter,
    #[error(
        "{field} {value} is outside the supported range {}",
        exporter_runtime::batch::time::DAY_RANGE
    )]
    OutOfRange { field: &'static str, value: String },
    /// A row's key read as NULL: an export in parts could not resume
    /// after it.
    #[error(
        "a row's key is NULL: the dataset's `key` columns must identify every row (a primary key or a unique, non-null index)"
    )]
    NullKey,
    /// The dataset has no SQL for the engine its source runs on.
    #[error("dataset {dataset}: {problem}; add it to the catalog entry")]
    Dialect { dataset: String, problem: String },
}

impl QueryError {
    pub(crate) fn day_out_of_range(field: &'static str, day: i32) -> Self {
        QueryError::OutOfRange {
            field,
            value: exporter_runtime::batch::time::format_date(day),
        }
    }
}

impl ExportQuery {
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The selected columns, checked against the dataset.
    pub fn selected(&self) -> Result<Vec<&DatasetColumn>, QueryError> {
        let dataset = self.dataset();
        // Also checked where requests are parsed; here so that no query,
        // however it was made, reaches arithmetic or an engine that cannot
        // hold its days.
        for (field, day) in [("from", self.from), ("to", self.to)] {
            if let Some(day) = day
                && !exporter_runtime::batch::time::day_in_range(day)
            {
                return Err(QueryError::day_out_of_range(field, day));
            }
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && to < from
        {
            return Err(QueryError::EmptyRange);
        }
        if self.user_id.is_some() && dataset.user_column.is_none() {
            return Err(QueryError::NoUserFilter(dataset.name.clone()));
        }
        if (self.from.is_some() || self.to.is_some()) && dataset.range_column.is_none() {
            return Err(QueryError::NoRange(dataset.name.clone()));
        }
        // A filter on a column the reader may not see would tell them,
        // row count by row count, what it holds.
        let filtered = [
            self.user_id.as_ref().and(dataset.user_column.as_deref()),
            (self.from.is_some() || self.to.is_some())
                .then_some(dataset.range_column.as_deref())
                .flatten(),
        ];
        for name in filtered.into_iter().flatten() {
            if dataset
                .column(name)
                .is_some_and(|c| self.access_to(c) == ColumnAccess::Hidden)
            {
                return Err(self.hidden(name));
            }
        }
        self.check_filters()?;
        if self.columns.is_empty() {
            return Ok(dataset
                .columns
                .iter()
                .filter(|c| self.access_to(c) != ColumnAccess::Hidden)
                .collect());
        }
        let mut selected = Vec::with_capacity(self.columns.len());
        for name in &self.columns {
            let column = dataset
                .column(name)
                .ok_or_else(|| QueryError::UnknownColumn {
                    dataset: dataset.name.clone(),
                    column: name.clone(),
                    // Only the names this reader may see.
                    available: dataset
                        .columns
                        .iter()
                        .filter(|c| self.access_to(c) != ColumnAccess::Hidden)
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            if self.access_to(column) == ColumnAccess::Hidden {
                return Err(self.hidden(name));
            }
            if selected
                .iter()
                .any(|c: &&DatasetColumn| c.name == column.name)
            {
                return Err(QueryError::DuplicateColumn(name.clone()));
            }
            selected.push(column);
        }
        Ok(selected)
    }

    /// Each filter names a filterable column the reader sees in clear, and
    /// its values fit the column's type.
    fn check_filters(&self) -> Result<(), QueryError> {
        let dataset = self.dataset();
        for name in self.filters.keys() {
            let filterable = || {
                let names: Vec<&str> = dataset
                    .columns
                    .iter()
                    .filter(|c| c.filterable && self.access_to(c) == ColumnAccess::Clear)
                    .map(|c| c.name.as_str())
                    .collect();
                match names.is_empty() {
                    true => format!("{} has no column you can filter on", dataset.name),
                    false => format!("the columns you can filter on are: {}", names.join(", ")),
                }
            };
            let column = match dataset.column(name) {
                Some(column) if self.access_to(column) != ColumnAccess::Hidden => column,
                Some(_) => return Err(self.hidden(name)),
                None => {
                    return Err(QueryError::Filter {
                        column: name.clone(),
                        problem: format!("{} has no such column; {}", dataset.name, filterable()),
                    });
                }
            };
            if let ColumnAccess::Masked(_) = self.access_to(column) {
                return Err(QueryError::MaskedFilter {
                    dataset: dataset.name.clone(),
                    column: name.clone(),
                    role: self.access.role.as_str(),
                });
            }
            if !column.filterable {
                return Err(QueryError::Filter {
                    column: name.clone(),
                    problem: format!(
                        "the catalog does not declare it filterable; {}",
                        filterable()
                    ),
                });
            }
        }
        self.conditions().map(drop)
    }

    /// The request's filters, typed (their columns are checked by
    /// [`ExportQuery::selected`]).
    pub(crate) fn conditions(&self) -> Result<Vec<Condition<'_>>, QueryError> {
        filter::conditions(&self.filters, |name| self.dataset.column(name))
    }

    /// What this query's reader gets of `column`.
    pub fn access_to(&self, column: &DatasetColumn) -> ColumnAccess {
        column.access(self.access.role)
    }

    fn hidden(&self, column: &str) -> QueryError {
        QueryError::HiddenColumn {
            dataset: self.dataset.name.clone(),
            column: column.to_owned(),
            role: self.access.role.as_str(),
        }
    }

    /// The selected columns that are masked for this reader, with how.
    pub fn masked(&self) -> Result<Vec<(&DatasetColumn, crate::catalog::Mask)>, QueryError> {
        Ok(self
            .selected()?
            .into_iter()
            .filter_map(|c| match self.access_to(c) {
                ColumnAccess::Masked(mask) => Some((c, mask)),
                _ => None,
            })
            .collect())
    }

    /// The export's schema, as the plugin sees it: a masked column is
    /// text, whatever the database holds.
    pub fn schema(&self) -> Result<Vec<Column>, QueryError> {
        Ok(self
            .selected()?
            .into_iter()
            .map(|c| Column {
                name: c.name.clone(),
                kind: match self.access_to(c) {
                    ColumnAccess::Masked(_) => ColumnType::Text,
                    _ => c.kind,
                },
            })
            .collect())
    }

    /// The columns as the database's rows are decoded, before masking.
    fn decoded_schema(&self) -> Result<Vec<Column>, QueryError> {
        Ok(self
            .selected()?
            .into_iter()
            .map(|c| Column {
                name: c.name.clone(),
                kind: c.kind,
            })
            .collect())
    }
}

/// A row's place in an export's order (`ORDER BY range, key...`): the last
/// row of a published part, after which a resumed export continues. The
/// range column's value first, when the dataset has one, then each key
/// column's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RowKey {
    pub values: Vec<KeyValue>,
}

/// One value of a [`RowKey`], typed as its column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum KeyValue {
    Int64(i64),
    Text(String),
    /// Days since the epoch.
    Date(i32),
    /// Microseconds since the epoch.
    Timestamp(i64),
}

impl RowKey {
    /// The key of row `row` of a keyed read's trailing columns; `None` if a
    /// key value is missing (a NULL key: the catalog's promise broken).
    pub fn at(keys: &[ColumnData], row: usize) -> Option<RowKey> {
        keys.iter()
            .map(|column| key_value_at(column, row))
            .collect::<Option<Vec<_>>>()
            .map(|values| RowKey { values })
    }

    /// A key recorded before keys were typed: the range as microseconds
    /// and the id as text, which is what every dataset of that time had.
    pub fn legacy(range: i64, id: String, dataset: &Dataset) -> RowKey {
        let range = match dataset.range().map(|c| c.kind) {
            Some(ColumnType::Date) => KeyValue::Date(range.div_euclid(86_400_000_000) as i32),
            _ => KeyValue::Timestamp(range),
        };
        RowKey {
            values: vec![range, KeyValue::Text(id)],
        }
    }

    /// As stored with a part.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data")
    }

    pub fn from_json(json: &str) -> Option<RowKey> {
        serde_json::from_str(json).ok()
    }
}

fn key_value_at(column: &ColumnData, row: usize) -> Option<KeyValue> {
    if let Some(bits) = &column.validity
        && bits[row / 8] & (1 << (row % 8)) == 0
    {
        return None;
    }
    Some(match &column.values {
        ColumnValues::Int64(v) => KeyValue::Int64(*v.get(row)?),
        ColumnValues::Date(v) => KeyValue::Date(*v.get(row)?),
        ColumnValues::Timestamp(v) => KeyValue::Timestamp(*v.get(row)?),
        ColumnValues::Text(_) => {
            KeyValue::Text(exporter_runtime::batch::slice::text_at(column, row)?.to_owned())
        }
        _ => return None,
    })
}

/// Rows read with their keys: each batch carries the range column and the
/// key columns after the export's own ([`key_schema`]), and reading starts
/// after `after`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keyed<'a> {
    pub after: Option<&'a RowKey>,
}

/// The columns a keyed read appends: the range column's, then the key's.
pub fn key_schema(dataset: &Dataset) -> Vec<Column> {
    dataset
        .range()
        .into_iter()
        .chain(dataset.key_columns())
        .enumerate()
        .map(|(at, column)| Column {
            name: format!("__key_{at}"),
            kind: column.kind,
        })
        .collect()
}

/// The columns a read decodes: the export's, then its keys when keyed.
pub(super) fn read_schema(
    query: &ExportQuery,
    keyed: Option<Keyed>,
) -> Result<Vec<Column>, QueryError> {
    let mut schema = query.decoded_schema()?;
    if keyed.is_some() {
        schema.extend(key_schema(query.dataset()));
    }
    Ok(schema)
}
