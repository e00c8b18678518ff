//! The per-export sandbox: what a plugin instance can see and use.
//!
//! A plugin gets no WASI capability: no preopened directory, no environment,
//! no arguments, no network. The clocks are pinned to the export's
//! `generated-at` and random bytes are seeded from it, so an export is
//! reproducible. stdout and stderr are captured (bounded) for the log and for
//! error messages.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::error::PluginId;
use super::host::OutputMeter;
use super::runtime_config::SandboxLimits;

/// Everything the store of one plugin instance holds.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) plugin: PluginId,
    pub(crate) memory: MemoryLimiter,
    pub(crate) output: OutputMeter,
    pub(crate) stdio: CapturedOutput,
    /// Log lines left before further ones are dropped.
    pub(crate) log_budget: u32,
    /// The engine's epoch tick, to turn time limits into deadlines.
    pub(crate) epoch_tick: Duration,
}

impl HostState {
    pub(crate) fn new(
        plugin: PluginId,
        limits: &SandboxLimits,
        generated_at_micros: i64,
        output: OutputMeter,
        epoch_tick: Duration,
    ) -> Self {
        let stdio = CapturedOutput::new(limits.stderr_bytes);
        let since_epoch = Duration::from_micros(generated_at_micros.max(0) as u64);
        let seed = seed_from(&plugin, generated_at_micros);
        let wasi = WasiCtx::builder()
            .stdout(stdio.clone())
            .stderr(stdio.clone())
            .wall_clock(FixedWallClock(since_epoch))
            .monotonic_clock(FixedMonotonicClock)
            .secure_random(wasmtime_wasi::Deterministic::new(seed.to_vec()))
            .insecure_random(wasmtime_wasi::Deterministic::new(seed.to_vec()))
            .insecure_random_seed(u128::from_le_bytes(
                seed[..16].try_into().expect("16 bytes"),
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            plugin,
            memory: MemoryLimiter::new(limits.memory_bytes),
            output,
            stdio,
            log_budget: 10_000,
            epoch_tick,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Seeds "random" bytes from what identifies the export, so the same export
/// sees the same bytes.
fn seed_from(plugin: &PluginId, generated_at_micros: i64) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(plugin.to_string().as_bytes());
    hasher.update(generated_at_micros.to_le_bytes());
    hasher.finalize().into()
}

struct FixedWallClock(Duration);

impl wasmtime_wasi::HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

struct FixedMonotonicClock;

impl wasmtime_wasi::HostMonotonicClock for FixedMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Caps linear memory and remembers a refused growth, so a trap that follows
/// (Rust aborts on allocation failure) is reported as out-of-memory rather
/// than as an anonymous crash.
pub(crate) struct MemoryLimiter {
    limit: usize,
    /// The size the guest asked for when it was refused.
    pub(crate) refused: Option<usize>,
    /// The largest size granted: the instance's peak linear memory.
    pub(crate) peak: usize,
}

impl MemoryLimiter {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            refused: None,
            peak: 0,
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = Some(desired);
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a formatter needs a few hundred.
        Ok(desired <= 100_000)
    }
}

/// The guest's stdout and stderr: the last `capacity` bytes are kept, the
/// rest is counted and dropped. Writes never fail, because Rust's `eprintln!`
/// panics when stderr does, which would turn chatty logging into a crash.
#[derive(Clone)]
pub(crate) struct CapturedOutput {
    inner: Arc<Mutex<Captured>>,
}

struct Captured {
    capacity: usize,
    bytes: Vec<u8>,
    dropped: u64,
}

impl CapturedOutput {
    fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Captured {
                capacity,
                bytes: Vec::new(),
                dropped: 0,
            })),
        }
    }

    fn append(&self, data: &[u8]) {
        let mut captured = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        captured.bytes.extend_from_slice(data);
        // Keep the tail: a panic message comes last.
        if captured.bytes.len() > captured.capacity * 2 {
            let excess = captured.bytes.len() - captured.capacity;
            captured.bytes.drain(..excess);
            captured.dropped += excess as u64;
        }
    }

    /// Takes what was captured so far as text.
    pub(crate) fn take(&self) -> String {
        let mut captured = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let start = captured.bytes.len().saturating_sub(captured.capacity);
        let text = String::from_utf8_lossy(&captured.bytes[start..]).into_owned();
        captured.bytes.clear();
        text
    }
}

impl wasmtime_wasi::cli::IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl wasmtime_wasi::p2::OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.append(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
