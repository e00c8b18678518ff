//! A validated, tenant-scoped query over one dataset, streamed as batches.
//!
//! # Layout
//! - here: the query model ([`ExportQuery`], its columns and schema), row
//!   keys for exports in parts;
//! - `sql`: the SQL text built from the catalog, every value bound;
//! - `read`: reading a query, dispatched by engine, and counting its rows;
//! - `sqlite`: SQLite rows decoded into batches;
//! - `pg_copy`: PostgreSQL through binary `COPY`.

mod pg_copy;
mod read;
mod sql;
mod sqlite;

pub use pg_copy::select_with_literals;
pub use read::{SourceError, count_rows, send_batches, send_keyed_batches};

use crate::catalog::{DataType, Dataset, DatasetColumn};
use exporter_runtime::{Column, ColumnType};

/// What to export. The tenant is already resolved: `organization_id` is the
/// caller's own organization unless a SuperAdmin asked for another (or for
/// all, `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportQuery {
    pub data_type: DataType,
    pub organization_id: Option<String>,
    pub user_id: Option<String>,
    /// First day included (days since the epoch, UTC).
    pub from: Option<i32>,
    /// Last day included.
    pub to: Option<i32>,
    /// Columns in output order; empty means all, in the dataset's order.
    pub columns: Vec<String>,
}

/// A query that cannot run: always the client's mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unknown column {column:?} for {data_type}; available: {available}")]
    UnknownColumn {
        data_type: &'static str,
        column: String,
        available: String,
    },
    #[error("column {0:?} is listed twice")]
    DuplicateColumn(String),
    #[error("the date range ends before it starts")]
    EmptyRange,
    #[error("{0} cannot be filtered by user")]
    NoUserFilter(&'static str),
    #[error("a filter value contains a NUL character, which PostgreSQL text cannot hold")]
    NulInFilter,
    #[error(
        "{field} {value} is outside the supported range {}",
        exporter_runtime::batch::time::DAY_RANGE
    )]
    OutOfRange { field: &'static str, value: String },
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
    pub fn dataset(&self) -> &'static Dataset {
        self.data_type.dataset()
    }

    /// The selected columns, checked against the dataset.
    pub fn selected(&self) -> Result<Vec<&'static DatasetColumn>, QueryError> {
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
        if self.user_id.is_some() && dataset.user.is_none() {
            return Err(QueryError::NoUserFilter(dataset.data_type.as_str()));
        }
        if self.columns.is_empty() {
            return Ok(dataset.columns.iter().collect());
        }
        let mut selected = Vec::with_capacity(self.columns.len());
        for name in &self.columns {
            let column = dataset
                .column(name)
                .ok_or_else(|| QueryError::UnknownColumn {
                    data_type: dataset.data_type.as_str(),
                    column: name.clone(),
                    available: dataset
                        .columns
                        .iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
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

    /// The export's schema, as the plugin sees it.
    pub fn schema(&self) -> Result<Vec<Column>, QueryError> {
        Ok(self
            .selected()?
            .into_iter()
            .map(|c| Column {
                name: c.name.to_owned(),
                kind: c.kind,
            })
            .collect())
    }
}

/// A row's place in an export's order (`ORDER BY range, id`): the last row
/// of a published part, after which a resumed export continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowKey {
    /// The dataset's range column, in microseconds since the epoch.
    pub range: i64,
    pub id: String,
}

/// Rows read with their keys: each batch carries [`KEY_COLUMNS`] trailing
/// columns (the range as a timestamp, the id as text) after the export's
/// own, and reading starts after `after`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keyed<'a> {
    pub after: Option<&'a RowKey>,
}

/// The columns [`Keyed`] reads append to every batch.
pub const KEY_COLUMNS: usize = 2;

/// The columns a read decodes: the export's, then its keys when keyed.
pub(super) fn read_schema(
    query: &ExportQuery,
    keyed: Option<Keyed>,
) -> Result<Vec<Column>, QueryError> {
    let mut schema = query.schema()?;
    if keyed.is_some() {
        schema.push(Column {
            name: "__key_range".to_owned(),
            kind: ColumnType::Timestamp,
        });
        schema.push(Column {
            name: "__key_id".to_owned(),
            kind: ColumnType::Text,
        });
    }
    Ok(schema)
}
