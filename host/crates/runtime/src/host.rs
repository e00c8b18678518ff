//! The host side of the `sink` interface: where a plugin's bytes, log lines
//! and warnings go.

use super::bindings::{Level, SinkHost, TypesHost};
use super::sandbox::HostState;

/// Where the bytes of an export go: a file, an upload, a buffer.
///
/// Called on the thread that runs the plugin. A slow sink slows the plugin
/// (back-pressure, which keeps memory bounded); a failing sink stops the
/// plugin with [`super::PluginError::Sink`].
pub trait ChunkSink: Send {
    /// Takes one chunk. The chunk is already a copy out of guest memory;
    /// keep it or drop it.
    fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()>;

    /// Called once after the plugin's `finish` succeeded: flush buffers.
    /// Publishing the result is the caller's business, not the sink's.
    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

impl<F> ChunkSink for F
where
    F: FnMut(Vec<u8>) -> anyhow::Result<()> + Send,
{
    fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        self(chunk)
    }
}

/// A sink over any `std::io::Write`: a file, a pipe, a `Vec<u8>`.
pub struct WriteSink<W>(pub W);

impl<W: std::io::Write + Send> ChunkSink for WriteSink<W> {
    fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        self.0.write_all(&chunk)?;
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.0.flush()?;
        Ok(())
    }
}

/// A sink that keeps the whole output in memory: for small exports, the
/// conformance kit and tests. Clones share the buffer, so keep one clone and
/// hand the other to the run.
#[derive(Clone, Default)]
pub struct MemorySink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl MemorySink {
    /// Takes the bytes written so far.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl ChunkSink for MemorySink {
    fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(&chunk);
        Ok(())
    }
}

/// Why the host stopped a plugin from inside `sink.write`.
#[derive(Debug)]
pub(crate) enum SinkStop {
    OutputLimit,
    ChunkTooLarge(usize),
    Sink(anyhow::Error),
    /// A write with no export to write to: from `info()`, or after `finish`
    /// returned (from the writer's destructor).
    Closed,
}

/// Counts and caps a plugin's output and forwards it to the sink.
pub(crate) struct OutputMeter {
    sink: Box<dyn ChunkSink>,
    pub(crate) bytes: u64,
    pub(crate) chunks: u64,
    max_bytes: u64,
    max_chunk: usize,
    /// Set when a write was refused; the trap that follows is read as this.
    pub(crate) stop: Option<SinkStop>,
    /// Set once `finish` returned: the file is complete, and nothing the
    /// guest does afterwards may reach it.
    closed: bool,
}

impl OutputMeter {
    pub(crate) fn new(sink: Box<dyn ChunkSink>, max_bytes: u64, max_chunk: usize) -> Self {
        Self {
            sink,
            bytes: 0,
            chunks: 0,
            max_bytes,
            max_chunk,
            stop: None,
            closed: false,
        }
    }

    /// Refuses every later write (it traps the guest).
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    fn write(&mut self, chunk: Vec<u8>) -> Result<(), SinkStop> {
        if self.closed {
            return Err(SinkStop::Closed);
        }
        if chunk.len() > self.max_chunk {
            return Err(SinkStop::ChunkTooLarge(chunk.len()));
        }
        if self.bytes + chunk.len() as u64 > self.max_bytes {
            return Err(SinkStop::OutputLimit);
        }
        if chunk.is_empty() {
            return Ok(());
        }
        self.bytes += chunk.len() as u64;
        self.chunks += 1;
        self.sink.write(chunk).map_err(SinkStop::Sink)
    }

    pub(crate) fn flush(&mut self) -> anyhow::Result<()> {
        self.sink.flush()
    }
}

/// The `types` interface has no functions; the linker still wants a host.
impl TypesHost for HostState {}

/// Longest log line kept, in bytes; the rest is cut with a marker.
const MAX_LOG_LINE: usize = 4096;

impl SinkHost for HostState {
    fn write(&mut self, bytes: Vec<u8>) -> wasmtime::Result<()> {
        if self.output.stop.is_some() {
            wasmtime::bail!("plugin wrote after the host stopped its output");
        }
        match self.output.write(bytes) {
            Ok(()) => Ok(()),
            Err(stop) => {
                let message = format!("output stopped: {stop:?}");
                self.output.stop = Some(stop);
                Err(wasmtime::format_err!(message))
            }
        }
    }

    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if self.log_budget == 0 || self.log_bytes_budget == 0 {
            return Ok(());
        }
        // One line, no terminal escapes, bounded: the text is the guest's.
        let message = super::text::sanitize_guest_text(&message, MAX_LOG_LINE);
        self.log_budget -= 1;
        self.log_bytes_budget = self.log_bytes_budget.saturating_sub(message.len().max(1));
        let plugin = &self.plugin;
        match level {
            Level::Trace => tracing::trace!(target: "plugin", %plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", %plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugin", %plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", %plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugin", %plugin, "{message}"),
        }
        if self.log_budget == 0 || self.log_bytes_budget == 0 {
            tracing::warn!(target: "plugin", %plugin, "log limit reached; further plugin log lines of this export are dropped");
        }
        Ok(())
    }

    fn report_warning(
        &mut self,
        code: String,
        count: u64,
        example: String,
    ) -> wasmtime::Result<()> {
        // Bounded per call and in total by `Warnings` itself: no budget to
        // spend, so a plugin may report every occurrence.
        self.warnings.report(&code, count, &example);
        Ok(())
    }
}
