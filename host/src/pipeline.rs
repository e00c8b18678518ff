//! One export end to end: the dataset query streams batches through a
//! bounded channel to the plugin, which runs on a blocking thread (wasmtime
//! is synchronous) and writes chunks to the sink. Memory holds at most
//! `CHANNEL_BATCHES + 2` batches, whatever the export's size.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::db::Database;
use crate::plugins::{ChunkSink, ExportContext, Formatter, PluginError, RunStats};
use crate::source::{ExportQuery, QueryError, SourceError, send_batches};

/// Batches queued between the query and the plugin: enough to overlap
/// database reads with encoding, few enough to bound memory.
const CHANNEL_BATCHES: usize = 2;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Source(SourceError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("the export task failed: {0}")]
    Internal(String),
    /// A finished part could not be stored or recorded.
    #[error("publishing a part failed: {0:#}")]
    Publish(anyhow::Error),
    #[error("the export needs more than {0} parts; raise partMaxRows or partMaxBytes")]
    TooManyParts(u32),
}

impl ExportError {
    /// Whether running the export again could succeed (a database or
    /// storage hiccup), as opposed to a bad request or a plugin's refusal.
    pub fn is_transient(&self) -> bool {
        match self {
            ExportError::Query(_) => false,
            ExportError::Source(_) => true,
            ExportError::Plugin(error) => error.is_transient(),
            ExportError::Internal(_) => true,
            ExportError::Publish(_) => true,
            ExportError::TooManyParts(_) => false,
        }
    }
}

/// What one export produced.
#[derive(Debug, Clone)]
pub struct ExportStats {
    pub rows: u64,
    pub run: RunStats,
}

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

/// Runs `query` through `formatter` into `sink`.
///
/// Dropping the returned future stops the export at the next batch: the
/// plugin sees the rows end without the completion signal and never writes
/// its trailer, so a cancelled export never looks complete.
#[allow(clippy::too_many_arguments)]
pub async fn run_export(
    db: &Database,
    query: &ExportQuery,
    formatter: &Formatter,
    options: Vec<(String, String)>,
    context: ExportContext,
    sink: Box<dyn ChunkSink>,
    batch_rows: usize,
    progress: Option<Arc<Progress>>,
) -> Result<ExportStats, ExportError> {
    let schema = query.schema()?;
    let (tx, mut rx) = mpsc::channel(CHANNEL_BATCHES);
    // Sent only when every row was read: a query that fails midway must not
    // get a trailer written after its last batch, or the truncated file
    // would look complete.
    let (complete_tx, complete_rx) = oneshot::channel::<()>();

    let formatter = formatter.clone();
    let encode = tokio::task::spawn_blocking(move || -> Result<Option<RunStats>, PluginError> {
        let mut run = formatter.start(&schema, &options, &context, sink)?;
        while let Some(batch) = rx.blocking_recv() {
            run.write_batch(&batch)?;
            if let Some(progress) = &progress {
                progress.set(run.progress());
            }
        }
        match complete_rx.blocking_recv() {
            Ok(()) => run.finish().map(Some),
            Err(_) => Ok(None),
        }
    });

    let sent = send_batches(db, query, batch_rows, tx).await;
    if sent.is_ok() {
        let _ = complete_tx.send(());
    } else {
        drop(complete_tx);
    }
    let encoded = encode
        .await
        .map_err(|e| ExportError::Internal(format!("the plugin thread panicked: {e}")))?;
    match (sent, encoded) {
        (Ok(rows), Ok(Some(run))) => Ok(ExportStats { rows, run }),
        // The plugin failed first; the source then saw the channel close.
        (_, Err(plugin)) => Err(ExportError::Plugin(plugin)),
        (Err(SourceError::Query(query)), Ok(_)) => Err(ExportError::Query(query)),
        (Err(source), Ok(_)) => Err(ExportError::Source(source)),
        (Ok(_), Ok(None)) => unreachable!("completion is signalled whenever the source succeeds"),
    }
}
