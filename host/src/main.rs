//! The `exporter` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = exporter::cli::Cli::parse();
    exporter::telemetry::init(cli.default_log_filter());
    match exporter::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            // One line, the whole causal chain: "error: opening rows.ndjson: No such file".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
