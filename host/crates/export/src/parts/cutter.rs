//! The part cutter: the plugin's side of every export. It takes the
//! query's batches on the plugin's blocking thread and runs one plugin run
//! per part, each a complete file of its format, cut by rows or bytes.
//! Each finished part goes to a [`PartPublisher`] at once, so it can be
//! downloaded while later parts are still being written. An export of one
//! file is one part with no bound ([`PartPlan::whole`]).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::error::ExportError;
use crate::progress::{Progress, Written};
use exporter_runtime::batch::slice::slice;
use exporter_runtime::{
    Batch, ChunkSink, Column, ExportContext, Formatter, FormatterRun, PluginError, RunStats,
};
use exporter_source::{QueryError, RowKey};

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

impl PartPlan {
    /// One file: a single part with no bound.
    pub fn whole() -> Self {
        Self {
            max_rows: None,
            max_bytes: None,
            first_index: 0,
            max_parts: 1,
        }
    }
}

/// A part whose plugin run finished: complete, ready to publish.
#[derive(Debug, Clone)]
pub struct FinishedPart {
    pub index: u32,
    pub rows: u64,
    pub run: RunStats,
    /// Its last row's key, where a resumed export continues; `None` for the
    /// one empty part of an export with no rows, and when the rows were
    /// read without their keys (an export of one file).
    pub last_key: Option<RowKey>,
}

/// Where parts go. Called from the plugin's blocking thread.
pub trait PartPublisher: Send {
    /// The sink part `index`'s bytes go to.
    fn open(&mut self, index: u32) -> anyhow::Result<Box<dyn ChunkSink>>;
    /// Makes the part opened last visible, whole.
    fn publish(&mut self, part: FinishedPart) -> anyhow::Result<()>;
}

/// What a run of the cutter wrote.
#[derive(Debug, Clone)]
pub struct PartedStats {
    /// Parts this run published.
    pub parts: u32,
    /// Rows this run wrote.
    pub rows: u64,
    /// Bytes the plugin wrote in this run (before compression).
    pub bytes: u64,
    /// The plugin run of the last part published, if any.
    pub last_run: Option<RunStats>,
}

/// The plugin and what every one of its runs gets.
pub(crate) struct Encoder {
    pub formatter: Formatter,
    pub schema: Vec<Column>,
    pub options: Vec<(String, String)>,
    pub context: ExportContext,
}

impl Encoder {
    fn start(&self, sink: Box<dyn ChunkSink>) -> Result<FormatterRun, PluginError> {
        self.formatter
            .start(&self.schema, &self.options, &self.context, sink)
    }
}

/// The part being written.
struct OpenPart {
    run: FormatterRun,
    rows: u64,
}

/// Cuts the batches into parts.
pub(crate) struct Cutter {
    encoder: Encoder,
    plan: PartPlan,
    publisher: Box<dyn PartPublisher>,
    open: Option<OpenPart>,
    /// The index of the next part to open.
    index: u32,
    /// Finished parts of this run.
    written: Written,
    last_run: Option<RunStats>,
    earlier: Written,
    last_key: Option<RowKey>,
    progress: Option<Arc<Progress>>,
}

impl Cutter {
    pub(crate) fn new(
        encoder: Encoder,
        plan: PartPlan,
        publisher: Box<dyn PartPublisher>,
        earlier: Written,
        progress: Option<Arc<Progress>>,
    ) -> Self {
        Self {
            encoder,
            plan,
            publisher,
            open: None,
            index: plan.first_index,
            written: Written::default(),
            last_run: None,
            earlier,
            last_key: None,
            progress,
        }
    }

    /// Writes every batch `rx` brings. `complete` says whether the source
    /// read every row: without it, the open part never gets its trailer
    /// (a truncated file must not look complete), and `Ok(None)` says so.
    pub(crate) fn run(
        mut self,
        mut rx: mpsc::Receiver<Batch>,
        complete: oneshot::Receiver<()>,
    ) -> Result<Option<PartedStats>, ExportError> {
        let first = self.index;
        if first == 0 {
            // The first part of a fresh export is always written (with rows,
            // or as the one empty part), so the plugin starts while the
            // query does.
            self.open_part()?;
        }
        while let Some(batch) = rx.blocking_recv() {
            self.write(batch)?;
        }
        if complete.blocking_recv().is_err() {
            return Ok(None);
        }
        // An export with no rows at all still gets its one (empty) part: a
        // CSV header, an empty workbook, a file of its format.
        if self.open.is_some() {
            self.close()?;
        }
        Ok(Some(PartedStats {
            parts: self.index - first,
            rows: self.written.rows,
            bytes: self.written.bytes,
            last_run: self.last_run,
        }))
    }

    fn write(&mut self, mut batch: Batch) -> Result<(), ExportError> {
        // Keyed batches end with the rows' keys, which the plugin never sees.
        let keys = batch.columns.split_off(self.encoder.schema.len());
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
            if !keys.is_empty() {
                // A NULL key would leave nowhere to resume after: the
                // dataset's key is not the unique, non-null key it claims.
                self.last_key = Some(
                    RowKey::at(&keys, at - 1)
                        .ok_or_else(|| ExportError::Query(QueryError::NullKey))?,
                );
            }
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

    fn open_part(&mut self) -> Result<(), ExportError> {
        if self.index >= self.plan.max_parts {
            return Err(ExportError::TooManyParts(self.plan.max_parts));
        }
        let sink = self
            .publisher
            .open(self.index)
            .map_err(ExportError::Publish)?;
        let run = self.encoder.start(sink)?;
        self.open = Some(OpenPart { run, rows: 0 });
        Ok(())
    }

    fn close(&mut self) -> Result<(), ExportError> {
        let part = self.open.take().expect("a part is open");
        let rows = part.rows;
        let run = part.run.finish()?;
        self.written.rows += rows;
        self.written.bytes += run.bytes;
        self.last_run = Some(run.clone());
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
        self.publisher
            .publish(finished)
            .map_err(ExportError::Publish)?;
        self.index += 1;
        Ok(())
    }
}
