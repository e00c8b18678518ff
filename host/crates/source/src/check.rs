//! A dataset run against its source before it is installed (and by
//! `exporter dataset check`): the SQL compiles with every predicate the
//! host adds, and a sample of rows decodes to the declared types.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::catalog::Dataset;
use crate::query::{ExportQuery, SourceError, send_batches, send_keyed_batches};
use crate::sources::{Source, SourcePool, introspect};

/// Rows read to check the declared types.
pub const SAMPLE_ROWS: usize = 200;

/// What a check found that does not stop the dataset from working.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Rows the sample read (at most [`SAMPLE_ROWS`]).
    pub sampled_rows: u64,
    pub warnings: Vec<String>,
}

/// Why a dataset cannot run; names the dataset and what to fix.
#[derive(Debug, thiserror::Error)]
#[error("dataset {dataset:?}: {problem}")]
pub struct CheckError {
    pub dataset: String,
    pub problem: String,
}

/// Runs `dataset` on `source` (its source): once with every filter the
/// host can add (a tenant, a user, a date range, a resume key), which
/// matches no row but makes the engine resolve every column; then a
/// sample of its rows, each value decoded as its column's declared type.
/// A dataset read from a table also has its key checked against the
/// table's unique indexes.
pub async fn check(dataset: &Arc<Dataset>, source: &Source) -> Result<CheckReport, CheckError> {
    let db = SourcePool::from(source);
    let fail = |problem: String| CheckError {
        dataset: dataset.name.clone(),
        problem,
    };
    let filtered = ExportQuery {
        dataset: dataset.clone(),
        // No organization has an empty id: the filters compile, no row
        // comes back.
        organization_id: Some(String::new()),
        user_id: dataset.user_column.as_ref().map(|_| String::new()),
        from: dataset.range_column.as_ref().map(|_| 0),
        to: dataset.range_column.as_ref().map(|_| 0),
        columns: Vec::new(),
        // Each filterable column compared as a request would, so that its
        // expression and casts run on this engine now, not at a client's
        // first filter.
        filters: dataset
            .columns
            .iter()
            .filter(|c| c.filterable)
            .map(|c| (c.name.clone(), probe_filter(c.kind)))
            .collect(),
        access: crate::query::Access::unkeyed_superadmin(),
    };
    read(&db, &filtered, 1, true).await.map_err(|e| {
        fail(format!(
            "its SQL does not run with the host's filters (tenant column {:?}{}{}): {}",
            dataset.tenant_column,
            dataset
                .user_column
                .as_deref()
                .map(|c| format!(", user column {c:?}"))
                .unwrap_or_default(),
            dataset
                .range_column
                .as_deref()
                .map(|c| format!(", range column {c:?}"))
                .unwrap_or_default(),
            explain(&e)
        ))
    })?;
    let sample = ExportQuery {
        filters: Default::default(),
        organization_id: None,
        user_id: None,
        from: None,
        to: None,
        ..filtered
    };
    let sampled_rows = read(&db, &sample, SAMPLE_ROWS, false).await.map_err(|e| {
        fail(format!(
            "a sample of its rows does not read: {}",
            explain(&e)
        ))
    })?;
    let mut warnings = Vec::new();
    if sampled_rows == 0 {
        warnings.push(format!(
            "dataset {:?}: its source has no rows yet, so the declared types were not checked against values",
            dataset.name
        ));
    }
    if let Some(table) = &dataset.table {
        match introspect(source, table).await {
            Ok(found) => {
                if let Some(range) = &dataset.range_column
                    && found.columns.iter().any(|c| &c.name == range && c.nullable)
                {
                    warnings.push(format!(
                        "dataset {:?}: its range column {range} may be NULL; such rows sort first or last depending on the engine, and an export in parts cannot resume after one: make it NOT NULL, or filter them out in a `query`",
                        dataset.name
                    ));
                }
                let unique = found.unique_keys.iter().any(|columns| {
                    columns.len() <= dataset.key.len()
                        && columns.iter().all(|c| dataset.key.contains(c))
                });
                if !unique {
                    warnings.push(format!(
                        "dataset {:?}: no primary key or unique index of {table} covers its key [{}]; two rows with the same key would make an export in parts skip or repeat rows when it resumes",
                        dataset.name,
                        dataset.key.join(", ")
                    ));
                }
            }
            Err(error) => warnings.push(format!(
                "dataset {:?}: could not read {table}'s indexes to check its key: {error}",
                dataset.name
            )),
        }
    }
    Ok(CheckReport {
        sampled_rows,
        warnings,
    })
}

/// Reads the first batch of `query` (keyed, to run the key's SQL too) and
/// stops there.
async fn read(
    db: &SourcePool,
    query: &ExportQuery,
    rows: usize,
    keyed: bool,
) -> Result<u64, SourceError> {
    let (tx, mut rx) = mpsc::channel(1);
    let reading = async {
        match keyed {
            true => send_keyed_batches(db, query, None, rows, tx).await,
            false => send_batches(db, query, rows, tx).await,
        }
    };
    let consuming = async move {
        let rows = rx.recv().await.map_or(0, |batch| u64::from(batch.rows));
        // Closing the channel ends the read after its first batch.
        drop(rx);
        rows
    };
    let (read, first) = tokio::join!(reading, consuming);
    match read {
        Ok(_) | Err(SourceError::Closed) => Ok(first),
        Err(error) => Err(error),
    }
}

fn explain(error: &SourceError) -> String {
    match error {
        SourceError::Database { source, .. } => format!("{source:#}"),
        other => other.to_string(),
    }
}

/// A condition any column of `kind` takes (`eq` with a value of its type).
fn probe_filter(kind: exporter_runtime::ColumnType) -> crate::query::filter::ColumnFilter {
    use crate::query::filter::{ColumnFilter, FilterValue};
    use exporter_runtime::ColumnType;
    let value = match kind {
        ColumnType::Boolean => FilterValue::Bool(false),
        ColumnType::Int64 | ColumnType::Float64 => FilterValue::Number(0.into()),
        ColumnType::Decimal => FilterValue::Text("0".into()),
        ColumnType::Date => FilterValue::Text("1970-01-01".into()),
        ColumnType::Timestamp => FilterValue::Text("1970-01-01T00:00:00Z".into()),
        ColumnType::Text | ColumnType::Json => FilterValue::Text(String::new()),
    };
    ColumnFilter {
        eq: Some(value),
        ..ColumnFilter::default()
    }
}
