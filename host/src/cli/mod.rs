//! The `exporter` command line, one file per command.

mod client;
mod config_show;
mod data;
mod dataset;
mod datasets;
mod export;
mod formats;
mod jobs;
mod out;
mod plugin_check;
mod plugin_info;
mod plugin_new;
mod plugin_registry;
mod plugin_run;
mod serve;
mod state;
mod token;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use exporter_runtime::{Formatter, PluginEngine, RuntimeConfig, default_plugins_dir};

/// Exporter: asynchronous data exports whose formats are sandboxed
/// WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "exporter", version, about, propagate_version = true)]
pub struct Cli {
    /// The service's data directory (its SQLite database, token secret,
    /// local files); default: `data_dir` of the configuration file,
    /// EXPORTER_DATA_DIR, or ./data.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: REST API and an export worker.
    Serve(serve::ServeArgs),
    /// Run the REST API only (scale-out: point every process at one
    /// PostgreSQL database and one object store).
    Api(serve::ServeArgs),
    /// Run an export worker only; it serves /healthz, /readyz and /metrics.
    Worker(serve::ServeArgs),
    /// Print a bearer token for an existing user.
    Token(token::TokenArgs),
    /// Export through a running service: create a job, follow it, download
    /// and verify the file.
    Export(export::ExportArgs),
    /// The export jobs of a running service: list, show, download, cancel.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// The formats a running service offers, with their options.
    Formats(formats::FormatsArgs),
    /// The datasets a running service lets you export, with their columns.
    Datasets(datasets::DatasetsArgs),
    /// Work with formatter plugins: try one on rows, certify it, manage the
    /// registry.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Apply the database migrations.
    Migrate(data::MigrateArgs),
    /// Seed the deterministic demo organizations, users and activity.
    DemoData(data::DemoDataArgs),
    /// The dataset catalog in the service's database: list, show, apply a
    /// catalog file, remove, check; export one to a file.
    #[command(subcommand)]
    Dataset(dataset::DatasetCommand),
    /// The service's configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration as TOML, each value with where it
    /// came from; secrets hidden.
    Show(config_show::ShowArgs),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Feed rows from a file through a plugin exactly as an export would.
    Run(plugin_run::RunArgs),
    /// Run the conformance kit against a plugin.
    Check(plugin_check::CheckArgs),
    /// Print a plugin's self-description (name, version, media type, options).
    Info(plugin_info::InfoArgs),
    /// Write a new plugin crate from a template: a working format with its tests.
    New(plugin_new::NewArgs),
    /// Install a component into the service's registry: validate it (world,
    /// precompile, conformance kit) and activate it.
    Install(plugin_registry::InstallArgs),
    /// List the registry's versions: status, where each is active.
    List(plugin_registry::ListArgs),
    /// Activate a version for everyone or one organization (also rollback).
    Activate(plugin_registry::ActivateArgs),
    /// Delete an inactive version.
    Delete(plugin_registry::DeleteArgs),
    /// End an organization's canary.
    EndCanary(plugin_registry::EndCanaryArgs),
}

impl Cli {
    /// Quiet by default: commands print their own results.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            // A service reports what it does.
            Command::Serve(_) | Command::Api(_) | Command::Worker(_) => {
                "info,sqlx=warn,apalis=warn,tower_http=warn"
            }
            _ => "warn",
        }
    }

    /// Whether the command may end quietly on SIGPIPE: only those that
    /// write to no socket. Rust ignores SIGPIPE so a write to a closed
    /// socket fails with an error; rustls writes its TLS alerts with
    /// `writev`, which (unlike `send` with MSG_NOSIGNAL) raises SIGPIPE,
    /// so a client speaking TLS to a plain-HTTP server, or a server whose
    /// client left, would be killed without a word (exit 141).
    pub fn quiet_on_sigpipe(&self) -> bool {
        match &self.command {
            Command::Plugin(command) => matches!(
                command,
                PluginCommand::Run(_)
                    | PluginCommand::Check(_)
                    | PluginCommand::Info(_)
                    | PluginCommand::New(_)
            ),
            Command::Config(_) => true,
            _ => false,
        }
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let data_dir = cli.data_dir.as_deref();
    match cli.command {
        Command::Serve(args) => serve::run(args, serve::ProcessRole::All, data_dir),
        Command::Api(args) => serve::run(args, serve::ProcessRole::Api, data_dir),
        Command::Worker(args) => serve::run(args, serve::ProcessRole::Worker, data_dir),
        Command::Token(args) => token::run(args, data_dir),
        Command::Export(args) => export::run(args),
        Command::Jobs(command) => jobs::run(command),
        Command::Formats(args) => formats::run(args),
        Command::Datasets(args) => datasets::run(args),
        Command::Plugin(PluginCommand::Run(args)) => plugin_run::run(args),
        Command::Plugin(PluginCommand::Check(args)) => plugin_check::run(args),
        Command::Plugin(PluginCommand::Info(args)) => plugin_info::run(args),
        Command::Plugin(PluginCommand::New(args)) => plugin_new::run(args),
        Command::Plugin(PluginCommand::Install(args)) => plugin_registry::install(args, data_dir),
        Command::Plugin(PluginCommand::List(args)) => plugin_registry::list(args, data_dir),
        Command::Plugin(PluginCommand::Activate(args)) => plugin_registry::activate(args, data_dir),
        Command::Plugin(PluginCommand::Delete(args)) => plugin_registry::delete(args, data_dir),
        Command::Plugin(PluginCommand::EndCanary(args)) => {
            plugin_registry::end_canary(args, data_dir)
        }
        Command::Migrate(args) => data::migrate(args, data_dir),
        Command::DemoData(args) => data::demo_data(args, data_dir),
        Command::Dataset(command) => dataset::run(command, data_dir),
        Command::Config(ConfigCommand::Show(args)) => config_show::run(args),
    }
}

/// A plugin argument: a path to a `.wasm` file, or the name of a built-in
/// format (`csv` finds `target/plugins/csv.wasm`).
pub(crate) fn resolve_plugin_path(spec: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(spec);
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let looks_like_name = !spec.contains(['/', '\\', '.']);
    if looks_like_name {
        let dir = default_plugins_dir();
        let candidate = dir.join(format!("{spec}.wasm"));
        if candidate.exists() {
            return Ok(candidate);
        }
        anyhow::bail!(
            "no plugin file {spec:?} and no built-in format {spec:?} in {} (build them with `cargo xtask plugins`)",
            dir.display()
        );
    }
    anyhow::bail!("plugin file {} does not exist", path.display())
}

/// Loads a plugin for a CLI command, with an on-disk compile cache under
/// the system temp directory so repeated runs start fast.
pub(crate) fn load_plugin(
    spec: &str,
    config: RuntimeConfig,
) -> anyhow::Result<(PluginEngine, Formatter)> {
    let path = resolve_plugin_path(spec)?;
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let engine = PluginEngine::new(config)?;
    let label = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| spec.to_owned());
    let formatter = engine.load(&label, &bytes)?;
    Ok((engine, formatter))
}

/// The CLI's engine settings: one export at a time, artifacts cached.
pub(crate) fn cli_runtime_config() -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: user_cache_dir(),
        max_concurrent_exports: 4,
        ..RuntimeConfig::default()
    }
}

/// A per-user artifact cache: `$XDG_CACHE_HOME/exporter/plugins` or
/// `~/.cache/exporter/plugins`, owner-only. Loading a precompiled artifact
/// runs its native code, so the cache must never sit where another user
/// could plant one (such as a shared /tmp). Without a home directory the
/// CLI compiles in memory each run.
fn user_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| Path::new(&home).join(".cache"))
        })?;
    let dir = base.join("exporter").join("plugins");
    std::fs::create_dir_all(&dir).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    Some(dir)
}

/// Parses `key=value`.
pub(crate) fn parse_option(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected key=value, got {text:?}")),
    }
}

/// Sizes in one unit system everywhere the CLI prints them: IEC (KiB,
/// MiB), as the settings read them and indicatif's `{bytes}` shows them.
pub(crate) use exporter_kit::human_bytes;

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// clap checks a command's definition only when it is parsed; this
    /// checks every subcommand's (duplicate names, clashes with the
    /// propagated `--version`) at once.
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
