//! The export job lifecycle: the request and record (`model`), their
//! storage (`repo`), the queue that carries them to workers (`queue`), the
//! worker that runs one (`runner`, `worker`; `parted` for an export in
//! parts), and the retention sweeper (`sweeper`).

pub mod model;
mod parted;
pub mod queue;
pub mod repo;
pub mod runner;
pub mod sweeper;
pub mod worker;

pub use model::{DateRange, ExportRequest, Filters, JobRecord, JobStatus, OptionValue};
pub use queue::{ExportQueue, QUEUE_NAME};
pub use repo::{JobFilter, JobRepo, NewJob};
pub use runner::{JobRunner, RunningJobs};
