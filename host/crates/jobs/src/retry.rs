//! The one retry policy, for exports and callbacks alike: how many
//! attempts, how long between them, and what a failure leads to.
//!
//! Failures are classified where they happen (a plugin's by
//! `PluginError::is_transient`, the driver's by `ExportError::is_transient`,
//! a callback's by the answer it got); this file decides what follows.
//!
//! How the decision reaches the queue: apalis retries a task its handler
//! failed, but only right away or after a fixed delay, and counts every
//! failure as an attempt. So `worker.rs` translates a decision into the
//! handler's result (retry: an error; fail now or dead letter: an
//! `AbortError`), and `ExportQueue::delay_retry` / `throttle` (queue.rs)
//! write the backoff into the task's `run_at` (and refund the attempt of a
//! job that was only waiting for its organization's slot) in apalis's own
//! table: the one place we write into apalis's tables, since its API has no
//! way to say "again in 40 s" or "this one did not count".

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the failure's source says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// May succeed if tried again: a database or blob store outage, a
    /// plugin out of time under load, a stalled run, a 5xx answer.
    Transient,
    /// Will fail the same way again: bad options, a plugin refusing the
    /// data, a callback target that refuses us for good.
    Permanent,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this long.
    RetryAfter(Duration),
    /// Transient, but the attempts are spent: keep it as a dead letter.
    DeadLetter,
    /// Permanent: fail now, whatever attempts remain.
    FailNow,
}

/// The service's `[retry]` settings (exports) and `[callbacks.retry]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait after the first failure; doubled after each one after.
    #[serde(with = "exporter_settings::duration")]
    pub base: Duration,
    /// The longest wait.
    #[serde(with = "exporter_settings::duration")]
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base: Duration::from_secs(2),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// What makes no sense: no attempt at all.
    pub fn validate(&self) -> Result<(), exporter_settings::Invalid> {
        exporter_settings::first_invalid([("max_attempts", self.max_attempts >= 1, "at least 1")])
    }

    /// The same waits with another number of attempts: a job keeps the
    /// count it was created with, whatever the configuration says now.
    pub fn with_max_attempts(self, max_attempts: u32) -> Self {
        Self {
            max_attempts,
            ..self
        }
    }

    /// What follows attempt `attempt` (1 for the first) failing so.
    pub fn decide(&self, attempt: u32, failure: Failure) -> Decision {
        match failure {
            Failure::Permanent => Decision::FailNow,
            Failure::Transient if attempt >= self.max_attempts => Decision::DeadLetter,
            Failure::Transient => Decision::RetryAfter(self.backoff(attempt)),
        }
    }

    /// Exponential backoff with jitter: `base * 2^(attempt-1)`, capped,
    /// then scaled by a random factor in [0.5, 1.0] so failed jobs do not
    /// return in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let full = self.base.saturating_mul(1 << exponent).min(self.max);
        let factor = 0.5 + rand::random::<f64>() * 0.5;
        full.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let policy = policy();
        for _ in 0..100 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_secs(1) && first <= Duration::from_secs(2));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(8));
            assert!(policy.backoff(30) <= policy.max);
            assert!(policy.backoff(30) >= policy.max / 2);
        }
    }

    #[test]
    fn transient_failures_retry_until_the_attempts_are_spent() {
        let policy = policy();
        assert!(matches!(
            policy.decide(1, Failure::Transient),
            Decision::RetryAfter(_)
        ));
        assert!(matches!(
            policy.decide(2, Failure::Transient),
            Decision::RetryAfter(_)
        ));
        assert_eq!(policy.decide(3, Failure::Transient), Decision::DeadLetter);
        assert_eq!(policy.decide(9, Failure::Transient), Decision::DeadLetter);
    }

    #[test]
    fn permanent_failures_fail_at_once() {
        assert_eq!(policy().decide(1, Failure::Permanent), Decision::FailNow);
    }

    #[test]
    fn a_job_keeps_the_attempts_it_was_created_with() {
        let policy = policy().with_max_attempts(1);
        assert_eq!(policy.decide(1, Failure::Transient), Decision::DeadLetter);
        assert_eq!(policy.base, Duration::from_secs(2));
    }
}
