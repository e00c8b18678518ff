//! Per-job completion callbacks: when a job reaches Completed, Failed or
//! Cancelled, its JSON is POSTed to the `callbackUrl` it was created with,
//! signed with the organization's secret (`signing`), to targets the
//! policy admits (`target`), retried with backoff, every attempt recorded
//! on the job (`store`). The delivery loop is `crate::dispatcher`: it
//! sends the job's view, which reads these records, so it sits beside the
//! view rather than in here.

pub mod signing;
pub mod store;
pub mod target;

pub use target::{TargetError, TargetPolicy};
