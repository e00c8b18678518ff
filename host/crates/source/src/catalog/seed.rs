//! The default catalog: `datasets/default.toml`, compiled in, installed at
//! start-up (see `store::install_defaults`).

use std::sync::Arc;

use super::file::parse;
use super::model::Dataset;

/// The shipped catalog file's text.
pub const DEFAULT_CATALOG: &str = include_str!("../../../../../datasets/default.toml");

/// The shipped datasets, in name order.
pub fn default_datasets() -> Vec<Dataset> {
    parse(DEFAULT_CATALOG).expect("datasets/default.toml is valid (tested)")
}

/// One shipped dataset, for tests and tools that run without a database.
///
/// # Panics
/// If `name` is not in the default catalog.
pub fn dataset(name: &str) -> Arc<Dataset> {
    Arc::new(
        default_datasets()
            .into_iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("no dataset {name:?} in datasets/default.toml")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Dialect;
    use crate::catalog::validate::missing_dialect;

    #[test]
    fn the_default_catalog_is_valid_on_both_engines_of_the_service() {
        let datasets = default_datasets();
        let names: Vec<&str> = datasets.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["analytics", "dashboard", "sessions", "users"]);
        for dataset in &datasets {
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                assert_eq!(missing_dialect(dataset, dialect), None, "{}", dataset.name);
            }
        }
    }
}
