//! `exporter plugin check PLUGIN`: the conformance kit.
//!
//! With `--install` (hidden) it is the service's install-time validation,
//! run in a child process (see `registry::isolated`): it prints one JSON
//! line per kit case and then the install report.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::{cli_runtime_config, load_plugin, resolve_plugin_path};
use exporter_kit::{self as conformance, CheckSettings};
use exporter_registry::{IsolatedLine, ValidationSettings, validate_component};
use exporter_runtime::{PluginEngine, RuntimeConfig};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// A plugin file (`.wasm`) or a built-in format name.
    plugin: String,
    /// Rows in the large streamed export.
    #[arg(long, default_value_t = 1_000_000)]
    large_rows: usize,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Repeat a run's context, batch sizes and row order: the seed its
    /// report names.
    #[arg(long)]
    seed: Option<u64>,
    /// Install-time validation for the service, as JSON lines.
    #[arg(long, hide = true)]
    install: bool,
    /// With --install: the format the installer means.
    #[arg(long, hide = true, requires = "install")]
    expected_name: Option<String>,
    /// The per-call deadline, in milliseconds (default 10,000): a plugin
    /// slower than this on one call fails the case.
    #[arg(long)]
    call_timeout_ms: Option<u64>,
    /// With --install: the kit's memory cap per instance.
    #[arg(long, hide = true, requires = "install")]
    memory_bytes: Option<usize>,
    /// With --install: the service's compile cache, so its load after a
    /// pass compiles nothing.
    #[arg(long, hide = true, requires = "install")]
    cache_dir: Option<PathBuf>,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    if args.install {
        return install(args);
    }
    let mut settings = CheckSettings {
        large_rows: args.large_rows,
        seed: args.seed,
        ..CheckSettings::default()
    };
    if let Some(millis) = args.call_timeout_ms {
        settings.limits.call_timeout = Duration::from_millis(millis);
    }
    let mut config = cli_runtime_config();
    config.limits.memory_bytes = settings.limits.memory_bytes;
    let (_engine, formatter) = load_plugin(&args.plugin, config)?;
    if !args.json {
        println!(
            "checking {} (sha256 {})",
            formatter.id(),
            formatter.digest()
        );
    }
    let report = conformance::run(&formatter, &settings, |case| {
        if !args.json {
            println!(
                "{} {:<48} {:>7} ms  {}",
                if case.passed { "PASS" } else { "FAIL" },
                case.name,
                case.millis,
                case.detail
            );
        }
    });
    let failed = report.cases.iter().filter(|c| !c.passed).count();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        // The count last and alone on its line, as test runners end.
        println!(
            "seed {} (`--seed {}` repeats this run)",
            report.seed, report.seed
        );
        println!("{} passed, {} failed", report.cases.len() - failed, failed);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The service's install-time validation: JSON lines on stdout.
fn install(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let defaults = ValidationSettings::default();
    let settings = ValidationSettings {
        check_rows: args.large_rows,
        call_timeout: args
            .call_timeout_ms
            .map_or(defaults.call_timeout, Duration::from_millis),
        memory_bytes: args.memory_bytes.unwrap_or(defaults.memory_bytes),
        ..defaults
    };
    let path = resolve_plugin_path(&args.plugin)?;
    let bytes = std::fs::read(&path)?;
    let engine = PluginEngine::new(RuntimeConfig {
        cache_dir: args.cache_dir.clone(),
        max_concurrent_exports: 4,
        ..RuntimeConfig::default()
    })?;
    let label = args.expected_name.as_deref().unwrap_or("plugin");
    let mut stdout = std::io::stdout().lock();
    let mut print = |line: &IsolatedLine| {
        // The parent reads until the report; a closed pipe means it gave up.
        let _ = serde_json::to_writer(&mut stdout, line);
        let _ = stdout.write_all(b"\n");
        let _ = stdout.flush();
    };
    let validated = validate_component(
        &engine,
        label,
        &bytes,
        args.expected_name.as_deref(),
        &settings,
        true,
        |case| print(&IsolatedLine::Case(case.clone())),
    );
    let passed = validated.report.passed;
    print(&IsolatedLine::Report(Box::new(validated.report)));
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
