//! Generated host bindings for the `exporter:formatter/plugin` world, and
//! their conversions to and from the shared vocabulary (`exporter-wit`).
//!
//! Kept private to the `plugins` module: the rest of the host uses the types
//! re-exported by `plugins/mod.rs`, never these generated paths.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../../../wit",
    // `sink.write` must be able to stop the guest (output cap, cancelled
    // export, failed upload): a trap is the only way to stop a guest that
    // ignores a polite error.
    imports: { default: trappable },
});

pub use exporter::formatter::sink::Host as SinkHost;
pub use exporter::formatter::types::Host as TypesHost;
pub use exporter::formatter::types::{
    Batch, Column, ColumnData, ColumnType, ColumnValues, ExportContext, FormatError, FormatInfo,
    Level, OptionType, OptionValue, TextValues,
};

// The boundary with the shared vocabulary. The generated `ColumnType` stays
// the host's (it is what `Column` and the batches carry); its names and
// parsing are the vocabulary's, through these conversions.

impl From<ColumnType> for exporter_wit::ColumnType {
    fn from(kind: ColumnType) -> Self {
        match kind {
            ColumnType::Boolean => exporter_wit::ColumnType::Boolean,
            ColumnType::Int64 => exporter_wit::ColumnType::Int64,
            ColumnType::Float64 => exporter_wit::ColumnType::Float64,
            ColumnType::Decimal => exporter_wit::ColumnType::Decimal,
            ColumnType::Text => exporter_wit::ColumnType::Text,
            ColumnType::Date => exporter_wit::ColumnType::Date,
            ColumnType::Timestamp => exporter_wit::ColumnType::Timestamp,
            ColumnType::Json => exporter_wit::ColumnType::Json,
        }
    }
}

impl From<exporter_wit::ColumnType> for ColumnType {
    fn from(kind: exporter_wit::ColumnType) -> Self {
        match kind {
            exporter_wit::ColumnType::Boolean => ColumnType::Boolean,
            exporter_wit::ColumnType::Int64 => ColumnType::Int64,
            exporter_wit::ColumnType::Float64 => ColumnType::Float64,
            exporter_wit::ColumnType::Decimal => ColumnType::Decimal,
            exporter_wit::ColumnType::Text => ColumnType::Text,
            exporter_wit::ColumnType::Date => ColumnType::Date,
            exporter_wit::ColumnType::Timestamp => ColumnType::Timestamp,
            exporter_wit::ColumnType::Json => ColumnType::Json,
        }
    }
}

impl ColumnType {
    /// The type's name as the WIT spells it, e.g. `int64`: in schema files,
    /// manifests and messages.
    pub fn as_str(self) -> &'static str {
        exporter_wit::ColumnType::from(self).as_str()
    }

    /// The type the WIT spells `name`.
    pub fn parse(name: &str) -> Option<ColumnType> {
        exporter_wit::ColumnType::parse(name).map(Into::into)
    }
}

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<OptionType> for exporter_wit::OptionType {
    fn from(kind: OptionType) -> Self {
        match kind {
            OptionType::Boolean => exporter_wit::OptionType::Boolean,
            OptionType::Integer => exporter_wit::OptionType::Integer,
            OptionType::Text => exporter_wit::OptionType::Text,
            OptionType::Character => exporter_wit::OptionType::Character,
            OptionType::Choice => exporter_wit::OptionType::Choice,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ColumnType;

    #[test]
    fn column_types_convert_both_ways_and_keep_their_wit_names() {
        for shared in exporter_wit::ColumnType::ALL {
            let ours = ColumnType::from(shared);
            assert_eq!(exporter_wit::ColumnType::from(ours), shared);
            assert_eq!(ours.as_str(), shared.as_str());
            assert_eq!(ours.to_string(), shared.as_str());
            assert_eq!(ColumnType::parse(shared.as_str()), Some(ours));
        }
        assert_eq!(ColumnType::parse("int"), None);
    }
}
