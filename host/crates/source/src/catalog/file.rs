//! A catalog file: TOML, one `[datasets.NAME]` table per dataset, read
//! by `exporter dataset apply` and shipped as `datasets/default.toml`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::Dataset;
use super::validate::{CatalogError, validate};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    datasets: BTreeMap<String, Dataset>,
}

/// Why a catalog file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Not TOML, or not the catalog's shape; the message names the line.
    #[error("{0}")]
    Syntax(String),
    #[error(transparent)]
    Invalid(#[from] CatalogError),
}

/// The datasets in `text`, each validated, in name order.
pub fn parse(text: &str) -> Result<Vec<Dataset>, FileError> {
    let file: CatalogFile = toml::from_str(text).map_err(|e| FileError::Syntax(e.to_string()))?;
    let mut datasets = Vec::with_capacity(file.datasets.len());
    for (name, mut dataset) in file.datasets {
        dataset.name = name;
        validate(&dataset)?;
        datasets.push(dataset);
    }
    Ok(datasets)
}

/// One dataset as a catalog file's entry, to review or to apply.
pub fn render(dataset: &Dataset) -> String {
    let mut file = CatalogFile::default();
    file.datasets.insert(dataset.name.clone(), dataset.clone());
    toml::to_string_pretty(&file).expect("a dataset is plain data")
}

/// One dataset's body as JSON (how the database stores a version).
pub fn to_json(dataset: &Dataset) -> String {
    serde_json::to_string(dataset).expect("a dataset is plain data")
}

/// A stored version back; `name` is the row's.
pub fn from_json(name: &str, json: &str) -> Result<Dataset, serde_json::Error> {
    let mut dataset: Dataset = serde_json::from_str(json)?;
    dataset.name = name.to_owned();
    Ok(dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: &str = r#"
[datasets.orders]
description = "Orders, one row each"
source = "warehouse"
table = "public.orders"
tenantColumn = "org_id"
rangeColumn = "created_at"
key = ["id"]

[[datasets.orders.columns]]
name = "id"
type = "int64"

[[datasets.orders.columns]]
name = "total"
type = "decimal"
label = "Total (EUR)"

[[datasets.orders.columns]]
name = "created_at"
type = "timestamp"
expression = { sqlite = "created_at * 1000000", postgres = "created_at" }
"#;

    #[test]
    fn a_catalog_file_reads_renders_and_reads_back() {
        let datasets = parse(ORDERS).unwrap();
        assert_eq!(datasets.len(), 1);
        let orders = &datasets[0];
        assert_eq!(orders.name, "orders");
        assert_eq!(orders.columns.len(), 3);
        assert_eq!(orders.column("total").unwrap().label(), "Total (EUR)");
        let again = parse(&render(orders)).unwrap();
        assert_eq!(&again[0], orders);
        assert_eq!(&from_json("orders", &to_json(orders)).unwrap(), orders);
    }

    #[test]
    fn mistakes_name_the_line_or_the_dataset() {
        let typo = ORDERS.replace("tenantColumn", "tenant_column");
        let error = parse(&typo).unwrap_err().to_string();
        assert!(error.contains("tenant_column"), "{error}");
        assert!(error.contains("line"), "{error}");
        let bad_type = ORDERS.replace("\"decimal\"", "\"money\"");
        let error = parse(&bad_type).unwrap_err().to_string();
        assert!(
            error.contains("money") && error.contains("int64"),
            "{error}"
        );
        let no_key = ORDERS.replace("key = [\"id\"]", "key = [\"nope\"]");
        let error = parse(&no_key).unwrap_err().to_string();
        assert!(
            error.contains("dataset \"orders\"") && error.contains("nope"),
            "{error}"
        );
        let writes = ORDERS.replace(
            "table = \"public.orders\"",
            "query = \"WITH x AS (DELETE FROM orders RETURNING *) SELECT * FROM x\"",
        );
        let error = parse(&writes).unwrap_err().to_string();
        assert!(error.contains("DELETE"), "{error}");
    }
}
