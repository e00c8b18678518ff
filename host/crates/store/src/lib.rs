//! The stores: where Exporter keeps its records and its files.
//!
//! # Layout
//! - [`db`]: the application database (SQLite embedded, PostgreSQL for
//!   scale-out), its migrations (`migrations/`), and one classifier of
//!   database errors.
//! - [`blob`]: the blob store (any object_store URL), streaming uploads
//!   that publish atomically, ranged downloads, and signed links.
//! - [`Secret`]: a configured value that no `Debug` or log line prints.
//!
//! Never imports the plugin runtime, the row sources or anything about
//! jobs: everything above stores through these types.

pub mod blob;
pub mod db;

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}
