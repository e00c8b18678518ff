//! A catalog entry drafted from a table's own catalog (`exporter dataset
//! add`): every column the contract has a type for, and a note for each
//! one it has not, for the operator to review before applying.

use exporter_runtime::ColumnType;

use super::model::{Dataset, DatasetColumn, EngineSql};
use super::validate::{CatalogError, is_identifier, validate};
use crate::sources::{IntrospectedTable, SourceEngine};

/// What the operator names; the rest comes from the table.
#[derive(Debug, Clone)]
pub struct DraftRequest {
    pub name: String,
    pub source: String,
    /// As given: `orders` or `public.orders`.
    pub table: String,
    pub tenant_column: String,
    pub range_column: Option<String>,
    pub key: Vec<String>,
    pub user_column: Option<String>,
    pub description: Option<String>,
}

/// The drafted entry, and what the operator should know about it.
#[derive(Debug)]
pub struct Draft {
    pub dataset: Dataset,
    /// Columns left out (no type fits, or a name that is not an
    /// identifier), a key without a unique index: one line each.
    pub notes: Vec<String>,
}

/// Drafts `request` over `found` (read from a source of `engine`).
pub fn draft(
    request: &DraftRequest,
    found: &IntrospectedTable,
    engine: SourceEngine,
) -> Result<Draft, CatalogError> {
    let fail = |problem: String| CatalogError {
        dataset: request.name.clone(),
        problem,
    };
    let mut notes = Vec::new();
    let mut columns = Vec::new();
    for column in &found.columns {
        let Some(kind) = column.mapped else {
            notes.push(format!(
                "left out {} ({}): no column type holds it; add it with an `expression` that casts it (to text, say) if you need it",
                column.name, column.sql_type
            ));
            continue;
        };
        if !is_identifier(&column.name) {
            notes.push(format!(
                "left out {:?} ({}): only names of letters, digits and `_` can be columns; select it under another name in a `query`",
                column.name, column.sql_type
            ));
            continue;
        }
        columns.push(DatasetColumn {
            name: column.name.clone(),
            kind,
            label: None,
            description: String::new(),
            expression: sqlite_time(engine, kind, &column.name, &column.sql_type),
            visible_from: None,
            mask: None,
            unmasked_from: None,
            filterable: false,
        });
    }
    let has = |name: &str| found.columns.iter().any(|c| c.name == name);
    for (flag, name) in [("--tenant-column", Some(&request.tenant_column))]
        .into_iter()
        .chain([("--user-column", request.user_column.as_ref())])
    {
        if let Some(name) = name
            && !has(name)
        {
            return Err(fail(format!(
                "{flag} {name:?} is not a column of {}; it has: {}",
                request.table,
                names(found)
            )));
        }
    }
    for name in request.key.iter().chain(request.range_column.iter()) {
        if !columns.iter().any(|c| &c.name == name) {
            return Err(fail(format!(
                "{name:?} is not an exportable column of {}; it has: {}",
                request.table,
                columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let unique = found.unique_keys.iter().any(|unique| {
        unique.len() <= request.key.len() && unique.iter().all(|c| request.key.contains(c))
    });
    if !unique {
        notes.push(format!(
            "no primary key or unique index of {} covers the key [{}]: rows with the same key would make an export in parts skip or repeat rows when it resumes",
            request.table,
            request.key.join(", ")
        ));
    }
    let dataset = Dataset {
        name: request.name.clone(),
        version: 0,
        description: request
            .description
            .clone()
            .unwrap_or_else(|| format!("Rows of {}", request.table)),
        source: request.source.clone(),
        table: Some(request.table.clone()),
        query: None,
        tenant_column: request.tenant_column.clone(),
        range_column: request.range_column.clone(),
        key: request.key.clone(),
        user_column: request.user_column.clone(),
        columns,
    };
    validate(&dataset)?;
    Ok(Draft { dataset, notes })
}

fn names(found: &IntrospectedTable) -> String {
    found
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// SQLite keeps dates and times as ISO-8601 text by convention (its date
/// functions' own); the host reads them as days and microseconds since
/// the epoch, so such a column is read through SQLite's own parsing:
/// `unixepoch(.., 'subsec')` for instants (offsets such as `+02:00`
/// honoured; exact to the millisecond, the precision SQLite's date
/// functions keep), `julianday` for dates. (Exporter's own tables store
/// whole numbers and need none of this.)
fn sqlite_time(
    engine: SourceEngine,
    kind: ColumnType,
    name: &str,
    sql_type: &str,
) -> Option<EngineSql> {
    if engine != SourceEngine::Sqlite {
        return None;
    }
    let declared = sql_type.to_ascii_lowercase();
    if declared.contains("int") {
        return None;
    }
    let column = format!("d.\"{name}\"");
    match kind {
        ColumnType::Timestamp => Some(EngineSql::Any(format!(
            "CAST(ROUND(unixepoch({column}, 'subsec') * 1000) AS INTEGER) * 1000"
        ))),
        ColumnType::Date => Some(EngineSql::Any(format!(
            "CAST(julianday({column}) - 2440587.5 AS INTEGER)"
        ))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::IntrospectedColumn;

    fn column(name: &str, sql_type: &str, mapped: Option<ColumnType>) -> IntrospectedColumn {
        IntrospectedColumn {
            name: name.into(),
            sql_type: sql_type.into(),
            nullable: true,
            mapped,
        }
    }

    fn orders() -> IntrospectedTable {
        IntrospectedTable {
            schema: Some("public".into()),
            table: "orders".into(),
            columns: vec![
                column("id", "bigint", Some(ColumnType::Int64)),
                column("org_id", "text", Some(ColumnType::Text)),
                column("total", "numeric(38,2)", Some(ColumnType::Decimal)),
                column("created_at", "timestamptz", Some(ColumnType::Timestamp)),
                column("photo", "bytea", None),
                column("Odd Name", "text", Some(ColumnType::Text)),
            ],
            primary_key: Some(vec!["id".into()]),
            unique_keys: vec![vec!["id".into()]],
        }
    }

    fn request() -> DraftRequest {
        DraftRequest {
            name: "orders".into(),
            source: "warehouse".into(),
            table: "public.orders".into(),
            tenant_column: "org_id".into(),
            range_column: Some("created_at".into()),
            key: vec!["id".into()],
            user_column: None,
            description: None,
        }
    }

    #[test]
    fn every_mappable_column_is_drafted_and_the_rest_are_named() {
        let draft = draft(&request(), &orders(), SourceEngine::Postgres).unwrap();
        let names: Vec<&str> = draft
            .dataset
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["id", "org_id", "total", "created_at"]);
        assert_eq!(draft.notes.len(), 2, "{:?}", draft.notes);
        assert!(draft.notes[0].contains("photo (bytea)"));
        assert!(draft.notes[1].contains("\"Odd Name\""));
        assert!(draft.dataset.columns[3].expression.is_none());
    }

    #[test]
    fn sqlite_text_times_are_read_through_julianday() {
        let mut table = orders();
        table.columns[3].sql_type = "DATETIME".into();
        let draft = draft(&request(), &table, SourceEngine::Sqlite).unwrap();
        let expression = draft.dataset.columns[3].expression.clone().unwrap();
        assert!(
            expression
                .for_dialect(crate::catalog::Dialect::Sqlite)
                .unwrap()
                .contains("unixepoch(d.\"created_at\", 'subsec')")
        );
    }

    #[test]
    fn mistakes_name_the_columns_there_are_and_keys_are_checked() {
        let mut wrong = request();
        wrong.tenant_column = "tenant".into();
        let error = draft(&wrong, &orders(), SourceEngine::Postgres)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--tenant-column \"tenant\"") && error.contains("org_id"),
            "{error}"
        );
        let mut loose = request();
        loose.key = vec!["org_id".into()];
        let draft = draft(&loose, &orders(), SourceEngine::Postgres).unwrap();
        assert!(draft.notes.iter().any(|n| n.contains("no primary key")));
    }
}
