//! The `exporter` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = exporter::cli::Cli::parse();
    exporter::telemetry::init(cli.default_log_filter());
    match exporter::cli::run(cli) {
        Ok(code) => code,
        // `exporter dataset list | head`: the reader left; that is not a failure.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, the whole causal chain: "error: opening rows.ndjson: No such file".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
