//! Service configuration: built-in defaults, then an optional TOML file,
//! then `EXPORTER_*` environment variables, each layer overriding the one
//! before. Secrets are wrapped in [`Secret`] so no `Debug` or log line ever
//! prints them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use exporter_runtime::default_plugins_dir;

pub use exporter_store::Secret;

/// Everything the service needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// `file:///abs/dir`, `s3://bucket/prefix`, `az://container/prefix`, `gs://bucket/prefix`.
    pub blob_url: String,
    pub listen: SocketAddr,
    /// The base URL clients reach the API at, for download links; the
    /// listening address when unset.
    pub public_url: Option<String>,
    /// Where the embedded defaults keep state: the SQLite file, local blobs
    /// and the generated JWT secret.
    pub data_dir: PathBuf,
    /// HS256 signing secret. Generated once into `data_dir` when unset.
    pub jwt_secret: Option<Secret>,
    /// PEM public key (RSA or EC) of an external identity provider; when
    /// set, tokens are verified with it (RS256/ES256) instead of the secret.
    pub jwt_public_key_file: Option<PathBuf>,
    pub plugins_dir: PathBuf,
    /// How long a finished file is kept.
    pub retention: Duration,
    /// How long a signed download link stays valid.
    pub link_ttl: Duration,
    /// Exports run at once by this process's worker.
    pub worker_concurrency: usize,
    /// Exports of one organization running at once, across every worker,
    /// so one tenant cannot starve the others.
    pub organization_concurrency: usize,
    /// Run the worker in this process (`exporter serve`, `exporter worker`).
    pub run_worker: bool,
    /// Serve the REST API (false for `exporter worker`, which serves only
    /// health, readiness and metrics). Set by the command, not configured.
    pub serve_api: bool,
    /// Attempts per job, the first included; transient failures only.
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How often an idle worker looks for jobs created by other processes;
    /// jobs created through this process's API are picked up at once.
    pub poll_interval: Duration,
    /// Row cap of the synchronous `GET /api/dataexport/...`.
    pub sync_export_max_rows: u64,
    pub sweep_interval: Duration,
    /// How long shutdown waits for running exports before handing them back
    /// to the queue.
    pub shutdown_timeout: Duration,
    /// How often a worker tells the queue it is alive. A worker that misses
    /// three (killed, or frozen by a GC pause or a VM migration) loses its
    /// jobs to the other workers.
    pub worker_heartbeat: Duration,
    /// A run that reads no row and writes no byte for this long is stopped
    /// and retried (a dead letter after the last attempt), so a lock or a
    /// hung connection cannot hold its organization's slot forever.
    pub stall_timeout: Duration,
    /// How often each process looks for plugin activations made elsewhere.
    pub registry_poll_interval: Duration,
    /// The watched directory: a `.wasm` dropped here is installed and, if it
    /// passes validation, activated. Empty: `<data_dir>/plugins-inbox`.
    pub plugins_inbox: Option<PathBuf>,
    /// Rows in the conformance kit's large export at install time.
    pub plugin_check_rows: usize,
    /// The conformance kit's per-call deadline at install time.
    pub plugin_check_call_timeout: Duration,
    /// Wall time one install-time validation may take in all; past it the
    /// validating process is killed and the plugin refused. An install
    /// request is answered within it.
    pub plugin_check_timeout: Duration,
    /// Resident memory (MiB) the validating process may use; past it it is
    /// killed and the plugin refused.
    pub plugin_check_memory_mib: u64,
    /// The program validations run in (`<it> plugin check --install ...`).
    /// `None`: this executable. Tests that host the service in-process
    /// point it at the `exporter` binary.
    pub plugin_validator: Option<PathBuf>,
    /// Crashed exports in a row before a version is rolled back.
    pub plugin_trap_threshold: u32,
    /// Run the conformance kit on newly built built-ins after start-up.
    pub check_builtins: bool,
    /// Hosts job callbacks may go to; empty: any public host.
    pub callback_allowed_hosts: Vec<String>,
    /// Let callbacks reach loopback and private addresses (off: a client
    /// could otherwise make the service call inside its own network).
    pub callback_allow_private: bool,
    /// Delivery attempts per callback, the first included.
    pub callback_max_attempts: u32,
    pub callback_retry_base: Duration,
    pub callback_retry_max: Duration,
    /// For one delivery request, connecting included.
    pub callback_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let data_dir = PathBuf::from("data");
        Self {
            database_url: "sqlite://data/exporter.db".into(),
            blob_url: String::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir,
            jwt_secret: None,
            jwt_public_key_file: None,
            plugins_dir: default_plugins_dir(),
            retention: Duration::from_secs(24 * 3600),
            link_ttl: Duration::from_secs(24 * 3600),
            worker_concurrency: 2,
            organization_concurrency: 4,
            run_worker: true,
            serve_api: true,
            max_attempts: 5,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            poll_interval: Duration::from_millis(100),
            sync_export_max_rows: 100_000,
            sweep_interval: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            worker_heartbeat: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(300),
            registry_poll_interval: Duration::from_millis(250),
            plugins_inbox: None,
            plugin_check_rows: 1_000_000,
            plugin_check_call_timeout: Duration::from_secs(10),
            plugin_check_timeout: Duration::from_secs(300),
            plugin_check_memory_mib: 2048,
            plugin_validator: None,
            plugin_trap_threshold: 3,
            check_builtins: true,
            callback_allowed_hosts: Vec::new(),
            callback_allow_private: false,
            callback_max_attempts: 8,
            callback_retry_base: Duration::from_secs(5),
            callback_retry_max: Duration::from_secs(3600),
            callback_timeout: Duration::from_secs(10),
        }
    }
}

/// One layer (file or environment): every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    database_url: Option<String>,
    blob_url: Option<String>,
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    jwt_secret: Option<String>,
    jwt_public_key_file: Option<PathBuf>,
    plugins_dir: Option<PathBuf>,
    retention: Option<String>,
    link_ttl: Option<String>,
    worker_concurrency: Option<usize>,
    organization_concurrency: Option<usize>,
    run_worker: Option<bool>,
    max_attempts: Option<u32>,
    retry_base: Option<String>,
    retry_max: Option<String>,
    poll_interval: Option<String>,
    sync_export_max_rows: Option<u64>,
    sweep_interval: Option<String>,
    shutdown_timeout: Option<String>,
    worker_heartbeat: Option<String>,
    stall_timeout: Option<String>,
    registry_poll_interval: Option<String>,
    plugins_inbox: Option<PathBuf>,
    plugin_check_rows: Option<usize>,
    plugin_check_call_timeout: Option<String>,
    plugin_check_timeout: Option<String>,
    plugin_check_memory_mib: Option<u64>,
    plugin_trap_threshold: Option<u32>,
    check_builtins: Option<bool>,
    callback_allowed_hosts: Option<HostList>,
    callback_allow_private: Option<bool>,
    callback_max_attempts: Option<u32>,
    callback_retry_base: Option<String>,
    callback_retry_max: Option<String>,
    callback_timeout: Option<String>,
}

/// A list of hosts: a TOML array, or one string of comma-separated names
/// (as an environment variable holds it).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HostList {
    Many(Vec<String>),
    One(String),
}

impl HostList {
    fn hosts(self) -> Vec<String> {
        let all = match self {
            HostList::Many(hosts) => hosts,
            HostList::One(text) => text.split(',').map(str::to_owned).collect(),
        };
        all.into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect()
    }
}

/// Keys whose environment values are numbers or booleans rather than text.
const TYPED_KEYS: &[&str] = &[
    "worker_concurrency",
    "organization_concurrency",
    "run_worker",
    "max_attempts",
    "sync_export_max_rows",
    "plugin_check_rows",
    "plugin_check_memory_mib",
    "plugin_trap_threshold",
    "check_builtins",
    "callback_allow_private",
    "callback_max_attempts",
];

impl Config {
    /// Defaults, then `file` (or `$EXPORTER_CONFIG`) when given, then the
    /// process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("EXPORTER_CONFIG").map(PathBuf::from));
        Self::load_from(file.as_deref(), &env)
    }

    /// [`Config::load`] with an explicit environment, for tests.
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Self> {
        let mut config = Config::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading configuration file {}", path.display()))?;
            let layer: Layer = toml::from_str(&text)
                .with_context(|| format!("in configuration file {}", path.display()))?;
            config.apply(layer)?;
        }
        config.apply(env_layer(env)?)?;
        config.finish()
    }

    fn apply(&mut self, layer: Layer) -> anyhow::Result<()> {
        let Layer {
            database_url,
            blob_url,
            listen,
            public_url,
            data_dir,
            jwt_secret,
            jwt_public_key_file,
            plugins_dir,
            retention,
            link_ttl,
            worker_concurrency,
            organization_concurrency,
            run_worker,
            max_attempts,
            retry_base,
            retry_max,
            poll_interval,
            sync_export_max_rows,
            sweep_interval,
            shutdown_timeout,
            worker_heartbeat,
            stall_timeout,
            registry_poll_interval,
            plugins_inbox,
            plugin_check_rows,
            plugin_check_call_timeout,
            plugin_check_timeout,
            plugin_check_memory_mib,
            plugin_trap_threshold,
            check_builtins,
            callback_allowed_hosts,
            callback_allow_private,
            callback_max_attempts,
            callback_retry_base,
            callback_retry_max,
            callback_timeout,
        } = layer;
        if let Some(dir) = data_dir {
            // The embedded defaults live under the data directory.
            if self.database_url == Config::default().database_url {
                self.database_url = format!("sqlite://{}", dir.join("exporter.db").display());
            }
            self.data_dir = dir;
        }
        set(&mut self.database_url, database_url);
        set(&mut self.blob_url, blob_url);
        if let Some(listen) = listen {
            self.listen = parse_listen(&listen)?;
        }
        if public_url.is_some() {
            self.public_url = public_url.filter(|u| !u.is_empty());
        }
        if let Some(secret) = jwt_secret.filter(|s| !s.is_empty()) {
            self.jwt_secret = Some(Secret::new(secret));
        }
        if jwt_public_key_file.is_some() {
            self.jwt_public_key_file = jwt_public_key_file;
        }
        set(&mut self.plugins_dir, plugins_dir);
        set_duration(&mut self.retention, "retention", retention)?;
        set_duration(&mut self.link_ttl, "link_ttl", link_ttl)?;
        set(&mut self.worker_concurrency, worker_concurrency);
        set(&mut self.organization_concurrency, organization_concurrency);
        set(&mut self.run_worker, run_worker);
        set(&mut self.max_attempts, max_attempts);
        set_duration(&mut self.retry_base, "retry_base", retry_base)?;
        set_duration(&mut self.retry_max, "retry_max", retry_max)?;
        set_duration(&mut self.poll_interval, "poll_interval", poll_interval)?;
        set(&mut self.sync_export_max_rows, sync_export_max_rows);
        set_duration(&mut self.sweep_interval, "sweep_interval", sweep_interval)?;
        set_duration(
            &mut self.shutdown_timeout,
            "shutdown_timeout",
            shutdown_timeout,
        )?;
        set_duration(
            &mut self.worker_heartbeat,
            "worker_heartbeat",
            worker_heartbeat,
        )?;
        set_duration(&mut self.stall_timeout, "stall_timeout", stall_timeout)?;
        set_duration(
            &mut self.registry_poll_interval,
            "registry_poll_interval",
            registry_poll_interval,
        )?;
        if let Some(dir) = plugins_inbox {
            self.plugins_inbox = Some(dir);
        }
        set(&mut self.plugin_check_rows, plugin_check_rows);
        set_duration(
            &mut self.plugin_check_call_timeout,
            "plugin_check_call_timeout",
            plugin_check_call_timeout,
        )?;
        set_duration(
            &mut self.plugin_check_timeout,
            "plugin_check_timeout",
            plugin_check_timeout,
        )?;
        set(&mut self.plugin_check_memory_mib, plugin_check_memory_mib);
        set(&mut self.plugin_trap_threshold, plugin_trap_threshold);
        set(&mut self.check_builtins, check_builtins);
        if let Some(hosts) = callback_allowed_hosts {
            self.callback_allowed_hosts = hosts.hosts();
        }
        set(&mut self.callback_allow_private, callback_allow_private);
        set(&mut self.callback_max_attempts, callback_max_attempts);
        set_duration(
            &mut self.callback_retry_base,
            "callback_retry_base",
            callback_retry_base,
        )?;
        set_duration(
            &mut self.callback_retry_max,
            "callback_retry_max",
            callback_retry_max,
        )?;
        set_duration(
            &mut self.callback_timeout,
            "callback_timeout",
            callback_timeout,
        )?;
        Ok(())
    }

    /// Where callbacks may go.
    pub fn callback_policy(&self) -> exporter_jobs::callbacks::TargetPolicy {
        exporter_jobs::callbacks::TargetPolicy {
            allowed_hosts: self.callback_allowed_hosts.clone(),
            allow_private: self.callback_allow_private,
        }
    }

    /// The watched plugins directory.
    pub fn plugins_inbox(&self) -> PathBuf {
        self.plugins_inbox
            .clone()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| self.data_dir.join("plugins-inbox"))
    }

    /// Fills derived defaults and checks the whole.
    fn finish(mut self) -> anyhow::Result<Self> {
        if self.blob_url.is_empty() {
            let dir = absolute(&self.data_dir.join("blobs"))?;
            self.blob_url = format!("file://{}", dir.display());
        }
        anyhow::ensure!(
            self.worker_concurrency >= 1,
            "worker_concurrency must be at least 1"
        );
        anyhow::ensure!(
            self.organization_concurrency >= 1,
            "organization_concurrency must be at least 1"
        );
        anyhow::ensure!(self.max_attempts >= 1, "max_attempts must be at least 1");
        anyhow::ensure!(
            !self.poll_interval.is_zero(),
            "poll_interval must be positive"
        );
        anyhow::ensure!(!self.retention.is_zero(), "retention must be positive");
        anyhow::ensure!(!self.link_ttl.is_zero(), "link_ttl must be positive");
        anyhow::ensure!(
            !self.registry_poll_interval.is_zero(),
            "registry_poll_interval must be positive"
        );
        anyhow::ensure!(
            self.worker_heartbeat >= Duration::from_secs(1),
            "worker_heartbeat must be at least 1s (the queue counts whole seconds)"
        );
        anyhow::ensure!(
            !self.stall_timeout.is_zero(),
            "stall_timeout must be positive"
        );
        anyhow::ensure!(
            self.callback_max_attempts >= 1,
            "callback_max_attempts must be at least 1"
        );
        anyhow::ensure!(
            !self.callback_timeout.is_zero(),
            "callback_timeout must be positive"
        );
        anyhow::ensure!(
            self.plugin_trap_threshold >= 1,
            "plugin_trap_threshold must be at least 1"
        );
        Ok(self)
    }
}

/// `EXPORTER_DATABASE_URL=...` becomes key `database_url`. Variables that
/// name no setting are refused, so a typo never silently does nothing.
fn env_layer(env: &[(String, String)]) -> anyhow::Result<Layer> {
    // Read by other parts of the program, not settings of this struct.
    const OTHER: &[&str] = &["config", "url", "token", "log"];
    let mut table = toml::Table::new();
    for (name, value) in env {
        let Some(key) = name.strip_prefix("EXPORTER_") else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if OTHER.contains(&key.as_str()) {
            continue;
        }
        let value = if TYPED_KEYS.contains(&key.as_str()) {
            format!("v = {value}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .ok_or_else(|| anyhow::anyhow!("{name}={value:?} is not a valid value"))?
        } else {
            toml::Value::String(value.clone())
        };
        table.insert(key, value);
    }
    Layer::deserialize(table).map_err(|e| anyhow::anyhow!("in EXPORTER_* environment: {e}"))
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *target = value;
    }
}

fn set_duration(target: &mut Duration, key: &str, value: Option<String>) -> anyhow::Result<()> {
    if let Some(text) = value {
        *target = parse_duration(&text).with_context(|| format!("setting {key}"))?;
    }
    Ok(())
}

/// `250ms`, `30s`, `5m`, `24h`, `7d`.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| {
        anyhow::anyhow!("{text:?} is not a duration like 250ms, 30s, 5m, 24h or 7d")
    })?;
    let seconds = |factor: u64| Duration::from_secs(n.saturating_mul(factor));
    Ok(match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" | "" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3600),
        "d" => seconds(86_400),
        other => anyhow::bail!("unknown duration unit {other:?} in {text:?}: use ms, s, m, h or d"),
    })
}

pub fn parse_listen(text: &str) -> anyhow::Result<SocketAddr> {
    text.parse()
        .map_err(|_| anyhow::anyhow!("{text:?} is not a listen address like 127.0.0.1:8080"))
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("reading the working directory")?
        .join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("exporter.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nretention = \"2h\"\nworker_concurrency = 3\n",
        )
        .unwrap();
        let config = Config::load_from(
            Some(&file),
            &env(&[
                ("EXPORTER_RETENTION", "30m"),
                ("EXPORTER_JWT_SECRET", "12345"),
                ("EXPORTER_WORKER_CONCURRENCY", "4"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.retention, Duration::from_secs(1800));
        assert_eq!(config.worker_concurrency, 4);
        assert_eq!(config.jwt_secret.as_ref().unwrap().expose(), "12345");
        assert!(config.blob_url.starts_with("file:///"));
        // The secret never shows in Debug output.
        assert!(!format!("{config:?}").contains("12345"));
    }

    #[test]
    fn mistakes_are_refused_with_their_name() {
        let error = Config::load_from(None, &env(&[("EXPORTER_RETENTOIN", "1h")])).unwrap_err();
        assert!(format!("{error:#}").contains("retentoin"), "{error:#}");
        let error = Config::load_from(None, &env(&[("EXPORTER_RETENTION", "1 week")])).unwrap_err();
        assert!(format!("{error:#}").contains("retention"), "{error:#}");
        let error =
            Config::load_from(None, &env(&[("EXPORTER_MAX_ATTEMPTS", "many")])).unwrap_err();
        assert!(
            format!("{error:#}").contains("EXPORTER_MAX_ATTEMPTS"),
            "{error:#}"
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("h").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_duration_text_is_parsed_or_refused_never_panicked_on(text in "\\PC*|[0-9]{0,25}[a-zé ]{0,3}") {
            let _ = parse_duration(&text);
        }

        #[test]
        fn durations_round_trip(n: u32, unit in proptest::sample::select(vec![("ms", 0u64), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)])) {
            let expected = match unit.1 {
                0 => Duration::from_millis(u64::from(n)),
                factor => Duration::from_secs(u64::from(n) * factor),
            };
            proptest::prop_assert_eq!(parse_duration(&format!("{n}{}", unit.0)).unwrap(), expected);
        }
    }
}
