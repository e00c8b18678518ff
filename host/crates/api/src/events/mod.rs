//! `GET /api/export-jobs/events`: job changes as Server-Sent Events.
//!
//! - `feed`: one reader of the change log per API process, which builds
//!   each changed job's view once and hands it to every subscriber.
//! - `stream`: one subscriber, scoped to the jobs its caller may see,
//!   resuming after `Last-Event-ID`.

mod feed;
mod stream;

pub use exporter_jobs::events::JobFeed;
pub use feed::run_job_feed;
pub(crate) use stream::{__path_events, events};
