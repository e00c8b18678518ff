//! A loaded plugin version and one export running through it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use exporter_wit::FormatInfo;
use wasmtime::component::ResourceAny;
use wasmtime::{Store, Trap};

use super::bindings::{self, Batch, Column, ColumnValues, ExportContext, PluginPre};
use super::engine::PluginEngine;
use super::error::{Call, PluginError, PluginId, RefusalKind, TimeLimit};
use super::host::{ChunkSink, OutputMeter, SinkStop};
use super::runtime_config::SandboxLimits;
use super::sandbox::{HostState, MAX_HOST_RESOURCES};
use super::text::{MAX_GUEST_MESSAGE, sanitize_guest_text};
use super::warnings::Warnings;
use super::wasi_io::NeverReady;

/// A compiled, checked plugin version, ready to start exports in well under
/// a millisecond. Cheap to clone; an export holds its own clone, so swapping
/// the active version never disturbs an export already running.
#[derive(Clone)]
pub struct Formatter {
    inner: Arc<FormatterInner>,
}

struct FormatterInner {
    engine: PluginEngine,
    pre: PluginPre<HostState>,
    info: FormatInfo,
    id: PluginId,
    digest: String,
    contract: String,
}

impl Formatter {
    pub(crate) fn new(
        engine: PluginEngine,
        pre: PluginPre<HostState>,
        info: FormatInfo,
        digest: String,
        contract: String,
    ) -> Self {
        let id = PluginId {
            name: info.name.clone(),
            version: info.version.clone(),
        };
        Self {
            inner: Arc::new(FormatterInner {
                engine,
                pre,
                info,
                id,
                digest,
                contract,
            }),
        }
    }

    pub fn info(&self) -> &FormatInfo {
        &self.inner.info
    }

    pub fn id(&self) -> &PluginId {
        &self.inner.id
    }

    /// The WIT interface the component exports, as the component itself
    /// names it: `exporter:formatter/formatter@1.0.0` for a plugin built
    /// against 1.0.0, `…@1.1.0` for one that can report warnings.
    pub fn contract(&self) -> &str {
        &self.inner.contract
    }

    /// Calls `info()` again in a fresh instance. The contract says `info()`
    /// depends only on the plugin's code (the host caches it); the
    /// conformance kit holds the plugin to that.
    pub fn describe_again(&self) -> Result<FormatInfo, PluginError> {
        self.inner
            .engine
            .describe(&self.inner.id.name, &self.inner.pre)
    }

    /// sha256 of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// Starts an export under the engine's default limits.
    pub fn start(
        &self,
        columns: &[Column],
        options: &[(String, String)],
        context: &ExportContext,
        sink: Box<dyn ChunkSink>,
    ) -> Result<FormatterRun, PluginError> {
        let limits = self.inner.engine.config().limits.clone();
        self.start_with_limits(columns, options, context, sink, limits)
    }

    /// Starts an export: a fresh instance, then `writer.open`.
    pub fn start_with_limits(
        &self,
        columns: &[Column],
        options: &[(String, String)],
        context: &ExportContext,
        sink: Box<dyn ChunkSink>,
        mut limits: SandboxLimits,
    ) -> Result<FormatterRun, PluginError> {
        // The instance pool reserves memory slots of the engine's size; an
        // export may be stricter, never looser.
        let engine_limits = &self.inner.engine.config().limits;
        limits.memory_bytes = limits.memory_bytes.min(engine_limits.memory_bytes);

        let id = &self.inner.id;
        let output = OutputMeter::new(sink, limits.max_output_bytes, limits.max_chunk_bytes);
        let state = HostState::new(
            id.clone(),
            &limits,
            context.generated_at,
            output,
            self.inner.engine.epoch_tick(),
        );
        let mut store = self.inner.engine.new_store(state);
        let started = Instant::now();
        let plugin = call_guest(
            &mut store,
            id,
            Call::Instantiate,
            &limits,
            Duration::ZERO,
            |s| self.inner.pre.instantiate(s).map(Ok),
        )?;
        let options: Vec<bindings::OptionValue> = options
            .iter()
            .map(|(name, value)| bindings::OptionValue {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        let writer = call_guest(
            &mut store,
            id,
            Call::Open,
            &limits,
            started.elapsed(),
            |s| {
                plugin
                    .exporter_formatter_formatter()
                    .writer()
                    .call_open(s, columns, &options, context)
            },
        )?;
        Ok(FormatterRun {
            formatter: self.clone(),
            store,
            plugin,
            writer,
            schema: columns.iter().map(|c| c.kind).collect(),
            limits,
            guest_time: started.elapsed(),
            rows: 0,
        })
    }
}

/// One export in progress inside its own plugin instance.
pub struct FormatterRun {
    formatter: Formatter,
    store: Store<HostState>,
    plugin: bindings::Plugin,
    writer: ResourceAny,
    schema: Vec<bindings::ColumnType>,
    limits: SandboxLimits,
    guest_time: Duration,
    rows: u64,
}

/// What an export through a plugin produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStats {
    pub rows: u64,
    pub bytes: u64,
    pub chunks: u64,
    /// Wall time spent inside the plugin (including its sink writes).
    pub guest_time: Duration,
    /// The plugin instance's peak linear memory, in bytes.
    pub peak_memory: usize,
    /// What the plugin reported changing in the data to fit its format.
    pub warnings: Warnings,
}

impl FormatterRun {
    /// Encodes one batch. Memory stays bounded: the plugin emits its bytes
    /// through the sink before returning.
    pub fn write_batch(&mut self, batch: &Batch) -> Result<(), PluginError> {
        check_batch(&self.schema, batch).map_err(|reason| PluginError::Host {
            plugin: self.formatter.id().to_string(),
            source: anyhow::anyhow!("the host built a malformed batch: {reason}"),
        })?;
        self.call_writer(Call::WriteBatch, None, |s, plugin, writer| {
            plugin
                .exporter_formatter_formatter()
                .writer()
                .call_write_batch(s, writer, batch)
        })?;
        self.rows += u64::from(batch.rows);
        Ok(())
    }

    /// Calls the guest's writer as `call`, within the call deadline
    /// (`call_timeout` in place of the sandbox's, for the destructor), and
    /// counts the time it takes against the export's.
    fn call_writer<R>(
        &mut self,
        call: Call,
        call_timeout: Option<Duration>,
        f: impl FnOnce(
            &mut Store<HostState>,
            &bindings::Plugin,
            ResourceAny,
        ) -> wasmtime::Result<Result<R, bindings::FormatError>>,
    ) -> Result<R, PluginError> {
        let started = Instant::now();
        let limits = match call_timeout {
            Some(call_timeout) => Cow::Owned(SandboxLimits {
                call_timeout,
                ..self.limits.clone()
            }),
            None => Cow::Borrowed(&self.limits),
        };
        let (plugin, writer) = (&self.plugin, self.writer);
        let result = call_guest(
            &mut self.store,
            self.formatter.id(),
            call,
            &limits,
            self.guest_time,
            |s| f(s, plugin, writer),
        );
        self.guest_time += started.elapsed();
        result
    }

    /// Rows, bytes and chunks so far.
    pub fn progress(&self) -> (u64, u64) {
        (self.rows, self.store.data().output.bytes)
    }

    /// Flushes the plugin's trailer and ends the export.
    pub fn finish(mut self) -> Result<RunStats, PluginError> {
        let id = self.formatter.id().clone();
        self.call_writer(Call::Finish, None, |s, plugin, writer| {
            plugin
                .exporter_formatter_formatter()
                .writer()
                .call_finish(s, writer)
        })?;
        // The file is complete: whatever the guest does from here on must
        // not reach it.
        self.store.data_mut().output.close();
        // Dropping the resource runs the guest's destructor, under its own
        // short deadline that also counts against the export's. A write
        // there traps; a destructor that fails or hangs fails the export
        // (the plugin is broken), before anything is flushed.
        let drop_timeout = Some(self.limits.drop_timeout);
        self.call_writer(Call::Drop, drop_timeout, |s, _, writer| {
            writer.resource_drop(s).map(Ok)
        })?;
        self.store
            .data_mut()
            .output
            .flush()
            .map_err(|source| PluginError::Sink {
                plugin: id.clone(),
                call: Call::Finish,
                source,
            })?;
        let output = &self.store.data().output;
        Ok(RunStats {
            rows: self.rows,
            bytes: output.bytes,
            chunks: output.chunks,
            guest_time: self.guest_time,
            peak_memory: self.store.data().memory.peak,
            warnings: std::mem::take(&mut self.store.data_mut().warnings),
        })
    }
}

impl Drop for FormatterRun {
    fn drop(&mut self) {
        log_stdio(&self.store);
    }
}

/// Longest stderr line logged, in bytes.
const MAX_STDERR_LINE: usize = 4096;

fn log_stdio(store: &Store<HostState>) {
    let text = store.data().stdio.take();
    let plugin = &store.data().plugin;
    // The capture keeps only the last `stderr_bytes`; each line is the
    // guest's text, made one safe line.
    for line in text.lines() {
        let line = sanitize_guest_text(line, MAX_STDERR_LINE);
        if !line.is_empty() {
            tracing::warn!(target: "plugin", %plugin, stream = "stderr", "{line}");
        }
    }
}

/// Runs one guest call under the sandbox's deadlines and sorts out what
/// went wrong if it fails. `spent` is the guest time this export already
/// used, for the per-export limit.
pub(crate) fn call_guest<R>(
    store: &mut Store<HostState>,
    id: &PluginId,
    call: Call,
    limits: &SandboxLimits,
    spent: Duration,
    f: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<Result<R, bindings::FormatError>>,
) -> Result<R, PluginError> {
    let remaining = limits.export_timeout.saturating_sub(spent);
    let budget = limits.call_timeout.min(remaining);
    let tick = store_tick(store).as_nanos().max(1);
    // The first tick may land at once, so the deadline is one tick more than
    // the budget rounded *up*: never early (a call stopped early would be
    // blamed on the wrong limit), at most a tick late.
    let ticks = budget.as_nanos().div_ceil(tick) as u64 + 1;
    store.set_epoch_deadline(ticks);
    let started = Instant::now();
    match f(store) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(refusal)) => {
            let (kind, message) = match refusal {
                bindings::FormatError::InvalidOption(m) => (RefusalKind::InvalidOption, m),
                bindings::FormatError::UnsupportedSchema(m) => (RefusalKind::UnsupportedSchema, m),
                bindings::FormatError::InvalidData(m) => (RefusalKind::InvalidData, m),
                bindings::FormatError::Other(m) => (RefusalKind::Other, m),
            };
            Err(PluginError::Refused {
                plugin: id.clone(),
                call,
                kind,
                message: sanitize_guest_text(&message, MAX_GUEST_MESSAGE),
            })
        }
        Err(error) => Err(classify_failure(
            store,
            id,
            call,
            limits,
            spent + started.elapsed(),
            error,
        )),
    }
}

fn store_tick(store: &Store<HostState>) -> Duration {
    // The tick lives in the engine's config; the store only knows the
    // engine, so it is threaded through the state.
    store.data().epoch_tick
}

fn classify_failure(
    store: &mut Store<HostState>,
    id: &PluginId,
    call: Call,
    limits: &SandboxLimits,
    spent: Duration,
    error: wasmtime::Error,
) -> PluginError {
    let plugin = id.clone();
    if let Some(stop) = store.data_mut().output.stop.take() {
        return match stop {
            SinkStop::OutputLimit => PluginError::OutputLimit {
                plugin,
                call,
                limit: limits.max_output_bytes,
            },
            SinkStop::ChunkTooLarge(size) => PluginError::InvalidOutput {
                plugin,
                call,
                reason: format!(
                    "it wrote a chunk of {size} bytes; the largest allowed is {} bytes",
                    limits.max_chunk_bytes
                ),
            },
            SinkStop::Sink(source) => PluginError::Sink {
                plugin,
                call,
                source,
            },
            SinkStop::Closed => PluginError::InvalidOutput {
                plugin,
                call,
                reason: match call {
                    Call::Info | Call::Instantiate => {
                        "it wrote output outside an export; only a writer may call sink.write"
                            .to_owned()
                    }
                    _ => "it wrote output after finish returned; the file was already complete"
                        .to_owned(),
                },
            },
        };
    }
    if error
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return PluginError::Capacity {
            plugin,
            reason: error.to_string(),
        };
    }
    if let Some(Trap::Interrupt) = error.downcast_ref::<Trap>() {
        let scope = if spent >= limits.export_timeout {
            TimeLimit::Export
        } else {
            TimeLimit::Call
        };
        let limit = match scope {
            TimeLimit::Call => limits.call_timeout,
            TimeLimit::Export => limits.export_timeout,
        };
        return PluginError::Timeout {
            plugin,
            call,
            scope,
            limit,
        };
    }
    let state = store.data();
    if let Some(requested) = state.memory.refused {
        return PluginError::OutOfMemory {
            plugin,
            call,
            requested,
            limit: state.memory.limit(),
        };
    }
    let stderr = state.stdio.take();
    // One line that names the cause; the full error, with its wasm
    // backtrace, goes to the log.
    tracing::debug!(target: "plugin", plugin = %id, %call, error = ?error, "plugin call failed");
    let cause = failure_cause(&error);
    let message = match panic_message(&stderr) {
        Some(panic) => format!("panicked: {panic} ({cause})"),
        None => cause,
    };
    let message = sanitize_guest_text(&message, MAX_GUEST_MESSAGE);
    if call == Call::Instantiate && error.downcast_ref::<Trap>().is_none() {
        return PluginError::InvalidComponent {
            plugin: id.to_string(),
            reason: message,
        };
    }
    PluginError::Trapped {
        plugin,
        call,
        message,
    }
}

/// The cause of a failed guest call in one line: what the guest did, not
/// the wasm backtrace wasmtime wraps around it.
fn failure_cause(error: &wasmtime::Error) -> String {
    if let Some(trap) = error.downcast_ref::<Trap>() {
        // `Trap`'s own text already reads "wasm trap: ...".
        return trap.to_string();
    }
    if error.downcast_ref::<NeverReady>().is_some() {
        return format!(
            "{NeverReady} (a sleep or a wait on input: the sandbox's clock stands still and there is nothing to wait for)"
        );
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return format!("it called wasi:cli/exit with status {}", exit.0);
    }
    if let Some(full) = error.downcast_ref::<wasmtime::component::ResourceTableError>() {
        return format!(
            "it holds too many WASI resources at once (at most {MAX_HOST_RESOURCES}): {full}"
        );
    }
    let root = error.root_cause().to_string();
    if root.contains("handle limit exceeded") {
        return format!("it created too many resource handles without dropping them ({root})");
    }
    root.lines().next().unwrap_or("unknown failure").to_owned()
}

/// Finds a Rust panic message in captured stderr:
/// `thread '...' panicked at src/lib.rs:1:2:\nMESSAGE\nnote: ...`.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at ")?;
    let rest = &stderr[start..];
    let mut lines = rest.lines();
    let location = lines
        .next()?
        .trim_start_matches("panicked at ")
        .trim_end_matches(':');
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note: ")).collect();
    let message = message.join(" ");
    Some(if message.is_empty() {
        format!("at {location}")
    } else {
        format!("{} (at {location})", message.trim())
    })
}

/// The host's own sanity check of a batch before it crosses the boundary.
fn check_batch(schema: &[bindings::ColumnType], batch: &Batch) -> Result<(), String> {
    if batch.columns.len() != schema.len() {
        return Err(format!(
            "{} columns for a schema of {}",
            batch.columns.len(),
            schema.len()
        ));
    }
    let rows = batch.rows as usize;
    for (index, (column, kind)) in batch.columns.iter().zip(schema).enumerate() {
        use bindings::ColumnType as T;
        let (len, matches) = match (&column.values, kind) {
            (ColumnValues::Boolean(v), T::Boolean) => (v.len(), true),
            (ColumnValues::Int64(v), T::Int64) => (v.len(), true),
            (ColumnValues::Float64(v), T::Float64) => (v.len(), true),
            (ColumnValues::Date(v), T::Date) => (v.len(), true),
            (ColumnValues::Timestamp(v), T::Timestamp) => (v.len(), true),
            (ColumnValues::Decimal(t), T::Decimal)
            | (ColumnValues::Text(t), T::Text)
            | (ColumnValues::Json(t), T::Json) => (t.offsets.len().saturating_sub(1), true),
            _ => (0, false),
        };
        if !matches {
            return Err(format!("column {index} does not hold {kind:?} values"));
        }
        if len != rows {
            return Err(format!("column {index} has {len} values for {rows} rows"));
        }
        if let Some(validity) = &column.validity
            && validity.len() < rows.div_ceil(8)
        {
            return Err(format!("column {index}'s validity bitmap is too short"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn panic_messages_are_found_in_stderr() {
        let stderr = "some log\nthread '<unnamed>' panicked at src/lib.rs:10:5:\nboom at batch 3\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("boom at batch 3 (at src/lib.rs:10:5)")
        );
        assert_eq!(panic_message("nothing here"), None);
    }
}
