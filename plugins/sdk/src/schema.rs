//! Plain Rust mirrors of the WIT records a format sees: its description,
//! the export's columns and context.

use std::fmt;

use crate::bindings::exporter::formatter::types as wit;

/// The type of a column. Each type has one representation in a
/// [`Batch`](crate::Batch), read through [`Value`](crate::Value) or the typed
/// accessors of [`ColumnRef`](crate::ColumnRef).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// `true`/`false`.
    Boolean,
    /// A signed 64-bit integer. JavaScript and spreadsheets lose digits past
    /// 2^53.
    Int64,
    /// An IEEE 754 double. May be NaN or infinite.
    Float64,
    /// An exact decimal number as text, e.g. `-12.50`. Never reformat it
    /// through a float: keep the digits.
    Decimal,
    /// UTF-8 text. May contain any Unicode, including newlines, quotes, NUL
    /// and emoji.
    Text,
    /// A calendar date without time zone: days since 1970-01-01.
    Date,
    /// An instant in UTC: microseconds since 1970-01-01T00:00:00Z.
    Timestamp,
    /// A JSON document as UTF-8 text (already valid JSON).
    Json,
}

impl ColumnType {
    /// The type's name as the WIT spells it, e.g. `int64`.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Boolean => "boolean",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Decimal => "decimal",
            ColumnType::Text => "text",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Json => "json",
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// The type of an option's value. Options travel as text; the SDK checks the
/// text against this type before [`Format::open`](crate::Format::open) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionType {
    /// `true` or `false`, exactly.
    Boolean,
    /// A decimal integer that fits an `i64`, e.g. `3` or `-1`.
    Integer,
    /// Any text.
    Text,
    /// Exactly one Unicode character, e.g. `;` or a literal tab.
    Character,
    /// One of [`OptionSpec::choices`].
    Choice,
}

impl OptionType {
    /// The type's name as the WIT spells it, e.g. `character`.
    pub fn as_str(self) -> &'static str {
        match self {
            OptionType::Boolean => "boolean",
            OptionType::Integer => "integer",
            OptionType::Text => "text",
            OptionType::Character => "character",
            OptionType::Choice => "choice",
        }
    }
}

impl fmt::Display for OptionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

/// An option the format accepts, as listed in [`FormatInfo::options`].
///
/// Build one with the constructor for its type, e.g.
/// [`OptionSpec::boolean`], so the default is always of the right type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionSpec {
    /// Lower-kebab-case name, e.g. `line-terminator`.
    pub name: String,
    /// The type of the option's value.
    pub kind: OptionType,
    /// The value used when the option is not given, as text.
    pub default_value: String,
    /// One line for the API docs and `--help`.
    pub description: String,
    /// The allowed values when `kind` is [`OptionType::Choice`]; empty
    /// otherwise.
    pub choices: Vec<String>,
}

impl OptionSpec {
    fn new(
        name: impl Into<String>,
        kind: OptionType,
        default_value: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        OptionSpec {
            name: name.into(),
            kind,
            default_value: default_value.into(),
            description: description.into(),
            choices: Vec::new(),
        }
    }

    /// A `true`/`false` option.
    pub fn boolean(name: impl Into<String>, default: bool, description: impl Into<String>) -> Self {
        Self::new(name, OptionType::Boolean, default.to_string(), description)
    }

    /// A decimal integer option.
    pub fn integer(name: impl Into<String>, default: i64, description: impl Into<String>) -> Self {
        Self::new(name, OptionType::Integer, default.to_string(), description)
    }

    /// A free-text option.
    pub fn text(
        name: impl Into<String>,
        default: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self::new(name, OptionType::Text, default, description)
    }

    /// A single-character option.
    pub fn character(
        name: impl Into<String>,
        default: char,
        description: impl Into<String>,
    ) -> Self {
        Self::new(
            name,
            OptionType::Character,
            default.to_string(),
            description,
        )
    }

    /// An option whose value is one of `choices`. `default` should be one of
    /// them; [`testing::check_info`](crate::testing::check_info) verifies it.
    pub fn choice<I, S>(
        name: impl Into<String>,
        default: impl Into<String>,
        choices: I,
        description: impl Into<String>,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        OptionSpec {
            choices: choices.into_iter().map(Into::into).collect(),
            ..Self::new(name, OptionType::Choice, default, description)
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

/// What a format is, for the registry, the API and download headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatInfo {
    /// Lower-kebab-case format name, e.g. `csv`. Unique in a registry.
    pub name: String,
    /// The plugin's own version, semver; `env!("CARGO_PKG_VERSION")` is the
    /// usual choice.
    pub version: String,
    /// The media type of the file, e.g. `text/csv; charset=utf-8`.
    pub media_type: String,
    /// The file extension without the dot, e.g. `csv`.
    pub file_extension: String,
    /// One line saying what the format is for.
    pub description: String,
    /// Every option the format accepts. The SDK refuses any other name.
    pub options: Vec<OptionSpec>,
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
    /// Format it with [`TextFormatter::timestamp`](crate::TextFormatter::timestamp).
    pub generated_at: i64,
    /// The query behind the export, for display (data type, date range,
    /// filters), in the order to show them.
    pub properties: Vec<(String, String)>,
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
