//! What an export's columns are called in its file: the dataset's names
//! (for programs), or its labels (for people: "Started at").
//!
//! The convention needs no contract change: a format that declares an
//! option named `header` (choices `names` and `labels`) gets what the
//! request asks for, or the default the format declares (the spreadsheet
//! and the PDF declare `labels`, CSV and JSON `names`). The host renames
//! the schema's columns before the plugin sees them, so every format,
//! built-in or third-party, renders labels the same way; a plugin only
//! declares the option and ignores its value. A format that does not
//! declare it gets names.

use exporter_runtime::{Column, FormatInfo};
use exporter_source::ExportQuery;

use crate::error::ExportError;

/// The option's name.
pub const HEADER_OPTION: &str = "header";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Headings {
    #[default]
    Names,
    Labels,
}

impl Headings {
    /// The headings an export with `options` gets from the format `info`
    /// describes (the options are already checked against it).
    pub fn for_export(info: &FormatInfo, options: &[(String, String)]) -> Headings {
        let Some(spec) = info.options.iter().find(|o| o.name == HEADER_OPTION) else {
            return Headings::Names;
        };
        let asked = options
            .iter()
            .find(|(name, _)| name == HEADER_OPTION)
            .map(|(_, value)| value.as_str())
            .unwrap_or(spec.default_value.as_str());
        match asked {
            "labels" => Headings::Labels,
            _ => Headings::Names,
        }
    }

    /// The schema the plugin sees: `query`'s, its columns called by their
    /// names or their labels (which the catalog keeps unique per dataset).
    pub fn schema(self, query: &ExportQuery) -> Result<Vec<Column>, ExportError> {
        let mut schema = query.schema()?;
        if self == Headings::Labels {
            for (column, declared) in schema.iter_mut().zip(query.selected()?) {
                column.name = declared.label();
            }
        }
        Ok(schema)
    }
}
