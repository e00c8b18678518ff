//! The vocabulary of the `exporter:formatter` WIT contract
//! (`wit/formatter.wit`) in plain Rust, shared by the host and the plugin
//! SDK so that both sides speak it from one definition.
//!
//! # Layout
//! - `column`: [`ColumnType`], the WIT `column-type`: its cases in WIT order
//!   ([`ColumnType::ALL`]) and their WIT spelling ([`ColumnType::as_str`],
//!   [`ColumnType::parse`]), which schema files, manifests and messages use.
//! - [`civil`]: the calendar arithmetic behind the `date` (days since
//!   1970-01-01) and `timestamp` (microseconds since 1970-01-01T00:00:00Z)
//!   columns: days <-> (year, month, day), month lengths, the unit constants.
//! - `info`: what a format says about itself, the WIT `format-info`,
//!   `option-spec` and `option-type`: [`FormatInfo`], [`OptionSpec`] (with
//!   its constructors and the one rule per [`OptionType`] for a value) and
//!   [`FormatInfo::check_options`].
//!
//! Owns the words, not the wire: the generated bindings stay with each side
//! (the host's wasmtime bindings in `exporter-runtime`, the SDK's
//! wit-bindgen ones), which converts them to and from these types at its
//! boundary with `From` impls.
//!
//! Must never import the host's crates or the SDK: both depend on this one.
//! It builds for the host and for `wasm32-wasip2`, with no dependencies but
//! an optional serde: the `serde` feature derives `Serialize` for the format
//! description, in the JSON the host's API and CLI show.

// Plugin authors read these docs through the SDK's re-exports.
#![deny(missing_docs)]

pub mod civil;
mod column;
mod info;

pub use column::ColumnType;
pub use info::{FormatInfo, OptionSpec, OptionType};
