//! The export driver: one export from rows to published bytes.
//!
//! Rows come from a source (`exporter-source`), go through a formatter
//! plugin (`exporter-runtime`), are compressed if asked, and are uploaded
//! to the blob store (`exporter-store`), whole or cut into parts with a
//! manifest. Knows nothing of jobs, queues or HTTP: the job runner and the
//! API's direct export call into it.
//!
//! # Layout
//! - [`request`]: what to export, as a job records it, checked and turned
//!   into a query.
//! - [`driver`]: the one export driver, query -> part cutter -> plugin ->
//!   publisher, for a file ([`Export::to_sink`]) and for parts
//!   ([`Export::in_parts`]) alike.
//! - [`error`]: why an export failed, and whether a retry could help.
//! - [`headings`]: columns called by their names or their labels.
//! - [`progress`]: rows and bytes written so far.
//! - [`compress`]: gzip and zstd as a sink in front of another sink.
//! - [`upload`]: the plugin's sink feeding a blob store upload.
//! - [`parts`]: the part cutter (which every export goes through), the
//!   parts' records, the manifest and what a retried run resumes from.

pub mod compress;
pub mod driver;
pub mod error;
pub mod headings;
pub mod parts;
pub mod progress;
pub mod request;
pub mod upload;

pub use driver::{Export, ExportStats};
pub use error::ExportError;
pub use headings::Headings;
pub use progress::{Progress, Written};

/// A run's claim on its job: the job's `lease` generation when the run
/// claimed it. Every write the run makes is conditional on it, so a run
/// whose worker was frozen past its queue lease (while another worker
/// claimed the job again) is refused at its next write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease(pub i64);
