//! The export driver: one export from its query to published bytes, as
//! one file or as parts, by one path.
//!
//! The dataset query streams batches through a bounded channel to the part
//! cutter ([`crate::parts::cutter`]), which runs the plugin on a blocking
//! thread (wasmtime is synchronous) and hands each finished part to its
//! publisher. A file is an export of one part with no bound. Memory holds
//! at most `CHANNEL_BATCHES + 2` batches, whatever the export's size.
//!
//! Dropping a running export's future stops it at the next batch: the
//! plugin sees the rows end without the completion signal and never writes
//! its trailer, so a cancelled export never looks complete, and the part
//! being written is never published.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::error::ExportError;
use crate::headings::Headings;
use crate::parts::cutter::{Cutter, Encoder, PartPlan, PartPublisher, PartedStats};
use crate::progress::{Progress, Written};
use exporter_runtime::{ChunkSink, ExportContext, Formatter, RunStats};
use exporter_source::sources::SourcePool;
use exporter_source::{ExportQuery, RowKey, send_batches, send_keyed_batches};

/// Batches queued between the query and the plugin: enough to overlap
/// database reads with encoding, few enough to bound memory.
const CHANNEL_BATCHES: usize = 2;

/// One export: its rows, the plugin that encodes them, and where its
/// progress goes.
pub struct Export<'a> {
    /// The pool of the dataset's source (`(&database).into()` for the
    /// service's own).
    pub source: SourcePool,
    pub query: &'a ExportQuery,
    pub formatter: &'a Formatter,
    pub options: Vec<(String, String)>,
    pub context: ExportContext,
    /// What the columns are called in the file.
    pub headings: Headings,
    /// Rows per batch read from the database and handed to the plugin.
    pub batch_rows: usize,
    pub progress: Option<Arc<Progress>>,
}

/// What an export of one file produced.
#[derive(Debug, Clone)]
pub struct ExportStats {
    pub rows: u64,
    pub run: RunStats,
}

/// Which rows the query reads.
enum Rows<'a> {
    /// Every row, without keys: nothing resumes a single file.
    All,
    /// The rows after `after` (all of them for `None`), each with its key,
    /// so that a retried export continues after its last published part.
    Keyed { after: Option<&'a RowKey> },
}

impl Export<'_> {
    /// The whole export as one file into `sink`.
    pub async fn to_sink(self, sink: Box<dyn ChunkSink>) -> Result<ExportStats, ExportError> {
        let stats = self
            .drive(
                PartPlan::whole(),
                Rows::All,
                Written::default(),
                Box::new(OneFile(Some(sink))),
            )
            .await?;
        let run = stats
            .last_run
            .ok_or_else(|| ExportError::Internal("the export wrote no file".to_owned()))?;
        Ok(ExportStats {
            rows: stats.rows,
            run,
        })
    }

    /// The export cut into parts by `plan`, each handed to `publisher` when
    /// it is complete. A retried export passes the key of the last row its
    /// earlier runs published (`after`) and what they wrote (`earlier`).
    pub async fn in_parts(
        self,
        plan: PartPlan,
        after: Option<&RowKey>,
        earlier: Written,
        publisher: Box<dyn PartPublisher>,
    ) -> Result<PartedStats, ExportError> {
        self.drive(plan, Rows::Keyed { after }, earlier, publisher)
            .await
    }

    async fn drive(
        self,
        plan: PartPlan,
        rows: Rows<'_>,
        earlier: Written,
        publisher: Box<dyn PartPublisher>,
    ) -> Result<PartedStats, ExportError> {
        let Export {
            source,
            query,
            formatter,
            options,
            context,
            headings,
            batch_rows,
            progress,
        } = self;
        let encoder = Encoder {
            formatter: formatter.clone(),
            schema: headings.schema(query)?,
            options,
            context,
        };
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        // Sent only when every row was read: a query that fails midway must
        // not get a trailer written after its last batch, or the truncated
        // file would look complete.
        let (complete_tx, complete_rx) = oneshot::channel::<()>();
        let cutter = Cutter::new(encoder, plan, publisher, earlier, progress);
        // The plugin's thread logs in the export's span (a job's run).
        let span = tracing::Span::current();
        let encode =
            tokio::task::spawn_blocking(move || span.in_scope(|| cutter.run(rx, complete_rx)));

        let batch_rows = batch_rows.max(1);
        let sent = match rows {
            Rows::All => send_batches(source, query, batch_rows, tx).await,
            Rows::Keyed { after } => send_keyed_batches(source, query, after, batch_rows, tx).await,
        };
        if sent.is_ok() {
            let _ = complete_tx.send(());
        } else {
            drop(complete_tx);
        }
        let encoded = encode
            .await
            .map_err(|e| ExportError::Internal(format!("the plugin thread panicked: {e}")))?;
        match (sent, encoded) {
            (Ok(_), Ok(Some(stats))) => Ok(stats),
            // The plugin's side failed first; the source then saw the
            // channel close.
            (_, Err(stopped)) => Err(stopped),
            (Err(source), Ok(_)) => Err(source.into()),
            (Ok(_), Ok(None)) => {
                unreachable!("completion is signalled whenever the source succeeds")
            }
        }
    }
}

/// The publisher of an export of one file: its one part goes to the sink
/// the caller gave, which publishes it however the caller does.
struct OneFile(Option<Box<dyn ChunkSink>>);

impl PartPublisher for OneFile {
    fn open(&mut self, _index: u32) -> anyhow::Result<Box<dyn ChunkSink>> {
        self.0
            .take()
            .ok_or_else(|| anyhow::anyhow!("an export of one file has one part"))
    }

    fn publish(&mut self, _part: crate::parts::FinishedPart) -> anyhow::Result<()> {
        Ok(())
    }
}
