//! Plain Rust mirrors of the WIT records a format sees: its description,
//! the export's columns and context.
//!
//! The vocabulary the host shares ([`ColumnType`], [`FormatInfo`],
//! [`OptionSpec`], [`OptionType`]) is defined once, in `exporter-wit`, and
//! re-exported here under the same names; this module converts it to and
//! from the generated bindings.

use crate::bindings::exporter::formatter::types as wit;
use crate::{FormatError, TimeZone};

pub use exporter_wit::{ColumnType, FormatInfo, OptionSpec, OptionType};

impl From<wit::ColumnType> for ColumnType {
    fn from(kind: wit::ColumnType) -> Self {
        match kind {
            wit::ColumnType::Boolean => ColumnType::Boolean,
            wit::ColumnType::Int64 => ColumnType::Int64,
            wit::ColumnType::Float64 => ColumnType::Float64,
            wit::ColumnType::Decimal => ColumnType::Decimal,
            wit::ColumnType::Text => ColumnType::Text,
            wit::ColumnType::Date => ColumnType::Date,
            wit::ColumnType::Timestamp => ColumnType::Timestamp,
            wit::ColumnType::Json => ColumnType::Json,
        }
    }
}

/// One column of the export's schema, in output order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Column {
    /// The column's name as the user should see it (a header cell, a key).
    pub name: String,
    /// The column's type; every batch carries this column's values in the
    /// matching representation.
    pub kind: ColumnType,
}

impl Column {
    /// A column named `name` of type `kind`.
    pub fn new(name: impl Into<String>, kind: ColumnType) -> Self {
        Column {
            name: name.into(),
            kind,
        }
    }
}

impl From<wit::Column> for Column {
    fn from(column: wit::Column) -> Self {
        Column {
            name: column.name,
            kind: column.kind.into(),
        }
    }
}

impl From<OptionType> for wit::OptionType {
    fn from(kind: OptionType) -> Self {
        match kind {
            OptionType::Boolean => wit::OptionType::Boolean,
            OptionType::Integer => wit::OptionType::Integer,
            OptionType::Text => wit::OptionType::Text,
            OptionType::Character => wit::OptionType::Character,
            OptionType::Choice => wit::OptionType::Choice,
        }
    }
}

impl From<OptionSpec> for wit::OptionSpec {
    fn from(spec: OptionSpec) -> Self {
        wit::OptionSpec {
            name: spec.name,
            kind: spec.kind.into(),
            default_value: spec.default_value,
            description: spec.description,
            choices: spec.choices,
        }
    }
}

impl From<FormatInfo> for wit::FormatInfo {
    fn from(info: FormatInfo) -> Self {
        wit::FormatInfo {
            name: info.name,
            version: info.version,
            media_type: info.media_type,
            file_extension: info.file_extension,
            description: info.description,
            options: info.options.into_iter().map(Into::into).collect(),
        }
    }
}

/// Facts about the export a format may print (a title block, file metadata).
/// They are the only such inputs: a format must not look for them elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportContext {
    /// A human title, e.g. `Sessions 2026-01-01 to 2026-01-31`.
    pub title: String,
    /// When the export was requested: microseconds since the epoch, UTC.
    /// Format it with [`TextFormatter::timestamp`](crate::TextFormatter::timestamp),
    /// or [`TextFormatter::timestamp_in`](crate::TextFormatter::timestamp_in)
    /// the export's [time zone](ExportContext::time_zone).
    pub generated_at: i64,
    /// The query behind the export, for display (data type, date range,
    /// filters), in the order to show them. Some keys also mean something
    /// to formats: [`TIME_ZONE_PROPERTY`](crate::zone::TIME_ZONE_PROPERTY).
    pub properties: Vec<(String, String)>,
}

impl ExportContext {
    /// The value of the first property named `key`.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// The time zone to show timestamps in: the
    /// [`TIME_ZONE_PROPERTY`](crate::zone::TIME_ZONE_PROPERTY), else UTC.
    /// See [`TimeZone::from_context`].
    pub fn time_zone(&self) -> Result<TimeZone, FormatError> {
        TimeZone::from_context(self)
    }
}

impl From<wit::ExportContext> for ExportContext {
    fn from(context: wit::ExportContext) -> Self {
        ExportContext {
            title: context.title,
            generated_at: context.generated_at,
            properties: context.properties,
        }
    }
}
