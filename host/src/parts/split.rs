//! An export written as several files: the query's batches go through one
//! plugin run per part, each a complete file of its format, cut by rows or
//! bytes. Each finished part is handed to a [`PartPublisher`] at once, so
//! it can be downloaded while later parts are still being written.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::batch::slice::{slice, text_at, timestamp_at};
use crate::db::Database;
use crate::pipeline::{ExportError, Progress};
use crate::plugins::{
    Batch, ChunkSink, ColumnData, ExportContext, Formatter, FormatterRun, PluginError, RunStats,
};
use crate::source::{ExportQuery, RowKey, SourceError, send_keyed_batches};

/// Batches queued between the query and the plugin (as for one file).
const CHANNEL_BATCHES: usize = 2;

/// Rows written before the bytes per row are known, when parts are cut by
/// size: a small first step, so the estimate is ready before a part fills.
const PROBE_ROWS: usize = 64;

/// How an export is cut into parts, and where this run starts.
#[derive(Debug, Clone, Copy)]
pub struct PartPlan {
    /// Rows per part, exactly (the last part may have fewer).
    pub max_rows: Option<u64>,
    /// A part closes at the first row after its format has emitted this many
    /// bytes (before compression).
    pub max_bytes: Option<u64>,
    /// The index of the first part this run writes: parts before it were
    /// published by an earlier attempt.
    pub first_index: u32,
    /// Parts an export may have at most.
    pub max_parts: u32,
}

/// A part whose plugin run finished: complete, ready to publish.
#[derive(Debug, Clone)]
pub struct FinishedPart {
    pub index: u32,
    pub rows: u64,
    pub run: RunStats,
    /// Its last row's key, where a resumed export continues; `None` for the
    /// one empty part of an export with no rows.
    pub last_key: Option<RowKey>,
}

/// Where parts go. Called from the plugin's blocking thread.
pub trait PartPublisher: Send {
    /// The sink part `index`'s bytes go to.
    fn open(&mut self, index: u32) -> anyhow::Result<Box<dyn ChunkSink>>;
    /// Makes the part opened last visible, whole.
    fn publish(&mut self, part: FinishedPart) -> anyhow::Result<()>;
}

/// What a parted run wrote.
#[derive(Debug, Clone)]
pub struct PartedStats {
    /// Parts this run published.
    pub parts: u32,
    /// Rows this run wrote.
    pub rows: u64,
    /// Bytes the plugin wrote in this run (before compression).
    pub bytes: u64,
}

/// Why the plugin's side of a parted export stopped.
enum Stop {
    Plugin(PluginError),
    Publish(anyhow::Error),
    TooManyParts(u32),
}

impl From<PluginError> for Stop {
    fn from(error: PluginError) -> Self {
        Stop::Plugin(error)
    }
}

/// What has been written before this run, for progress reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Written {
    pub rows: u64,
    pub bytes: u64,
}

/// Runs `query` after `after` through `formatter` into parts.
///
/// Dropping the future stops the export at the next batch; the part being
/// written is never published, and the publisher (dropped with the
/// plugin's thread) abandons its upload.
#[allow(clippy::too_many_arguments)]
pub async fn run_parted_export(
    db: &Database,
    query: &ExportQuery,
    after: Option<&RowKey>,
    formatter: &Formatter,
    options: Vec<(String, String)>,
    context: ExportContext,
    plan: PartPlan,
    publisher: Box<dyn PartPublisher>,
    batch_rows: usize,
    earlier: Written,
    progress: Option<Arc<Progress>>,
) -> Result<PartedStats, ExportError> {
    let schema = query.schema()?;
    let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
    let (complete_tx, complete_rx) = oneshot::channel::<()>();
    let formatter = formatter.clone();
    let encode = tokio::task::spawn_blocking(move || {
        let mut parts = Parts {
            formatter,
            schema,
            options,
            context,
            plan,
            publisher,
            open: None,
            index: plan.first_index,
            written: Written::default(),
            earlier,
            last_key: None,
            progress,
        };
        parts.run(rx, complete_rx)
    });

    let sent = send_keyed_batches(db, query, after, batch_rows, tx).await;
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
        (_, Err(Stop::Plugin(plugin))) => Err(ExportError::Plugin(plugin)),
        (_, Err(Stop::Publish(error))) => Err(ExportError::Publish(error)),
        (_, Err(Stop::TooManyParts(max))) => Err(ExportError::TooManyParts(max)),
        (Err(SourceError::Query(query)), Ok(_)) => Err(ExportError::Query(query)),
        (Err(source), Ok(_)) => Err(ExportError::Source(source)),
        (Ok(_), Ok(None)) => unreachable!("completion is signalled whenever the source succeeds"),
    }
}

/// The part being written.
struct OpenPart {
    run: FormatterRun,
    rows: u64,
}

/// The plugin's side: cuts the batches into parts.
struct Parts {
    formatter: Formatter,
    schema: Vec<crate::plugins::Column>,
    options: Vec<(String, String)>,
    context: ExportContext,
    plan: PartPlan,
    publisher: Box<dyn PartPublisher>,
    open: Option<OpenPart>,
    /// The index of the next part to open.
    index: u32,
    /// Finished parts of this run.
    written: Written,
    earlier: Written,
    last_key: Option<RowKey>,
    progress: Option<Arc<Progress>>,
}

impl Parts {
    fn run(
        &mut self,
        mut rx: mpsc::Receiver<Batch>,
        complete: oneshot::Receiver<()>,
    ) -> Result<Option<PartedStats>, Stop> {
        let first = self.index;
        while let Some(batch) = rx.blocking_recv() {
            self.write(batch)?;
        }
        if complete.blocking_recv().is_err() {
            // The query failed: the open part must not get its trailer.
            return Ok(None);
        }
        if self.open.is_some() {
            self.close()?;
        } else if self.index == 0 {
            // No rows at all: one empty part (a CSV header, an empty
            // workbook), so the export still has a file of its format.
            self.open_part()?;
            self.close()?;
        }
        Ok(Some(PartedStats {
            parts: self.index - first,
            rows: self.written.rows,
            bytes: self.written.bytes,
        }))
    }

    fn write(&mut self, mut batch: Batch) -> Result<(), Stop> {
        let keys = batch.columns.split_off(self.schema.len());
        let total = batch.rows as usize;
        let mut at = 0;
        while at < total {
            if self.open.is_none() {
                self.open_part()?;
            }
            let take = self.rows_to_take(total - at);
            let part = self.open.as_mut().expect("opened above");
            if at == 0 && take == total {
                part.run.write_batch(&batch)?;
            } else {
                part.run.write_batch(&slice(&batch, at, take))?;
            }
            part.rows += take as u64;
            at += take;
            self.last_key = Some(key_at(&keys, at - 1));
            let (rows, bytes) = (part.rows, part.run.progress().1);
            if let Some(progress) = &self.progress {
                progress.set((
                    self.earlier.rows + self.written.rows + rows,
                    self.earlier.bytes + self.written.bytes + bytes,
                ));
            }
            let full = self.plan.max_rows.is_some_and(|max| rows >= max)
                || self.plan.max_bytes.is_some_and(|max| bytes >= max);
            if full {
                self.close()?;
            }
        }
        Ok(())
    }

    /// How many of the `available` rows the open part takes next.
    fn rows_to_take(&self, available: usize) -> usize {
        let part = self.open.as_ref().expect("a part is open");
        let mut take = available;
        if let Some(max) = self.plan.max_rows {
            take = take.min(max.saturating_sub(part.rows) as usize);
        }
        if let Some(max) = self.plan.max_bytes {
            // Bytes per row over every row of this run: a part's own first
            // rows are too few to go by when row sizes vary widely.
            let written = part.run.progress().1;
            let (rows, bytes) = (self.written.rows + part.rows, self.written.bytes + written);
            let rate = (rows > 0 && bytes > 0).then(|| bytes as f64 / rows as f64);
            take = match rate {
                // Half the rows the estimate says are left, so rows of very
                // different sizes cannot carry the part far past the limit:
                // near it, rows go one at a time, and the part closes after
                // the row that crosses it.
                Some(rate) if rate > 0.0 => {
                    let rows = (max.saturating_sub(written) as f64 / rate / 2.0).floor();
                    take.min(rows.max(1.0) as usize)
                }
                _ => take.min(PROBE_ROWS),
            };
        }
        take.max(1)
    }

    fn open_part(&mut self) -> Result<(), Stop> {
        if self.index >= self.plan.max_parts {
            return Err(Stop::TooManyParts(self.plan.max_parts));
        }
        let sink = self.publisher.open(self.index).map_err(Stop::Publish)?;
        let run = self
            .formatter
            .start(&self.schema, &self.options, &self.context, sink)?;
        self.open = Some(OpenPart { run, rows: 0 });
        Ok(())
    }

    fn close(&mut self) -> Result<(), Stop> {
        let part = self.open.take().expect("a part is open");
        let rows = part.rows;
        let run = part.run.finish()?;
        self.written.rows += rows;
        self.written.bytes += run.bytes;
        let finished = FinishedPart {
            index: self.index,
            rows,
            run,
            last_key: if rows > 0 {
                self.last_key.clone()
            } else {
                None
            },
        };
        self.publisher.publish(finished).map_err(Stop::Publish)?;
        self.index += 1;
        Ok(())
    }
}

/// The key of row `row`, from the batch's trailing key columns.
fn key_at(keys: &[ColumnData], row: usize) -> RowKey {
    RowKey {
        range: timestamp_at(&keys[0], row).unwrap_or_default(),
        id: text_at(&keys[1], row).unwrap_or_default().to_owned(),
    }
}
