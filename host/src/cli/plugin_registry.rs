//! `exporter plugin install | list | activate | delete | end-canary`: the
//! plugin registry from the command line. They act on the configured
//! database and blob store directly, like `exporter migrate`; running
//! services pick the change up within their registry poll interval.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use bytes::Bytes;

use super::data::runtime;
use super::state::ServiceState;
use crate::service::{open_database, registry_settings};
use exporter_metrics::Metrics;
use exporter_registry::formats::FormatRegistry;
use exporter_registry::{Installer, PluginRegistry, RegistryError, Selector};
use exporter_runtime::{PluginEngine, RuntimeConfig};
use exporter_store::blob::BlobStore;

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The component (`.wasm`).
    file: PathBuf,
    /// The format it must implement (default: whatever it says it is).
    #[arg(long)]
    name: Option<String>,
    /// Only install and validate; activate later.
    #[arg(long)]
    no_activate: bool,
    /// Activate for this organization only (a canary).
    #[arg(long = "org")]
    organization: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print the versions as JSON, reports included.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ActivateArgs {
    /// The format, e.g. csv.
    name: String,
    /// The version to run (the previous one, to roll back).
    #[arg(value_name = "VERSION")]
    plugin_version: String,
    /// Needed only when two builds carry the same version.
    #[arg(long)]
    sha256: Option<String>,
    /// Activate for this organization only (a canary).
    #[arg(long = "org")]
    organization: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    name: String,
    #[arg(value_name = "VERSION")]
    plugin_version: String,
    #[arg(long)]
    sha256: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct EndCanaryArgs {
    name: String,
    #[arg(long = "org")]
    organization: String,
}

/// The registry of the configured service, without serving. Only
/// `install` may start a registry in a new data directory; the commands
/// that read or change what is there refuse a directory where no service
/// ran (nothing is created on a guess).
async fn open_registry(data_dir: Option<&Path>, create: bool) -> anyhow::Result<PluginRegistry> {
    let state = ServiceState::locate(None, data_dir)?;
    let state = match create {
        true => {
            state.announce();
            state
        }
        false => state.existing()?,
    };
    let config = state.config;
    let db = open_database(&config).await?;
    let blobs = BlobStore::open(&config.blob.url)?;
    let cache_dir = config.data_dir.join("plugin-cache");
    std::fs::create_dir_all(&cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    let runtime = RuntimeConfig {
        cache_dir: Some(cache_dir),
        max_concurrent_exports: 4,
        limits: config.sandbox.clone(),
        ..RuntimeConfig::default()
    };
    let engine = PluginEngine::new(runtime)?;
    Ok(PluginRegistry::new(
        db,
        blobs,
        engine,
        FormatRegistry::default(),
        Metrics::new(),
        registry_settings(&config),
    ))
}

/// Registry errors as one line; a refusal with its failed steps.
fn report_error(error: RegistryError) -> anyhow::Result<ExitCode> {
    if let RegistryError::Refused(installed) = &error {
        eprintln!(
            "error: {} {} (sha256 {}) was refused",
            installed.version.name, installed.version.version, installed.version.sha256
        );
        for step in &installed.report.steps {
            eprintln!(
                "  {} {}: {}",
                if step.passed { "PASS" } else { "FAIL" },
                step.name,
                step.detail
            );
        }
        return Ok(ExitCode::FAILURE);
    }
    eprintln!("error: {error}");
    Ok(ExitCode::FAILURE)
}

pub fn install(args: InstallArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    runtime()?.block_on(async {
        let registry = open_registry(data_dir, true).await?;
        let installer = Installer {
            source: "cli",
            by: format!("cli:{}", whoami()),
        };
        let outcome = registry
            .install(
                Bytes::from(bytes),
                args.name.as_deref(),
                &installer,
                !args.no_activate,
                args.organization.as_deref(),
            )
            .await;
        let installed = match outcome {
            Ok(installed) => installed,
            Err(error) => return report_error(error),
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&installed)?);
        } else {
            let v = &installed.version;
            println!(
                "{} {} {} (sha256 {}, {} ms of checks)",
                if installed.already_installed {
                    "already installed:"
                } else {
                    "installed:"
                },
                v.name,
                v.version,
                v.sha256,
                installed.report.millis
            );
            if installed.activated {
                match &args.organization {
                    Some(org) => println!("active for organization {org} (canary)"),
                    None => println!("active for everyone"),
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn list(args: ListArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let registry = open_registry(data_dir, false).await?;
        let versions = match registry.list().await {
            Ok(versions) => versions,
            Err(error) => return report_error(error),
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&versions)?);
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{:<12} {:<14} {:<9} {:<8} {:<9} {:<18} {:<14} sha256",
            "FORMAT", "VERSION", "STATUS", "SOURCE", "CONTRACT", "ACTIVE", "INSTALLED BY"
        );
        for view in versions {
            let v = &view.version;
            let active = match (view.active, view.canary_organizations.is_empty()) {
                (true, _) => "everyone".to_owned(),
                (false, false) => format!("canary: {}", view.canary_organizations.join(",")),
                (false, true) => "-".to_owned(),
            };
            // The contract version the component exports: `1.0.0` of
            // `exporter:formatter/formatter@1.0.0`.
            let contract = v
                .contract
                .as_deref()
                .and_then(|c| c.rsplit_once('@'))
                .map_or("-", |(_, version)| version);
            println!(
                "{:<12} {:<14} {:<9} {:<8} {:<9} {:<18} {:<14} {}",
                v.name,
                v.version,
                v.status,
                v.source,
                contract,
                active,
                v.installed_by,
                &v.sha256[..16.min(v.sha256.len())]
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn activate(args: ActivateArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let registry = open_registry(data_dir, false).await?;
        let selector = Selector {
            version: args.plugin_version,
            sha256: args.sha256,
        };
        let by = format!("cli:{}", whoami());
        match registry
            .activate(&args.name, &selector, args.organization.as_deref(), &by)
            .await
        {
            Ok(record) => {
                let whom = args
                    .organization
                    .map_or("everyone".to_owned(), |org| format!("organization {org}"));
                println!(
                    "{} {} (sha256 {}) is active for {whom}",
                    record.name, record.version, record.sha256
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => report_error(error),
        }
    })
}

pub fn delete(args: DeleteArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let registry = open_registry(data_dir, false).await?;
        let selector = Selector {
            version: args.plugin_version,
            sha256: args.sha256,
        };
        match registry.delete(&args.name, &selector).await {
            Ok(record) => {
                println!(
                    "deleted {} {} (sha256 {})",
                    record.name, record.version, record.sha256
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => report_error(error),
        }
    })
}

pub fn end_canary(args: EndCanaryArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let registry = open_registry(data_dir, false).await?;
        match registry.end_canary(&args.name, &args.organization).await {
            Ok(()) => {
                println!(
                    "organization {} runs everyone's {} again",
                    args.organization, args.name
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => report_error(error),
        }
    })
}

/// Who installs or activates: `$USER` or `$LOGNAME`, else the login name
/// of the process's uid (containers and cron often set neither), else a
/// placeholder that says so.
fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|name| !name.trim().is_empty())
        .or_else(login_name)
        .unwrap_or_else(|| "unknown-user".to_owned())
}

/// The uid's login name from the password database, or `uid N`.
#[cfg(unix)]
fn login_name() -> Option<String> {
    // SAFETY: getpwuid_r writes only into `entry` and `buffer`, whose sizes
    // it is given; `result` points at `entry` or is null.
    unsafe {
        let uid = libc::getuid();
        let mut entry: libc::passwd = std::mem::zeroed();
        let mut buffer = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let found = libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut result,
        ) == 0
            && !result.is_null()
            && !entry.pw_name.is_null();
        if found {
            let name = std::ffi::CStr::from_ptr(entry.pw_name).to_string_lossy();
            if !name.is_empty() {
                return Some(name.into_owned());
            }
        }
        Some(format!("uid {uid}"))
    }
}

#[cfg(not(unix))]
fn login_name() -> Option<String> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn the_login_name_is_found_without_user() {
        let name = super::login_name().expect("a name or the uid");
        assert!(!name.is_empty());
    }
}
