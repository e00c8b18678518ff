//! The per-export sandbox: what a plugin instance can see and use.
//!
//! A plugin gets no WASI capability: no preopened directory, no environment,
//! no arguments, no network. The clocks are pinned to the export's
//! `generated-at`, never-ready waits are refused (see `wasi_io`) and random
//! bytes come from a ChaCha20 generator seeded per export, so an export is
//! reproducible. stdout and stderr are captured (bounded) for the log and for
//! error messages. Every memory and table of the instance counts against one
//! budget.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::error::PluginId;
use super::host::OutputMeter;
use super::runtime_config::SandboxLimits;
use super::warnings::Warnings;

/// Host-side resources (pollables, streams, errors) one instance may hold at
/// once. A formatter needs a handful; each costs host memory the linear
/// memory budget does not see, so a guest looping on `subscribe` stops here.
pub(crate) const MAX_HOST_RESOURCES: usize = 1024;

/// Everything the store of one plugin instance holds.
pub(crate) struct HostState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) plugin: PluginId,
    pub(crate) memory: MemoryLimiter,
    pub(crate) output: OutputMeter,
    pub(crate) stdio: CapturedOutput,
    /// Log lines left before further ones are dropped.
    pub(crate) log_budget: u32,
    /// Log bytes left before further lines are dropped.
    pub(crate) log_bytes_budget: usize,
    /// What the plugin reported changing in the data (contract 1.1.0).
    pub(crate) warnings: Warnings,
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
            .secure_random(seeded_rng(&seed, RandomStream::Secure))
            .insecure_random(seeded_rng(&seed, RandomStream::Insecure))
            .insecure_random_seed(u128::from_le_bytes(
                seed[..16].try_into().expect("16 bytes"),
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HOST_RESOURCES);
        Self {
            wasi,
            table,
            plugin,
            memory: MemoryLimiter::new(limits.memory_bytes),
            output,
            stdio,
            log_budget: limits.max_log_lines,
            log_bytes_budget: limits.max_log_bytes,
            warnings: Warnings::default(),
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

/// The two WASI random sources get separate ChaCha20 streams of the same
/// seed: the same export sees the same bytes, and the two sources never
/// return the same ones.
#[derive(Clone, Copy)]
enum RandomStream {
    Secure = 1,
    Insecure = 2,
}

fn seeded_rng(seed: &[u8; 32], stream: RandomStream) -> chacha20::ChaCha20Rng {
    use chacha20::rand_core::SeedableRng;
    let mut rng = chacha20::ChaCha20Rng::from_seed(*seed);
    rng.set_stream(stream as u64);
    rng
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

/// One budget for every linear memory and table of the instance: a
/// component may hold many core modules, each with its own memory, and a cap
/// per memory would multiply. Remembers a refused growth, so a trap that
/// follows (Rust aborts on allocation failure) is reported as out-of-memory
/// rather than as an anonymous crash.
pub(crate) struct MemoryLimiter {
    limit: usize,
    /// Bytes of all memories and tables now granted.
    total: usize,
    /// Table elements of all tables now granted.
    table_elements: usize,
    /// The total the guest asked for when it was refused.
    pub(crate) refused: Option<usize>,
    /// The largest total granted: the instance's peak memory.
    pub(crate) peak: usize,
}

/// Table elements an instance may hold in all its tables together: a
/// formatter's function tables hold a few thousand; each element is host
/// memory (a pointer and more), charged to the budget below.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// What one table element is charged against the memory budget.
const TABLE_ELEMENT_BYTES: usize = 16;

impl MemoryLimiter {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            total: 0,
            table_elements: 0,
            refused: None,
            peak: 0,
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let wanted = self.total - current.min(self.total) + desired;
        if wanted > self.limit {
            self.refused = Some(wanted);
            return false;
        }
        self.total = wanted;
        self.peak = self.peak.max(wanted);
        true
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grow(current, desired))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let elements = self.table_elements - current.min(self.table_elements) + desired;
        if elements > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        let granted = self.grow(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        );
        if granted {
            self.table_elements = elements;
        }
        Ok(granted)
    }

    // A component's memories and tables are created by instantiating its
    // core modules; the count per component is checked at load (`shape`),
    // these bound what the store may hold whatever got through.
    fn instances(&self) -> usize {
        super::shape::MAX_CORE_INSTANCES
    }

    fn memories(&self) -> usize {
        super::shape::MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        super::shape::MAX_TABLES
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
