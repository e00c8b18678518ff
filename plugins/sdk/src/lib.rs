//! The SDK for Exporter format plugins.
//!
//! Exporter turns query results into files (CSV, JSON, XLSX, ...). Each
//! output format is a sandboxed WebAssembly component implementing the
//! `exporter:formatter@1.1.0` WIT contract: the host streams rows to it in
//! columnar batches, and it streams the file's bytes back. This crate hides
//! the contract behind two traits so a plugin is little more than its
//! encoding logic:
//!
//! * [`Format`] describes the format ([`FormatInfo`], including the options
//!   it accepts) and starts an export with [`Format::open`];
//! * [`Encoder`] turns each [`Batch`] into bytes and writes the trailer in
//!   [`Encoder::finish`];
//! * [`export_format!`] turns the two into the component's exports.
//!
//! The SDK does the rest: it validates the user's options against
//! [`FormatInfo::options`] before `open` runs (unknown names, malformed
//! booleans, integers, characters and choices are refused with
//! [`FormatError::InvalidOption`]); it validates every batch once, so
//! reading a [`Value`] never fails; and it buffers the output into 64 KiB
//! chunks ([`Output`]). [`TextFormatter`] and [`json`] render values the way
//! every SDK-based format does (dates, timestamps, floats, JSON escaping),
//! [`civil`] does the calendar arithmetic for formats that render dates
//! their own way, [`zone`] shows timestamps in the export's time zone, and
//! [`testing`] runs a format natively for unit tests.
//!
//! The words the host and the SDK share ([`ColumnType`], [`FormatInfo`],
//! [`OptionSpec`], [`OptionType`], [`civil`]) are defined once, in the
//! `exporter-wit` crate, and re-exported here.
//!
//! # A complete plugin
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "exporter-plugin-pipe"
//! version = "1.0.0"
//! edition = "2024"
//!
//! [lib]
//! # cdylib for the component; rlib so `cargo test` runs natively.
//! crate-type = ["cdylib", "rlib"]
//!
//! [dependencies]
//! exporter-plugin-sdk = "0.1"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```
//! use exporter_plugin_sdk::{
//!     Batch, Column, Encoder, ExportContext, Format, FormatError, FormatInfo, OptionSpec,
//!     Options, Output, TextFormatter, header_option,
//! };
//!
//! /// Values separated by `|`, one row per line.
//! pub struct Pipe;
//!
//! impl Format for Pipe {
//!     type Encoder = PipeEncoder;
//!
//!     fn info() -> FormatInfo {
//!         FormatInfo {
//!             name: "pipe".into(),
//!             version: "1.0.0".into(),
//!             media_type: "text/plain; charset=utf-8".into(),
//!             file_extension: "txt".into(),
//!             description: "Values separated by |, one row per line".into(),
//!             options: vec![
//!                 // Column names or labels: the host applies it, the
//!                 // format only declares it.
//!                 header_option("names"),
//!                 OptionSpec::text("null", "", "How null cells are written"),
//!             ],
//!         }
//!     }
//!
//!     fn open(
//!         columns: &[Column],
//!         options: &Options,
//!         _context: &ExportContext,
//!         out: &mut Output,
//!     ) -> Result<PipeEncoder, FormatError> {
//!         // The names are the headings the user asked for.
//!         let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
//!         out.write_str(&names.join("|"));
//!         out.write_str("\n");
//!         // Options are already validated: this only fails on a typo in a
//!         // name, which is a bug in this file.
//!         Ok(PipeEncoder {
//!             null: options.text("null")?.to_owned(),
//!             text: TextFormatter::new(),
//!         })
//!     }
//! }
//!
//! pub struct PipeEncoder {
//!     null: String,
//!     text: TextFormatter,
//! }
//!
//! impl Encoder for PipeEncoder {
//!     fn write_batch(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError> {
//!         for row in 0..batch.rows() {
//!             for column in 0..batch.column_count() {
//!                 if column > 0 {
//!                     out.write_str("|");
//!                 }
//!                 let cell = self.text.value(batch.value(row, column));
//!                 out.write_str(cell.unwrap_or(&self.null));
//!             }
//!             out.write_str("\n");
//!         }
//!         Ok(())
//!     }
//!
//!     fn finish(self, _out: &mut Output) -> Result<(), FormatError> {
//!         Ok(())
//!     }
//! }
//!
//! exporter_plugin_sdk::export_format!(Pipe);
//!
//! // Native unit tests run the same path the host does:
//! use exporter_plugin_sdk::testing::{self, TestBatch};
//! use exporter_plugin_sdk::ColumnType;
//!
//! let columns = [Column::new("id", ColumnType::Int64), Column::new("name", ColumnType::Text)];
//! let batch = TestBatch::new(2).int64(&[Some(1), Some(2)]).text(&[Some("a"), None]);
//! let file = testing::run::<Pipe>(&columns, &[("null", "-")], &[batch]).unwrap();
//! assert_eq!(file, b"id|name\n1|a\n2|-\n");
//!
//! let refused = testing::run::<Pipe>(&columns, &[("hedaer", "false")], &[]).unwrap_err();
//! assert_eq!(
//!     refused,
//!     FormatError::InvalidOption(
//!         r#"unknown option "hedaer"; this format accepts: header, null"#.into()
//!     )
//! );
//! ```
//!
//! Build the component with
//! `cargo build --release --target wasm32-wasip2` (in this repository:
//! `cargo xtask plugins`).
//!
//! # What the host decides for a format
//!
//! * Column headings: a format that declares [`header_option`] (`names` or
//!   `labels`) gets its columns renamed by the host to match before
//!   [`Format::open`]; it writes [`Column::name`] as it comes.
//! * The time zone: the context's `Time zone` property names the zone to
//!   show timestamps in, absent for UTC. [`ExportContext::time_zone`] reads
//!   it and [`zone`] converts; a format for people (a spreadsheet, a
//!   report) shows local time, a data format UTC unless asked.
//!
//! # Rules a format must keep
//!
//! * Produce the same bytes whatever the batch sizes: keep any state that
//!   spans rows (a first-row flag, a separator) in the encoder.
//! * Keep memory flat: write as batches arrive instead of collecting the
//!   export.
//! * Return [`FormatError`] rather than panicking. A panic traps the
//!   instance and is reported as a crash of the plugin.
//! * Depend only on the inputs: the sandbox has no files, network or
//!   environment, its clock is fixed at the export's
//!   [`ExportContext::generated_at`] and its randomness is seeded per
//!   export.

#![deny(missing_docs)]

#[doc(hidden)]
#[allow(missing_docs)]
#[path = "bindings.rs"]
pub mod __bindings;
use __bindings as bindings;

mod batch;
mod error;
pub mod json;
mod logging;
mod options;
mod output;
mod schema;
mod session;
pub mod testing;
mod text;
mod warnings;
pub mod zone;

pub use batch::{Batch, ColumnRef, TextColumn, Value};
pub use error::FormatError;
/// Civil-date arithmetic for `date` and `timestamp` values (days <->
/// year, month, day), the same the host and [`TextFormatter`] use.
pub use exporter_wit::civil;
pub use logging::{Level, log};
pub use options::{HEADER_OPTION, Options, header_option};
pub use output::{CHUNK_SIZE, MAX_CHUNK_SIZE, Output};
pub use schema::{Column, ColumnType, ExportContext, FormatInfo, OptionSpec, OptionType};
pub use text::TextFormatter;
pub use warnings::warn;
pub use zone::TimeZone;

/// An output format: what it is, and how to start an export.
///
/// Implement it on a unit struct and pass that to [`export_format!`]. The
/// SDK calls [`Format::info`] whenever the host asks for it and before each
/// [`Format::open`] (to validate options), so keep it cheap and constant.
pub trait Format: 'static {
    /// The state of one export in progress.
    type Encoder: Encoder + 'static;

    /// Describe the format. Must depend only on the plugin's code: the host
    /// caches it per plugin version.
    fn info() -> FormatInfo;

    /// Start an export of `columns` (in output order).
    ///
    /// `options` has been validated against [`FormatInfo::options`]; check
    /// anything further here (e.g. a delimiter the format cannot use) and
    /// refuse with [`FormatError::InvalidOption`], or refuse a schema the
    /// format cannot represent with [`FormatError::UnsupportedSchema`]. May
    /// write a file header to `out`.
    fn open(
        columns: &[Column],
        options: &Options,
        context: &ExportContext,
        out: &mut Output,
    ) -> Result<Self::Encoder, FormatError>;
}

/// One export in progress.
pub trait Encoder {
    /// Encode a batch of rows and write them to `out`. Called zero or more
    /// times; the batch has been validated against the schema.
    fn write_batch(&mut self, batch: &Batch<'_>, out: &mut Output) -> Result<(), FormatError>;

    /// Write the format's trailer (JSON's `]`, an archive's directory). The
    /// SDK then hands the rest of `out` to the host. Not called if an
    /// earlier call failed.
    fn finish(self, out: &mut Output) -> Result<(), FormatError>;
}

/// Export a [`Format`] as the component's `formatter` interface.
///
/// Invoke it once, at the plugin crate's top level, with the type that
/// implements [`Format`]. It expands to nothing when not compiling for
/// WebAssembly, so the same crate also builds natively for unit tests.
///
/// ```ignore
/// exporter_plugin_sdk::export_format!(MyFormat);
/// ```
#[macro_export]
macro_rules! export_format {
    ($format:ty) => {
        // Only components have these exports. Natively (a plugin's unit
        // tests) the export names, which contain `:` and `/`, would not
        // even link into the cdylib.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            // The generated `export!` only takes an identifier.
            type ExporterFormatPlugin = $crate::__private::Plugin<$format>;
    $crate::__bindings::export!(ExporterFormatPlugin with_types_in $crate::__bindings);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::session::Plugin;
}
