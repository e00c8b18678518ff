//! `exporter plugin info PLUGIN`: what a plugin says about itself, as JSON.

use std::process::ExitCode;

use super::{cli_runtime_config, load_plugin};

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// A plugin file (`.wasm`) or a built-in format name.
    plugin: String,
}

pub fn run(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let (_engine, formatter) = load_plugin(&args.plugin, cli_runtime_config())?;
    let mut info = serde_json::to_value(formatter.info())?;
    info["sha256"] = formatter.digest().into();
    println!("{}", serde_json::to_string_pretty(&info)?);
    Ok(ExitCode::SUCCESS)
}
