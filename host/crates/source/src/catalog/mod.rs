//! The dataset catalog: datasets as data, not code.
//!
//! # Layout
//! - `model`: a dataset, its columns and their SQL per engine;
//! - `validate`: what an entry must be before it is installed (read-only
//!   SQL, declared key and range columns);
//! - `file`: the TOML catalog file (`exporter dataset apply`);
//! - `access`: which roles see a column, and which see it masked;
//! - `draft`: an entry drafted from a table's catalog (`dataset add`);
//! - `seed`: the shipped `datasets/default.toml`;
//! - `store`: versions in the service's database, and the live catalog
//!   every process polls.
//!
//! Running an entry against its source is `crate::check`'s: the catalog
//! knows nothing of reading rows.

pub mod access;
pub mod draft;
mod file;
mod model;
pub mod seed;
pub mod store;
pub(crate) mod validate;

pub use access::{ColumnAccess, Mask, Role};
pub use file::{FileError, from_json, parse, render, to_json};
pub use model::{DEFAULT_SOURCE, Dataset, DatasetColumn, Dialect, EngineSql, label_from_name};
pub use store::{Catalog, CatalogStore, DatasetVersion};
pub use validate::{CatalogError, is_dataset_name, missing_dialect, validate};
