//! Generated host bindings for the `exporter:formatter/plugin` world.
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
