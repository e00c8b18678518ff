//! `exporter plugin check PLUGIN`: the conformance kit.

use std::process::ExitCode;

use super::{cli_runtime_config, load_plugin};
use crate::conformance::{self, CheckSettings};

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
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let settings = CheckSettings {
        large_rows: args.large_rows,
        ..CheckSettings::default()
    };
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
        println!("{} passed, {} failed", report.cases.len() - failed, failed);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
