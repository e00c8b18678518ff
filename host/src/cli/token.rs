//! `exporter token --user EMAIL`: a bearer token for an existing user,
//! signed with the secret of the service whose data directory this finds
//! (see `state.rs`); it creates nothing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::data::runtime;
use super::state::ServiceState;
use crate::config::parse_duration;
use crate::service::{open_database, service_secret};
use exporter_auth::{TokenKeys, find_user};

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The user's email.
    #[arg(long)]
    user: String,
    /// How long the token is valid: 30m, 1h, 7d...
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    ttl: std::time::Duration,
    /// A TOML configuration file (also EXPORTER_CONFIG).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: TokenArgs, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let state = ServiceState::locate(args.config.as_deref(), data_dir)?.existing()?;
    let config = &state.config;
    anyhow::ensure!(
        config.auth.jwt_public_key_file.is_none(),
        "tokens are issued by the configured identity provider (auth.jwt_public_key_file is set)"
    );
    state.require_secret()?;
    let token = runtime()?.block_on(async {
        let db = open_database(config).await?;
        let caller = find_user(&db, &args.user).await;
        db.close().await;
        let keys = TokenKeys::from_secret(&service_secret(config)?);
        Ok::<_, anyhow::Error>(keys.issue(&caller?, Some(&args.user), args.ttl)?)
    })?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
