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

impl Secret {
    /// What a serialized secret reads: the configuration printed back
    /// (`exporter config show`) names that a secret is set, never what it
    /// is.
    pub const HIDDEN: &'static str = "<hidden>";
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Self::HIDDEN)
    }
}

/// Read as its text. [`Secret::HIDDEN`] is refused: it is what a
/// configuration printed back holds, never a real secret.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        if text == Self::HIDDEN {
            return Err(serde::de::Error::custom(format!(
                "{:?} is the placeholder `exporter config show` prints, not a secret",
                Self::HIDDEN
            )));
        }
        Ok(Self(text))
    }
}
