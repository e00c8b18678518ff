//! The `exporter` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = exporter::cli::Cli::parse();
    if cli.quiet_on_sigpipe() {
        restore_default_sigpipe();
    }
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

/// Rust ignores SIGPIPE, so `exporter plugin check x | head` would panic on
/// the first write after `head` exits. Restoring the default makes every
/// command end quietly when its reader leaves, like other Unix tools.
/// Only for commands that write to no socket (`Cli::quiet_on_sigpipe`
/// says why); the others end quietly on a closed stdout by themselves.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists;
    // setting a signal's disposition to its default has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
