//! The plugin registry's targets, measured:
//!
//! 1. install-time validation of the CSV plugin (compile with a cold
//!    artifact cache, world and contract checks, the conformance kit with
//!    its default 1,000,000-row large export): target under 10 s;
//! 2. how long an activation made through one registry takes to reach
//!    another (a second worker on the same database), over many swaps:
//!    target under 1 s;
//! 3. exports running back to back through the second registry while the
//!    first swaps versions every 100 ms: target zero failures, and every
//!    export's output matches the version it started with.
//!
//! Run: `cargo xtask plugins && cargo bench -p exporter --bench registry`.
//! `BENCH_SWAPS` (default 20) sets the number of activations timed.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use exporter::blob::BlobStore;
use exporter::db::Database;
use exporter::formats::FormatRegistry;
use exporter::metrics::Metrics;
use exporter::plugins::{MemorySink, PluginEngine, RuntimeConfig};
use exporter::registry::{Installer, PluginRegistry, RegistrySettings, Selector, run_sync};
use tokio_util::sync::CancellationToken;

fn target_dir() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => dir.into(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

fn registry(db: &Database, blobs: &BlobStore, cache: &Path) -> PluginRegistry {
    let engine = PluginEngine::new(RuntimeConfig {
        cache_dir: Some(cache.to_path_buf()),
        ..RuntimeConfig::default()
    })
    .expect("engine");
    PluginRegistry::new(
        db.clone(),
        blobs.clone(),
        engine,
        FormatRegistry::default(),
        Metrics::new(),
        RegistrySettings {
            check_builtins: false,
            // Validation re-executes the service binary, not this bench.
            validation: exporter::registry::ValidationSettings {
                validator: Some(env!("CARGO_BIN_EXE_exporter").into()),
                ..Default::default()
            },
            ..RegistrySettings::default()
        },
    )
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let swaps = common::env_usize("BENCH_SWAPS", 20);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::connect(&format!("sqlite://{}/bench.db", dir.path().display()))
        .await
        .expect("database");
    db.migrate().await.expect("migrations");
    let blobs =
        BlobStore::open(&format!("file://{}", dir.path().join("blobs").display())).expect("blobs");
    // Separate artifact caches: the second worker compiles for itself, as a
    // worker on another machine would.
    let a = registry(&db, &blobs, &dir.path().join("cache-a"));
    let b = registry(&db, &blobs, &dir.path().join("cache-b"));
    let installer = Installer {
        source: "api",
        by: "bench".into(),
    };

    // 1. Install-time validation of the CSV plugin.
    let csv = Bytes::from(std::fs::read(target_dir().join("plugins/csv.wasm")).expect("csv.wasm"));
    let started = Instant::now();
    let installed = a
        .install(csv, Some("csv"), &installer, true, None)
        .await
        .expect("csv installs");
    let install = started.elapsed();
    let kit_ms: u64 = installed.report.conformance.iter().map(|c| c.millis).sum();
    println!(
        "install-time validation of csv {}: {:.2} s (conformance kit {:.2} s, {} cases), target < 10 s",
        installed.version.version,
        install.as_secs_f64(),
        kit_ms as f64 / 1000.0,
        installed.report.conformance.len()
    );

    // Two versions of one format to swap between.
    let stamp = |name: &str| {
        Bytes::from(
            std::fs::read(target_dir().join(format!("test-plugins/{name}.wasm")))
                .expect("stamp test plugins"),
        )
    };
    a.install(stamp("stamp"), Some("stamp"), &installer, true, None)
        .await
        .expect("stamp 1");
    a.install(stamp("stamp-v2"), Some("stamp"), &installer, false, None)
        .await
        .expect("stamp 2");
    b.refresh().await.expect("b loads");
    let stop = CancellationToken::new();
    let sync_b = tokio::spawn(run_sync(b.clone(), stop.clone()));

    // 3 runs alongside 2: exports through b, back to back, on blocking
    // threads, for as long as the swaps go on.
    let swapping = Arc::new(AtomicBool::new(true));
    let (exports, failures, mismatches) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let rows = Arc::new(common::source(20_000));
    let load = (0..2)
        .map(|_| {
            let (b, swapping, rows) = (b.clone(), swapping.clone(), rows.clone());
            let (exports, failures, mismatches) =
                (exports.clone(), failures.clone(), mismatches.clone());
            tokio::task::spawn_blocking(move || {
                while swapping.load(Ordering::Relaxed) {
                    let formatter = b.formats().get("stamp").expect("stamp active");
                    let sink = MemorySink::default();
                    let outcome =
                        common::through_plugin_into(&formatter, &rows, Box::new(sink.clone()));
                    exports.fetch_add(1, Ordering::Relaxed);
                    match outcome {
                        Ok(_) => {
                            let bytes = sink.take();
                            let expected = format!("stamp {}\n", formatter.info().version);
                            if !bytes.starts_with(expected.as_bytes()) {
                                mismatches.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(e) => {
                            eprintln!("export failed: {e}");
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect::<Vec<_>>();

    // 2. Activation through a, visible in b.
    let mut latencies = Vec::new();
    for i in 0..swaps {
        let version = if i % 2 == 0 { "2.0.0" } else { "1.0.0" };
        let selector = Selector {
            version: version.into(),
            sha256: None,
        };
        a.activate("stamp", &selector, None, "bench")
            .await
            .expect("activate");
        let started = Instant::now();
        while b.formats().get("stamp").expect("stamp").info().version != version {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "b never switched"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    swapping.store(false, Ordering::Relaxed);
    for task in load {
        task.await.expect("load thread");
    }
    stop.cancel();
    let _ = sync_b.await;
    latencies.sort();
    let max = *latencies.last().expect("swaps");
    println!(
        "activation visible to the other worker: median {:.0} ms, max {:.0} ms over {swaps} swaps (poll interval {} ms), target < 1 s",
        common::median(latencies).as_secs_f64() * 1000.0,
        max.as_secs_f64() * 1000.0,
        RegistrySettings::default().poll_interval.as_millis()
    );
    println!(
        "exports during the swaps: {} run, {} failed, {} with another version's output (target 0 and 0)",
        exports.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        mismatches.load(Ordering::Relaxed)
    );
}
