//! How far a running export has come, for progress reports.

use std::sync::atomic::{AtomicU64, Ordering};

/// Rows and bytes the plugin has written so far, for progress reports
/// while an export runs. Updated once per batch.
#[derive(Debug, Default)]
pub struct Progress {
    rows: AtomicU64,
    bytes: AtomicU64,
}

impl Progress {
    /// (rows, bytes).
    pub fn get(&self) -> (u64, u64) {
        (
            self.rows.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn set(&self, (rows, bytes): (u64, u64)) {
        self.rows.store(rows, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
    }
}

/// What has been written before this run (by the earlier attempts whose
/// parts stay), for progress reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Written {
    pub rows: u64,
    pub bytes: u64,
}
