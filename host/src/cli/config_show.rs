//! `exporter config show`: the effective configuration as TOML, each value
//! with where it came from (default, the file, an environment variable);
//! secrets hidden. Loading it also checks it, as `serve` would.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Effective;

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// A TOML configuration file (also EXPORTER_CONFIG).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let effective = Effective::load(args.config.as_deref())?;
    print!("{}", effective.to_toml()?);
    Ok(ExitCode::SUCCESS)
}
