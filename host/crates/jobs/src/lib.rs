//! The export job lifecycle: the request and record (`model`), their
//! storage (`repo`), the queue that carries them to workers (`queue`), the
//! worker that runs one (`runner`: claim, run as a file or in parts,
//! record; `worker`: the apalis adapter; `retry`: the one retry policy),
//! and the retention sweeper (`sweeper`).
//!
//! What clients see of a job (`view`, `links`) is here too, since the API
//! answers with it and completion callbacks (`callbacks`, `dispatcher`)
//! deliver it. Never imports the API.

pub mod callbacks;
pub mod dispatcher;
pub mod events;
pub mod links;
pub mod model;
pub mod overview;
pub mod queue;
pub mod repo;
pub mod retry;
pub mod runner;
pub mod sweeper;
pub mod view;
pub mod worker;

pub use model::{DateRange, ExportRequest, Filters, JobRecord, JobStatus, OptionValue};
pub use queue::{ExportQueue, QUEUE_NAME};
pub use repo::{JobFilter, JobRepo, NewJob};
pub use runner::{JobRunner, RunningJobs};
