//! The wasmtime engine shared by every plugin: compilation settings, the
//! instance pool, the epoch ticker that enforces timeouts, and the linker
//! that wires the sandbox's imports.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use exporter_wit::FormatInfo;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use super::bindings::{self, PluginPre};
use super::cache::{ArtifactCache, component_digest};
use super::error::{Call, PluginError, PluginId};
use super::formatter::{Formatter, call_guest};
use super::host::OutputMeter;
use super::info;
use super::runtime_config::RuntimeConfig;
use super::sandbox::HostState;

/// The interface a formatter exports, before its `@version`.
const FORMATTER_INTERFACE: &str = "exporter:formatter/formatter@";

/// The contract this host's bindings are generated from (`wit/formatter.wit`).
pub const CONTRACT: &str = "exporter:formatter/formatter@1.1.0";

/// Whether a plugin exporting `contract` runs on this host: any 1.x up to
/// ours. A minor version only adds to the contract, and wasmtime's linker
/// serves a plugin built against 1.0 the 1.0 subset of `sink`; a plugin
/// built against a later minor may call what this host does not have.
pub fn contract_supported(contract: &str) -> Result<(), String> {
    let ours = minor_of(CONTRACT).expect("our contract is 1.x");
    match contract
        .strip_prefix(FORMATTER_INTERFACE)
        .map(|_| minor_of(contract))
    {
        Some(Some(minor)) if minor <= ours => Ok(()),
        Some(Some(_)) => Err(format!(
            "it is built against {contract}, newer than this host's {CONTRACT}: upgrade Exporter"
        )),
        _ => Err(format!(
            "it exports {contract}; this host runs 1.x contracts up to {CONTRACT}"
        )),
    }
}

/// The minor version of a `…@1.MINOR.PATCH` contract name.
fn minor_of(contract: &str) -> Option<u64> {
    let version = contract.rsplit_once('@')?.1;
    let mut parts = version.split('.');
    let (major, minor, patch) = (parts.next()?, parts.next()?, parts.next()?);
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    (major == "1" && numeric(minor) && numeric(patch) && parts.next().is_none())
        .then(|| minor.parse().ok())
        .flatten()
}

/// Runs formatter plugins. Cheap to clone; one per process is enough.
#[derive(Clone)]
pub struct PluginEngine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    engine: Engine,
    linker: Linker<HostState>,
    cache: ArtifactCache,
    config: RuntimeConfig,
}

impl PluginEngine {
    /// Builds the engine and starts its epoch ticker.
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let mut wasm = Config::new();
        wasm.wasm_component_model(true);
        wasm.epoch_interruption(true);
        wasm.cranelift_opt_level(wasmtime::OptLevel::Speed);
        if config.pooling {
            let slots = config.max_concurrent_exports.max(1);
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(slots)
                // A Rust component is a handful of core instances (the
                // module plus wit-component's shims); other languages more.
                .total_core_instances(slots * 16)
                .total_memories(slots * 2)
                .total_tables(slots * 16)
                .max_memory_size(config.limits.memory_bytes);
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&wasm)
            .map_err(anyhow::Error::from)
            .context("creating the wasmtime engine")?;

        let mut linker = Linker::new(&engine);
        // All of WASI p2 is linked so that components built for wasm32-wasip2
        // instantiate, but the context grants nothing (see `sandbox`).
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI")?;
        // ... except the parts that wait, which would put a guest beyond
        // its deadlines (see `wasi_io`).
        super::wasi_io::shadow_blocking_interfaces(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking the sandbox's clock and poll")?;
        bindings::Plugin::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(anyhow::Error::from)
            .context("linking the sink interface")?;

        spawn_epoch_ticker(&engine, config.epoch_tick);
        let cache = ArtifactCache::new(&engine, config.cache_dir.clone());
        Ok(Self {
            inner: Arc::new(EngineInner {
                engine,
                linker,
                cache,
                config,
            }),
        })
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Loads a plugin from its component bytes: compiles it (or loads the
    /// cached artifact), checks that it implements our world, and asks it
    /// for its `info()`.
    pub fn load(&self, label: &str, bytes: &[u8]) -> Result<Formatter, PluginError> {
        let invalid = |reason: String| PluginError::InvalidComponent {
            plugin: label.to_owned(),
            reason,
        };
        if !bytes.starts_with(b"\0asm") {
            return Err(invalid("not a WebAssembly binary".into()));
        }
        // Component binaries have layer 1 in bytes 6..8; core modules 0.
        if bytes.get(6..8) != Some(&[1, 0]) {
            return Err(invalid(
                "a core WebAssembly module, not a component (build for wasm32-wasip2 or run `wasm-tools component new`)".into(),
            ));
        }
        super::shape::check(bytes).map_err(invalid)?;
        let digest = component_digest(bytes);
        let component = self
            .inner
            .cache
            .get_or_compile(&self.inner.engine, &digest, bytes)
            .map_err(|e| invalid(format!("{e:#}")))?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| invalid(format!("{e:#}")))?;
        let pre = PluginPre::new(pre).map_err(|e| {
            invalid(format!(
                "it does not export exporter:formatter/formatter@1.x as expected: {e:#}"
            ))
        })?;
        let contract = component
            .component_type()
            .exports(&self.inner.engine)
            .map(|(name, _)| name)
            .find(|name| name.starts_with(FORMATTER_INTERFACE))
            .unwrap_or(FORMATTER_INTERFACE)
            .to_owned();
        let info = self.describe(label, &pre)?;
        Ok(Formatter::new(self.clone(), pre, info, digest, contract))
    }

    /// Calls `info()` in a throwaway instance under the default limits.
    pub(crate) fn describe(
        &self,
        label: &str,
        pre: &PluginPre<HostState>,
    ) -> Result<FormatInfo, PluginError> {
        let id = PluginId {
            name: label.to_owned(),
            version: "unknown".to_owned(),
        };
        let limits = &self.inner.config.limits;
        // `info()` has no export to write to: the sink is closed from the start.
        let mut sink = OutputMeter::new(Box::new(|_: Vec<u8>| Ok(())), 0, 0);
        sink.close();
        let mut store = self.new_store(HostState::new(
            id.clone(),
            limits,
            0,
            sink,
            self.epoch_tick(),
        ));
        let started = Instant::now();
        let plugin = call_guest(
            &mut store,
            &id,
            Call::Instantiate,
            limits,
            started.elapsed(),
            |store| pre.instantiate(store).map(Ok),
        )?;
        let info = call_guest(
            &mut store,
            &id,
            Call::Info,
            limits,
            started.elapsed(),
            |store| {
                plugin
                    .exporter_formatter_formatter()
                    .call_info(store)
                    .map(Ok)
            },
        )?;
        info::from_guest(info).map_err(|reason| PluginError::InvalidInfo {
            plugin: label.to_owned(),
            reason,
        })
    }

    pub(crate) fn new_store(&self, state: HostState) -> Store<HostState> {
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|state| &mut state.memory);
        store
    }

    pub(crate) fn epoch_tick(&self) -> std::time::Duration {
        self.inner.config.epoch_tick
    }
}

/// Advances the engine's epoch every `tick`; a guest call's deadline is a
/// number of ticks. The thread ends when the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine, tick: std::time::Duration) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("plugin-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .expect("spawning the epoch ticker thread");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::component_with_memories;
    use crate::{RuntimeConfig, SandboxLimits};

    #[test]
    fn every_1x_contract_up_to_ours_runs_and_no_other() {
        for ok in [
            "exporter:formatter/formatter@1.0.0",
            "exporter:formatter/formatter@1.1.0",
            "exporter:formatter/formatter@1.1.7",
        ] {
            assert_eq!(contract_supported(ok), Ok(()), "{ok}");
        }
        let newer = contract_supported("exporter:formatter/formatter@1.2.0").unwrap_err();
        assert!(newer.contains("upgrade Exporter"), "{newer}");
        for refused in [
            "exporter:formatter/formatter@2.0.0",
            "exporter:formatter/formatter@1.0",
            "exporter:formatter/formatter@1.0.0-rc1",
            "exporter:other/formatter@1.0.0",
        ] {
            assert!(contract_supported(refused).is_err(), "{refused}");
        }
    }

    fn engine(memory_bytes: usize) -> PluginEngine {
        PluginEngine::new(RuntimeConfig {
            max_concurrent_exports: 2,
            pooling: false,
            limits: SandboxLimits {
                memory_bytes,
                ..SandboxLimits::default()
            },
            ..RuntimeConfig::default()
        })
        .unwrap()
    }

    fn new_store(engine: &PluginEngine) -> Store<HostState> {
        let id = PluginId {
            name: "many-memories".into(),
            version: "0".into(),
        };
        let sink = OutputMeter::new(Box::new(|_: Vec<u8>| Ok(())), 0, 0);
        engine.new_store(HostState::new(
            id,
            &engine.config().limits,
            0,
            sink,
            engine.epoch_tick(),
        ))
    }

    /// Escape 2: each memory was capped on its own, so N memories took N
    /// times the budget. Three memories of 48 MiB pass a per-memory cap of
    /// 128 MiB; together they pass the budget.
    #[test]
    fn every_memory_of_an_instance_counts_against_one_budget() {
        let engine = engine(128 << 20);
        let component = wasmtime::component::Component::new(
            &engine.inner.engine,
            component_with_memories(3, 48 * 16),
        )
        .unwrap();
        let mut store = new_store(&engine);
        let result = engine.inner.linker.instantiate(&mut store, &component);
        assert!(result.is_err(), "144 MiB of memories instantiated");
        assert_eq!(store.data().memory.refused, Some(3 * (48 << 20)));
        assert!(store.data().memory.peak <= 128 << 20);

        // Within the budget the same shape instantiates, and the peak is
        // the sum.
        let component = wasmtime::component::Component::new(
            &engine.inner.engine,
            component_with_memories(3, 16 * 16),
        )
        .unwrap();
        let mut store = new_store(&engine);
        engine
            .inner
            .linker
            .instantiate(&mut store, &component)
            .unwrap();
        assert_eq!(store.data().memory.peak, 3 * (16 << 20));
    }

    /// Escape 2: a component that declares more memories than any toolchain
    /// needs is refused before it is compiled.
    #[test]
    fn a_component_with_many_memories_is_refused_at_load() {
        let engine = engine(128 << 20);
        match engine.load("many-memories", &component_with_memories(7, 1)) {
            Err(PluginError::InvalidComponent { reason, .. }) => assert_eq!(
                reason,
                "it declares 7 linear memories; a plugin may have at most 4"
            ),
            Err(other) => panic!("expected an invalid component, got {other}"),
            Ok(_) => panic!("seven memories must be refused"),
        }
    }
}
