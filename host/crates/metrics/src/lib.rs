//! Prometheus metrics: exports by format and outcome, their duration, rows
//! and bytes, plugin errors, HTTP requests. Jobs by status are read from
//! the database at scrape time, so every process reports the same truth.
//!
//! Imports no other crate of the host.

use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    exports: Family<Labels, Counter>,
    export_seconds: Family<Labels, Histogram>,
    rows: Family<Labels, Counter>,
    bytes: Family<Labels, Counter>,
    plugin_errors: Family<Labels, Counter>,
    jobs: Family<Labels, Gauge>,
    retries: Counter,
    dead_letters: Counter,
    rollbacks: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("exporter");
        let exports = Family::<Labels, Counter>::default();
        let export_seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 16))
        });
        let rows = Family::<Labels, Counter>::default();
        let bytes = Family::<Labels, Counter>::default();
        let plugin_errors = Family::<Labels, Counter>::default();
        let jobs = Family::<Labels, Gauge>::default();
        let retries = Counter::default();
        let dead_letters = Counter::default();
        let rollbacks = Family::<Labels, Counter>::default();
        registry.register(
            "plugin_rollbacks",
            "Plugin versions rolled back automatically after trapping, by format",
            rollbacks.clone(),
        );
        registry.register(
            "exports",
            "Export runs finished, by format and outcome",
            exports.clone(),
        );
        registry.register(
            "export_duration_seconds",
            "Wall time of export runs, by format",
            export_seconds.clone(),
        );
        registry.register("export_rows", "Rows exported, by format", rows.clone());
        registry.register(
            "export_bytes",
            "Bytes of files produced, by format",
            bytes.clone(),
        );
        registry.register(
            "plugin_errors",
            "Plugin failures, by format and kind",
            plugin_errors.clone(),
        );
        registry.register("jobs", "Export jobs by status", jobs.clone());
        registry.register(
            "export_retries",
            "Export runs that failed transiently and were scheduled again",
            retries.clone(),
        );
        registry.register(
            "jobs_dead_lettered",
            "Export jobs that failed on their last attempt (dead letters)",
            dead_letters.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                exports,
                export_seconds,
                rows,
                bytes,
                plugin_errors,
                jobs,
                retries,
                dead_letters,
                rollbacks,
            }),
        }
    }

    pub fn export_finished(
        &self,
        format: &str,
        outcome: &str,
        seconds: f64,
        rows: u64,
        bytes: u64,
    ) {
        let by_format = vec![("format", format.to_owned())];
        let mut with_outcome = by_format.clone();
        with_outcome.push(("outcome", outcome.to_owned()));
        self.inner.exports.get_or_create(&with_outcome).inc();
        self.inner
            .export_seconds
            .get_or_create(&by_format)
            .observe(seconds);
        self.inner.rows.get_or_create(&by_format).inc_by(rows);
        self.inner.bytes.get_or_create(&by_format).inc_by(bytes);
    }

    pub fn plugin_error(&self, format: &str, kind: &str) {
        self.inner
            .plugin_errors
            .get_or_create(&vec![
                ("format", format.to_owned()),
                ("kind", kind.to_owned()),
            ])
            .inc();
    }

    pub fn plugin_rolled_back(&self, format: &str) {
        self.inner
            .rollbacks
            .get_or_create(&vec![("format", format.to_owned())])
            .inc();
    }

    pub fn retry_scheduled(&self) {
        self.inner.retries.inc();
    }

    pub fn dead_lettered(&self) {
        self.inner.dead_letters.inc();
    }

    /// Renders the text exposition format, with `jobs` set from
    /// `by_status` for every one of `statuses` (0 where it has none). The
    /// statuses are the caller's: metrics know nothing of jobs.
    pub fn render<'a>(
        &self,
        statuses: impl IntoIterator<Item = &'a str>,
        by_status: &[(String, i64)],
    ) -> String {
        for status in statuses {
            let count = by_status
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            self.inner
                .jobs
                .get_or_create(&vec![("status", status.to_owned())])
                .set(count);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.inner.registry);
        out
    }
}
