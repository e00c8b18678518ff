//! The one test-support library, for the in-process tests (`tests/tests`)
//! and the real-process tests (`host/tests`): where the built plugins and
//! the `exporter` binary are, an engine to run them, exports into memory,
//! the independent Python reader, scratch databases ([`databases`]), the
//! service in-process ([`service`]) and as real processes ([`process`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use exporter::batch::{BatchBuilder, Value};
pub use exporter::plugins::MemorySink;
use exporter::plugins::{
    Column, ExportContext, Formatter, PluginEngine, PluginError, RunStats, RuntimeConfig,
    SandboxLimits,
};

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

fn artifact(dir: &str, name: &str) -> PathBuf {
    let path = target_dir().join(dir).join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the plugins first with `cargo xtask plugins`",
        path.display()
    );
    path
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// The `exporter` binary of this build profile. Cargo builds it fresh for
/// the host's own integration tests, so a workspace run (`cargo nextest run
/// --workspace`, as `scripts/test.sh` runs) always has an up-to-date one.
/// Running this crate alone reuses whatever binary is there, which may be
/// older than the host's sources; it is built only when missing, because
/// building it from here resolves other features and rebuilds half the
/// tree.
pub fn exporter_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            // A binary set aside (several checkouts may share one target
            // directory, each rebuilding target/<profile>/exporter).
            if let Some(binary) = std::env::var_os("TEST_EXPORTER_BINARY") {
                return PathBuf::from(binary);
            }
            // Test binaries run as target/<profile>/deps/<name>-<hash>.
            let exe = std::env::current_exe().expect("the test knows its path");
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("test binaries live in target/<profile>/deps");
            let binary = profile_dir.join("exporter");
            if binary.exists() {
                return binary;
            }
            let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") | None => "dev",
                Some(other) => other,
            };
            let output = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--quiet",
                    "--workspace",
                    "--bins",
                    "--profile",
                    profile,
                ])
                .current_dir(repo_root())
                .output()
                .expect("cargo runs");
            assert_success("cargo build --bins", &output);
            assert!(binary.exists(), "{} was not built", binary.display());
            binary
        })
        .clone()
}

/// Runs `exporter plugin check WASM` with a 20,000-row large case through
/// `exporter` (a configured `exporter_binary()` command) and fails with the
/// report unless every case passed.
pub fn assert_plugin_check_passes(mut exporter: Command, wasm: &Path) {
    let output = exporter
        .args(["plugin", "check"])
        .arg(wasm)
        .args(["--large-rows", "20000"])
        .output()
        .expect("exporter runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && !stdout.contains("FAIL"),
        "the conformance kit failed for {}:\n{stdout}\n{}",
        wasm.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts a command succeeded, showing its output if not.
pub fn assert_success(what: &str, output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A built-in format plugin, e.g. `plugin_path("csv")`.
pub fn plugin_path(name: &str) -> PathBuf {
    artifact("plugins", name)
}

/// A test guest, e.g. `test_plugin_path("hostile")`.
pub fn test_plugin_path(name: &str) -> PathBuf {
    artifact("test-plugins", name)
}

/// One engine per test binary, as in the service: plugins share it, and a
/// failure in one export must not disturb the next.
pub fn engine() -> &'static PluginEngine {
    static ENGINE: OnceLock<PluginEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        init_tracing();
        PluginEngine::new(RuntimeConfig {
            cache_dir: Some(target_dir().join("plugin-cache")),
            ..RuntimeConfig::default()
        })
        .expect("engine")
    })
}

/// Loads a built-in plugin into the shared engine.
pub fn load(name: &str) -> Formatter {
    let bytes = std::fs::read(plugin_path(name)).expect("read plugin");
    engine().load(name, &bytes).expect("load plugin")
}

/// Loads a test guest into the shared engine.
pub fn load_test_plugin(name: &str) -> Result<Formatter, PluginError> {
    let bytes = std::fs::read(test_plugin_path(name)).expect("read test plugin");
    engine().load(name, &bytes)
}

/// Tracing is off unless TEST_LOG is set.
pub fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_test_writer()
            .try_init();
    }
}

/// A fixed export context so outputs are comparable.
pub fn context() -> ExportContext {
    ExportContext {
        title: "Test export".into(),
        generated_at: 1_767_225_600_000_000, // 2026-01-01T00:00:00Z
        properties: vec![("dataType".into(), "test".into())],
    }
}

/// Exports `rows` through `formatter` into memory.
pub fn export(
    formatter: &Formatter,
    columns: &[Column],
    options: &[(&str, &str)],
    rows: &[Vec<Value>],
    limits: Option<SandboxLimits>,
) -> Result<(Vec<u8>, RunStats), PluginError> {
    let options: Vec<(String, String)> = options
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sink = MemorySink::default();
    let limits = limits.unwrap_or_else(|| engine().config().limits.clone());
    let mut run = formatter.start_with_limits(
        columns,
        &options,
        &context(),
        Box::new(sink.clone()),
        limits,
    )?;
    let mut builder = BatchBuilder::new(columns, 1000);
    for row in rows {
        builder.push_row(row).expect("rows match the schema");
        if builder.is_full() {
            run.write_batch(&builder.take())?;
        }
    }
    if !builder.is_empty() {
        run.write_batch(&builder.take())?;
    }
    let stats = run.finish()?;
    Ok((sink.take(), stats))
}

/// Reads `bytes` back with Python's csv/json modules (see
/// `python/read_back.py`) and returns what Python parsed.
pub fn python_read(format: &str, bytes: &[u8], options: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(format!("export.{format}"));
    std::fs::write(&file, bytes).expect("write export");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/read_back.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(format)
        .arg(&file)
        .args(options)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "Python could not read the {format} file: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("reader prints JSON")
}

/// Every fixture the conformance kit uses, concatenated, then 3,000
/// generated rows.
pub fn awkward_rows() -> Vec<Vec<Value>> {
    use exporter::conformance::fixtures;
    let mut rows = fixtures::one_row();
    rows.extend(fixtures::nulls());
    rows.extend(fixtures::unicode());
    rows.extend(fixtures::awkward_text());
    rows.extend(fixtures::extreme_numbers());
    rows.extend(fixtures::generated(3_000));
    rows
}

/// Runs the conformance kit on the built-in plugin `name`, printing each
/// case; fails listing the cases that did not pass.
pub fn assert_conformant(name: &str) {
    use exporter::conformance::{self, CheckSettings};
    let report = conformance::run(&load(name), &CheckSettings::default(), |case| {
        println!(
            "{} {} ({} ms): {}",
            if case.passed { "ok  " } else { "FAIL" },
            case.name,
            case.millis,
            case.detail
        );
    });
    let failed: Vec<String> = report
        .cases
        .iter()
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    assert!(
        report.passed(),
        "{name} failed cases:\n{}",
        failed.join("\n")
    );
}

pub mod process;
pub mod service;

/// A database of each engine for a test, created fresh and dropped after.
pub mod databases {
    use exporter::db::Database;

    /// The PostgreSQL server this machine kind runs (override with
    /// `EXPORTER_TEST_POSTGRES`): the admin connection used to create and
    /// drop per-test databases.
    fn postgres_admin_url() -> String {
        std::env::var("EXPORTER_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    /// An empty PostgreSQL database on the test server, dropped (with any
    /// connection still open to it) when this is dropped.
    pub struct ScratchPostgres {
        pub name: String,
        pub url: String,
    }

    impl ScratchPostgres {
        pub async fn create() -> Self {
            use sqlx::Executor as _;
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let name = format!(
                "exporter_test_{}_{}_{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let admin = sqlx::PgPool::connect(&postgres_admin_url())
                .await
                .expect("PostgreSQL is running (scripts/test.sh starts it)");
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .unwrap();
            admin.close().await;
            let base = postgres_admin_url();
            let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
            ScratchPostgres { name, url }
        }
    }

    impl Drop for ScratchPostgres {
        fn drop(&mut self) {
            // From a fresh runtime on another thread: Drop may run inside a
            // runtime that cannot block. FORCE closes connections a pool of
            // the test's runtime may still hold.
            let name = self.name.clone();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    use sqlx::Executor as _;
                    if let Ok(admin) = sqlx::PgPool::connect(&postgres_admin_url()).await {
                        let _ = admin
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .await;
                        admin.close().await;
                    }
                });
            })
            .join();
        }
    }

    /// A scratch database; dropped (PostgreSQL) or deleted (SQLite) on drop.
    pub struct TestDatabase {
        pub db: Database,
        pub url: String,
        cleanup: Cleanup,
    }

    enum Cleanup {
        /// Held only so the directory (or database) goes when this does.
        Sqlite(#[allow(dead_code)] tempfile::TempDir),
        Postgres(#[allow(dead_code)] ScratchPostgres),
    }

    impl TestDatabase {
        pub async fn sqlite() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/test.db", dir.path().display());
            let db = Database::connect(&url).await.unwrap();
            db.migrate().await.unwrap();
            TestDatabase {
                db,
                url,
                cleanup: Cleanup::Sqlite(dir),
            }
        }

        pub async fn postgres() -> Self {
            let scratch = ScratchPostgres::create().await;
            let url = scratch.url.clone();
            let db = Database::connect(&url).await.unwrap();
            db.migrate().await.unwrap();
            TestDatabase {
                db,
                url,
                cleanup: Cleanup::Postgres(scratch),
            }
        }
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            if let Cleanup::Postgres(_) = &self.cleanup {
                // Closed from a fresh runtime on another thread (Drop may run
                // inside a runtime that cannot block); the scratch database
                // is dropped after, with the field.
                let db = self.db.clone();
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(db.close());
                })
                .join();
            }
        }
    }
}

/// A process's memory high-water mark (`VmHWM` in `/proc/<pid>/status`),
/// in bytes; `None` once it has gone.
pub fn peak_rss(pid: u32) -> Option<u64> {
    proc_status_bytes(pid, "VmHWM:")
}

/// A process's resident memory now (`VmRSS`), in bytes.
pub fn resident(pid: u32) -> Option<u64> {
    proc_status_bytes(pid, "VmRSS:")
}

fn proc_status_bytes(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `command` to the end, watching its memory; returns its output, its
/// peak resident memory in bytes and how long it ran.
pub fn run_measured(command: &mut Command) -> (std::process::Output, u64, std::time::Duration) {
    use std::io::Read as _;
    use std::process::Stdio;
    let started = std::time::Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let mut peak = 0;
    let status = loop {
        if let Some(hwm) = peak_rss(pid) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (output, peak, started.elapsed())
}

/// Samples a process's resident memory every 10 ms on a thread until
/// stopped; [`RssSampler::stop`] returns the highest sample, in bytes.
/// Unlike `VmHWM` it covers only the window sampled.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(resident(pid).unwrap_or(0));
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            peak
        });
        Self { stop, thread }
    }

    pub fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// One text column, `name`: the schema the sandbox tests feed hostile guests.
pub fn text_schema() -> Vec<Column> {
    vec![Column {
        name: "name".into(),
        kind: exporter::plugins::ColumnType::Text,
    }]
}

/// `n` rows for [`text_schema`]: `row 0`, `row 1`, ...
pub fn text_rows(n: usize) -> Vec<Vec<Value>> {
    (0..n)
        .map(|i| vec![Value::Text(format!("row {i}"))])
        .collect()
}
