//! Service configuration, in sections: built-in defaults, then an optional
//! TOML file, then `EXPORTER_*` environment variables, each layer
//! overriding the one before (figment merges them and remembers where each
//! value came from, for `exporter config show` and for error messages).
//!
//! Each section is the settings type of the crate that uses it
//! (`[sandbox]` is `exporter_runtime::SandboxLimits`, `[retry]`
//! `exporter_jobs::retry::RetryPolicy`, ...), so a setting is written once:
//! its field, with its doc comment, and its default in that type's
//! `Default`. Durations read `250ms`, `30s`, `5m`, `24h`, `7d` (a bare
//! number is seconds), sizes `128MiB` (a bare number is bytes).
//!
//! Environment names: `EXPORTER_WORKER__CONCURRENCY` (a double underscore
//! between section and key), and every flat name of before the sections
//! (`EXPORTER_WORKER_CONCURRENCY`, `EXPORTER_RETENTION`, ...) as an alias,
//! as are the flat keys at the top of a file ([`FLAT_KEYS`]). A name or
//! key that names no setting is refused by name. Secrets are wrapped in
//! [`Secret`], so no `Debug`, log line or printed configuration shows them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::{Deserialize, Deserializer, Serialize};

use exporter_jobs::dispatcher::CallbackSettings;
use exporter_jobs::retry::RetryPolicy;
use exporter_jobs::worker::WorkerSettings;
use exporter_registry::RegistrySettings;
use exporter_runtime::SandboxLimits;
use exporter_source::sources::{SourceConfig, validate_sources};

pub use exporter_store::Secret;

/// Everything the service needs to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded defaults keep state: the SQLite file, local blobs,
    /// the generated JWT secret, the plugin cache and inbox.
    pub data_dir: PathBuf,
    pub database: DatabaseSettings,
    pub blob: BlobSettings,
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub worker: WorkerSettings,
    /// Attempts per export job and the waits between them (transient
    /// failures only).
    pub retry: RetryPolicy,
    pub exports: ExportSettings,
    pub links: LinkSettings,
    pub callbacks: CallbackSettings,
    pub registry: RegistrySettings,
    /// What every plugin may use during one export.
    pub sandbox: SandboxLimits,
    /// Databases datasets read from, besides the service's own (the
    /// `default` source): `[sources.warehouse] url = "postgres://..."`.
    /// Opened read-only where the engine allows.
    pub sources: BTreeMap<String, SourceConfig>,
    /// Serve the REST API (false for `exporter worker`, which serves only
    /// health, readiness and metrics). Set by the command, not configured.
    #[serde(skip)]
    pub serve_api: bool,
    /// Started with `--demo`: the console offers the demo accounts to sign
    /// in with. Set by the command, not configured.
    #[serde(skip)]
    pub demo: bool,
}

/// The data directory when none is configured.
const DEFAULT_DATA_DIR: &str = "data";

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            database: DatabaseSettings::default(),
            blob: BlobSettings::default(),
            server: ServerSettings::default(),
            auth: AuthSettings::default(),
            worker: WorkerSettings::default(),
            retry: RetryPolicy::default(),
            exports: ExportSettings::default(),
            links: LinkSettings::default(),
            callbacks: CallbackSettings::default(),
            registry: RegistrySettings::default(),
            sandbox: SandboxLimits::default(),
            sources: BTreeMap::new(),
            serve_api: true,
            demo: false,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://...`. Left at its default, the SQLite
    /// file follows `data_dir`.
    pub url: String,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: format!("sqlite://{DEFAULT_DATA_DIR}/exporter.db"),
        }
    }
}

/// `[blob]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobSettings {
    /// `file:///abs/dir`, `s3://bucket/prefix`, `az://container/prefix`,
    /// `gs://bucket/prefix`. Empty: `file://<data_dir>/blobs`.
    pub url: String,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// The address to listen on.
    #[serde(deserialize_with = "listen_address")]
    pub listen: SocketAddr,
    /// The base URL clients reach the API at, for download links; the
    /// listening address when unset.
    #[serde(deserialize_with = "non_empty")]
    pub public_url: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HS256 signing secret. Generated once into `data_dir` when unset.
    #[serde(deserialize_with = "non_empty_secret")]
    pub jwt_secret: Option<Secret>,
    /// PEM public key (RSA or EC) of an external identity provider; when
    /// set, tokens are verified with it (RS256/ES256) instead of the secret.
    pub jwt_public_key_file: Option<PathBuf>,
    /// `[auth.oidc]`: the OpenID Connect provider the console signs people
    /// in with (authorization code with PKCE); a person is the user whose
    /// email the provider verified.
    pub oidc: Option<OidcConfig>,
}

/// `[auth.oidc]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL; its discovery document is read on first sign-in.
    pub issuer: String,
    /// This service's client id at the provider.
    pub client_id: String,
    /// For a confidential client; a public client has none (PKCE protects
    /// the code either way).
    #[serde(default, deserialize_with = "non_empty_secret")]
    pub client_secret: Option<Secret>,
}

/// `[exports]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportSettings {
    /// How long a finished file is kept.
    #[serde(with = "exporter_settings::duration")]
    pub retention: Duration,
    /// How often expired files are deleted.
    #[serde(with = "exporter_settings::duration")]
    pub sweep_interval: Duration,
    /// Row cap of the synchronous `GET /api/dataexport/...`.
    pub sync_export_max_rows: u64,
}

impl Default for ExportSettings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(60),
            sync_export_max_rows: 100_000,
        }
    }
}

impl ExportSettings {
    /// What makes no sense: files gone at once, a sweeper that never waits.
    pub fn validate(&self) -> Result<(), exporter_settings::Invalid> {
        exporter_settings::first_invalid([
            ("retention", !self.retention.is_zero(), "positive"),
            ("sweep_interval", !self.sweep_interval.is_zero(), "positive"),
        ])
    }
}

/// `[links]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkSettings {
    /// How long a signed download link stays valid.
    #[serde(with = "exporter_settings::duration")]
    pub ttl: Duration,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 3600),
        }
    }
}

impl LinkSettings {
    /// What makes no sense: a link expired when made.
    pub fn validate(&self) -> Result<(), exporter_settings::Invalid> {
        exporter_settings::first_invalid([("ttl", !self.ttl.is_zero(), "positive")])
    }
}

/// The settings' names before the sections, at the top of a file or as
/// `EXPORTER_<NAME>`, and the key each now is. Kept so no deployment
/// breaks; a flat name and its section key both set is refused.
pub const FLAT_KEYS: &[(&str, &str)] = &[
    ("database_url", "database.url"),
    ("blob_url", "blob.url"),
    ("listen", "server.listen"),
    ("public_url", "server.public_url"),
    ("data_dir", "data_dir"),
    ("jwt_secret", "auth.jwt_secret"),
    ("jwt_public_key_file", "auth.jwt_public_key_file"),
    ("plugins_dir", "registry.plugins_dir"),
    ("retention", "exports.retention"),
    ("link_ttl", "links.ttl"),
    ("worker_concurrency", "worker.concurrency"),
    (
        "organization_concurrency",
        "worker.organization_concurrency",
    ),
    ("run_worker", "worker.enabled"),
    ("max_attempts", "retry.max_attempts"),
    ("retry_base", "retry.base"),
    ("retry_max", "retry.max"),
    ("poll_interval", "worker.poll_interval"),
    ("sync_export_max_rows", "exports.sync_export_max_rows"),
    ("sweep_interval", "exports.sweep_interval"),
    ("shutdown_timeout", "worker.shutdown_timeout"),
    ("worker_heartbeat", "worker.heartbeat"),
    ("stall_timeout", "worker.stall_timeout"),
    ("registry_poll_interval", "registry.poll_interval"),
    ("plugins_inbox", "registry.inbox"),
    ("plugin_check_rows", "registry.validation.check_rows"),
    (
        "plugin_check_call_timeout",
        "registry.validation.call_timeout",
    ),
    ("plugin_check_timeout", "registry.validation.budget"),
    // Was MiB; the section key is a size (see `flat_value`).
    (
        "plugin_check_memory_mib",
        "registry.validation.max_process_bytes",
    ),
    ("plugin_trap_threshold", "registry.trap_threshold"),
    ("check_builtins", "registry.check_builtins"),
    ("callback_allowed_hosts", "callbacks.policy.allowed_hosts"),
    ("callback_allow_private", "callbacks.policy.allow_private"),
    ("callback_max_attempts", "callbacks.retry.max_attempts"),
    ("callback_retry_base", "callbacks.retry.base"),
    ("callback_retry_max", "callbacks.retry.max"),
    ("callback_timeout", "callbacks.timeout"),
];

/// `EXPORTER_*` variables read by other parts of the program, not settings.
const NOT_SETTINGS: &[&str] = &[
    "EXPORTER_CONFIG",
    "EXPORTER_URL",
    "EXPORTER_TOKEN",
    "EXPORTER_LOG",
    "EXPORTER_LOG_FORMAT",
];

const ENV_PREFIX: &str = "EXPORTER_";

/// A flat key's value as its section key reads it.
fn flat_value(flat: &str, value: Value) -> Value {
    if flat != "plugin_check_memory_mib" {
        return value;
    }
    match &value {
        Value::String(_, text) => Value::from(format!("{}MiB", text.trim())),
        // A file's integers are signed.
        other => match other.to_i128().filter(|n| *n >= 0) {
            Some(mib) => Value::from(format!("{mib}MiB")),
            // Not a number: refused as it is, by the size's parser.
            None => value,
        },
    }
}

/// Where a layer's values came from.
#[derive(Debug, Clone)]
enum Origin {
    Default,
    File(PathBuf),
    Env(String),
    /// A command-line flag (`--data-dir`).
    Flag(&'static str),
}

impl Origin {
    fn metadata(&self) -> Metadata {
        let metadata = match self {
            Origin::Default => Metadata::named("the defaults"),
            Origin::File(path) => Metadata::from("configuration file", path.as_path()),
            Origin::Env(name) => Metadata::from("environment variable", name.clone()),
            Origin::Flag(flag) => Metadata::from("command-line flag", flag.to_string()),
        };
        // Errors name a key as it is written in a file: `worker.concurrency`.
        metadata.interpolater(|_: &Profile, keys: &[&str]| keys.join("."))
    }
}

/// One layer: a file, one environment variable, or the defaults.
struct Layer {
    origin: Origin,
    dict: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.origin.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

/// `value` at `path` (`["worker", "concurrency"]`) in an otherwise empty
/// dictionary.
fn nested(path: &[String], value: Value) -> Dict {
    let (last, sections) = path.split_last().expect("a path has a key");
    let mut dict = Dict::from([(last.clone(), value)]);
    for section in sections.iter().rev() {
        dict = Dict::from([(section.clone(), Value::from(dict))]);
    }
    dict
}

/// The first key path of `dict` that `schema` (the defaults) does not
/// have, dotted.
/// Sections whose keys are names the operator chooses (`[sources.NAME]`):
/// their entries are checked by their own type (unknown fields refused)
/// rather than against the defaults, which have none.
const NAMED_SECTIONS: &[&str] = &["sources"];

fn unknown_key(schema: &Dict, dict: &Dict) -> Option<String> {
    for (key, value) in dict {
        if NAMED_SECTIONS.contains(&key.as_str()) && schema.contains_key(key) {
            continue;
        }
        match (schema.get(key), value) {
            (None, _) => return Some(key.clone()),
            (Some(Value::Dict(_, section)), Value::Dict(_, inner)) => {
                if let Some(rest) = unknown_key(section, inner) {
                    return Some(format!("{key}.{rest}"));
                }
            }
            // A value where a section is (or the reverse): the type
            // check names it.
            _ => {}
        }
    }
    None
}

fn has_path(schema: &Dict, path: &[String]) -> bool {
    let mut dict = schema;
    for (i, key) in path.iter().enumerate() {
        match dict.get(key) {
            Some(Value::Dict(_, inner)) => dict = inner,
            Some(_) => return i + 1 == path.len(),
            None => return false,
        }
    }
    true
}

fn path_of(dotted: &str) -> Vec<String> {
    dotted.split('.').map(str::to_owned).collect()
}

/// The file's own keys, its flat keys moved to their sections.
fn file_layer(path: &Path, schema: &Dict) -> anyhow::Result<Layer> {
    use figment::providers::{Format as _, Toml};
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading configuration file {}", path.display()))?;
    let in_file = || format!("in configuration file {}", path.display());
    let mut dict = Toml::string(&text)
        .data()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(in_file)?
        .remove(&Profile::Default)
        .unwrap_or_default();
    for &(flat, dotted) in FLAT_KEYS {
        if flat == dotted {
            continue;
        }
        let Some(value) = dict.remove(flat) else {
            continue;
        };
        let target = path_of(dotted);
        anyhow::ensure!(
            !has_path(&dict, &target),
            "{}: both {flat} and {dotted} are set; keep {dotted}",
            in_file()
        );
        merge_into(&mut dict, nested(&target, flat_value(flat, value)));
    }
    if let Some(key) = unknown_key(schema, &dict) {
        anyhow::bail!("{}: unknown setting {key:?}", in_file());
    }
    Ok(Layer {
        origin: Origin::File(path.to_path_buf()),
        dict,
    })
}

/// Adds `extra`'s keys to `dict`, section by section.
fn merge_into(dict: &mut Dict, extra: Dict) {
    for (key, value) in extra {
        match (dict.get_mut(&key), value) {
            (Some(Value::Dict(_, section)), Value::Dict(_, inner)) => merge_into(section, inner),
            (_, value) => {
                dict.insert(key, value);
            }
        }
    }
}

/// One layer per `EXPORTER_*` variable, so each value's origin is its
/// variable. A name that names no setting is refused, and so are two that
/// set one setting (a flat name and its section name).
fn env_layers(env: &[(String, String)], schema: &Dict) -> anyhow::Result<Vec<Layer>> {
    let mut layers: Vec<Layer> = Vec::new();
    let mut set_by: BTreeMap<Vec<String>, String> = BTreeMap::new();
    for (name, value) in env {
        let Some(key) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if NOT_SETTINGS.contains(&name.as_str()) {
            continue;
        }
        let key = key.to_ascii_lowercase();
        let (path, value) = if key.contains("__") {
            let path: Vec<String> = key.split("__").map(str::to_owned).collect();
            anyhow::ensure!(
                path.iter().all(|k| !k.is_empty()),
                "{name} names no setting: use EXPORTER_SECTION__KEY"
            );
            (path, Value::from(value.clone()))
        } else {
            match FLAT_KEYS.iter().find(|(flat, _)| *flat == key) {
                Some(&(flat, dotted)) => (
                    path_of(dotted),
                    flat_value(flat, Value::from(value.clone())),
                ),
                None => (vec![key.clone()], Value::from(value.clone())),
            }
        };
        let dict = nested(&path, value);
        if let Some(unknown) = unknown_key(schema, &dict) {
            anyhow::bail!(
                "{name} names no setting ({unknown:?}){}",
                env_hint(&key, schema)
            );
        }
        if let Some(other) = set_by.insert(path.clone(), name.clone()) {
            anyhow::bail!("{other} and {name} both set {}; keep one", path.join("."));
        }
        layers.push(Layer {
            origin: Origin::Env(name.clone()),
            dict,
        });
    }
    Ok(layers)
}

/// `sandbox_memory_bytes` may be `EXPORTER_SANDBOX__MEMORY_BYTES`.
fn env_hint(key: &str, schema: &Dict) -> String {
    for section in schema.keys() {
        if let Some(rest) = key.strip_prefix(&format!("{section}_"))
            && has_path(schema, &[section.clone(), rest.to_owned()])
        {
            return format!(
                "; did you mean {ENV_PREFIX}{}__{}?",
                section.to_ascii_uppercase(),
                rest.to_ascii_uppercase()
            );
        }
    }
    String::new()
}

/// The effective configuration and where each value came from.
pub struct Effective {
    pub config: Config,
    figment: Figment,
    /// Keys filled in from others (`database.url`, `blob.url`).
    derived: Vec<&'static str>,
}

impl Config {
    /// Defaults, then `file` (or `$EXPORTER_CONFIG`) when given, then the
    /// process environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Ok(Effective::load(file)?.config)
    }

    /// [`Config::load`] with an explicit environment, for tests.
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Self> {
        Ok(Effective::load_from(file, env)?.config)
    }

    /// Where callbacks may go.
    pub fn callback_policy(&self) -> exporter_jobs::callbacks::TargetPolicy {
        self.callbacks.policy.clone()
    }

    /// The watched plugins directory.
    pub fn plugins_inbox(&self) -> PathBuf {
        self.registry
            .inbox
            .clone()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| self.data_dir.join("plugins-inbox"))
    }
}

impl Effective {
    /// As [`Config::load`].
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_with_data_dir(file, None)
    }

    /// As [`Config::load`], with `--data-dir` over every other layer.
    pub fn load_with_data_dir(
        file: Option<&Path>,
        data_dir: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("EXPORTER_CONFIG").map(PathBuf::from));
        Self::load_layers(file.as_deref(), &env, data_dir)
    }

    /// As [`Config::load_from`].
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Self> {
        Self::load_layers(file, env, None)
    }

    /// Defaults, the file, the environment, then the `--data-dir` flag.
    pub fn load_layers(
        file: Option<&Path>,
        env: &[(String, String)],
        data_dir: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let Ok(Value::Dict(_, defaults)) = Value::serialize(Config::default()) else {
            anyhow::bail!("the default configuration does not serialize to a table");
        };
        let mut figment = Figment::from(Layer {
            origin: Origin::Default,
            dict: defaults.clone(),
        });
        if let Some(path) = file {
            figment = figment.merge(file_layer(path, &defaults)?);
        }
        for layer in env_layers(env, &defaults)? {
            figment = figment.merge(layer);
        }
        if let Some(dir) = data_dir {
            figment = figment.merge(Layer {
                origin: Origin::Flag("--data-dir"),
                dict: Dict::from([(
                    "data_dir".to_owned(),
                    Value::from(dir.display().to_string()),
                )]),
            });
        }
        // Lossy: an environment variable is text, `4` and `true` included.
        let config: Config = figment
            .extract_lossy()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut effective = Effective {
            config,
            figment,
            derived: Vec::new(),
        };
        effective.finish()?;
        Ok(effective)
    }

    /// Where the value at `key` (`worker.concurrency`) came from: `default`,
    /// a file's path or an environment variable's name.
    pub fn origin(&self, key: &str) -> String {
        if self.derived.contains(&key) {
            return "default, under data_dir".into();
        }
        match self
            .figment
            .find_metadata(key)
            .and_then(|m| m.source.as_ref())
        {
            Some(Source::File(path)) => format!("from {}", path.display()),
            Some(Source::Custom(name)) => format!("from {name}"),
            _ => "default".into(),
        }
    }

    /// Fills derived defaults and checks the whole.
    fn finish(&mut self) -> anyhow::Result<()> {
        let config = &mut self.config;
        if config.database.url == DatabaseSettings::default().url
            && config.data_dir != Path::new(DEFAULT_DATA_DIR)
        {
            // The embedded database lives under the data directory.
            config.database.url =
                format!("sqlite://{}", config.data_dir.join("exporter.db").display());
            self.derived.push("database.url");
        }
        if config.blob.url.is_empty() {
            let dir = absolute(&config.data_dir.join("blobs"))?;
            config.blob.url = format!("file://{}", dir.display());
            self.derived.push("blob.url");
        }
        // Each section's type knows its own ranges; this names the whole
        // key and where its value came from.
        let config = &self.config;
        let sections = [
            ("worker", config.worker.validate()),
            ("retry", config.retry.validate()),
            ("exports", config.exports.validate()),
            ("links", config.links.validate()),
            ("registry", config.registry.validate()),
            ("callbacks", config.callbacks.validate()),
            ("sandbox", config.sandbox.validate()),
            ("sources", validate_sources(&config.sources)),
        ];
        for (section, checked) in sections {
            if let Err(invalid) = checked {
                let invalid = invalid.within(section);
                anyhow::bail!("{invalid} ({})", self.origin(&invalid.field));
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, each value with where it came
    /// from; secrets show as `"<hidden>"`.
    pub fn to_toml(&self) -> anyhow::Result<String> {
        let value = serde_json::to_value(&self.config)?;
        let serde_json::Value::Object(top) = value else {
            anyhow::bail!("the configuration is not a table");
        };
        let mut out =
            String::from("# The effective configuration; each value says where it came from.\n");
        self.write_table(&mut out, "", &top)?;
        Ok(out)
    }

    fn write_table(
        &self,
        out: &mut String,
        prefix: &str,
        table: &serde_json::Map<String, serde_json::Value>,
    ) -> anyhow::Result<()> {
        use std::fmt::Write as _;
        let key_of = |key: &str| match prefix {
            "" => key.to_owned(),
            _ => format!("{prefix}.{key}"),
        };
        for (key, value) in table {
            let origin = self.origin(&key_of(key));
            match value {
                serde_json::Value::Object(_) => {}
                serde_json::Value::Null => writeln!(out, "# {key}: unset  # {origin}")?,
                value => {
                    let value = toml::Value::try_from(value)?;
                    writeln!(out, "{key} = {value}  # {origin}")?;
                }
            }
        }
        for (key, value) in table {
            if let serde_json::Value::Object(section) = value {
                let name = key_of(key);
                writeln!(out, "\n[{name}]")?;
                self.write_table(out, &name, section)?;
            }
        }
        Ok(())
    }
}

fn listen_address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_listen(&text).map_err(serde::de::Error::custom)
}

/// An empty text is as good as none (an environment variable set to "").
fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.filter(|s| !s.is_empty()))
}

fn non_empty_secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<Secret>::deserialize(deserializer)?.filter(|s| !s.expose().is_empty()))
}

/// `250ms`, `30s`, `5m`, `24h`, `7d`; a bare number is seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    Ok(exporter_settings::parse_duration(text)?)
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

    fn file(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("exporter.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn refusal(file: Option<&Path>, pairs: &[(&str, &str)]) -> String {
        let error = Config::load_from(file, &env(pairs)).unwrap_err();
        format!("{error:#}")
    }

    #[test]
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = file(
            &dir,
            "listen = \"0.0.0.0:9000\"\nretention = \"2h\"\n\n[worker]\nconcurrency = 3\n",
        );
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
        assert_eq!(config.server.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.exports.retention, Duration::from_secs(1800));
        assert_eq!(config.worker.concurrency, 4);
        assert_eq!(config.auth.jwt_secret.as_ref().unwrap().expose(), "12345");
        assert!(config.blob.url.starts_with("file:///"));
        // Untouched sections keep their defaults.
        assert_eq!(config.sandbox, SandboxLimits::default());
        assert_eq!(config.callbacks, CallbackSettings::default());
        // The secret never shows in Debug output.
        assert!(!format!("{config:?}").contains("12345"));
    }

    #[test]
    fn mistakes_are_refused_with_their_name() {
        let error = refusal(None, &[("EXPORTER_RETENTOIN", "1h")]);
        assert!(error.contains("retentoin"), "{error}");
        let error = refusal(None, &[("EXPORTER_RETENTION", "1 week")]);
        assert!(
            error.contains("retention") && error.contains("EXPORTER_RETENTION"),
            "{error}"
        );
        let error = refusal(None, &[("EXPORTER_MAX_ATTEMPTS", "many")]);
        assert!(error.contains("EXPORTER_MAX_ATTEMPTS"), "{error}");
        let error = refusal(None, &[("EXPORTER_WORKER__CONCURRENCY", "0")]);
        assert!(
            error.contains("worker.concurrency must be at least 1")
                && error.contains("EXPORTER_WORKER__CONCURRENCY"),
            "{error}"
        );
    }

    #[test]
    fn a_nested_setting_out_of_range_is_named_whole_with_its_origin() {
        let error = refusal(None, &[("EXPORTER_CALLBACKS__RETRY__MAX_ATTEMPTS", "0")]);
        assert!(
            error.contains(
                "callbacks.retry.max_attempts must be at least 1 (from EXPORTER_CALLBACKS__RETRY__MAX_ATTEMPTS)"
            ),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = file(&dir, "[registry.validation]\nbudget = \"0s\"\n");
        let error = refusal(Some(&path), &[]);
        assert!(
            error.contains(&format!(
                "registry.validation.budget must be positive (from {})",
                path.display()
            )),
            "{error}"
        );
        // The alias of a flat name is checked the same way.
        let error = refusal(None, &[("EXPORTER_LINK_TTL", "0s")]);
        assert!(error.contains("links.ttl must be positive"), "{error}");
    }

    #[test]
    fn section_names_in_the_environment() {
        let config = Config::load_from(
            None,
            &env(&[
                ("EXPORTER_WORKER__CONCURRENCY", "7"),
                ("EXPORTER_SERVER__PUBLIC_URL", "https://exports.example.com"),
                ("EXPORTER_SANDBOX__MEMORY_BYTES", "48MiB"),
                ("EXPORTER_SANDBOX__CALL_TIMEOUT", "2s"),
                (
                    "EXPORTER_CALLBACKS__POLICY__ALLOWED_HOSTS",
                    "A.example, b.example",
                ),
                ("EXPORTER_CALLBACKS__RETRY__MAX_ATTEMPTS", "2"),
                ("EXPORTER_REGISTRY__VALIDATION__BUDGET", "90"),
                ("EXPORTER_REGISTRY__CHECK_BUILTINS", "false"),
                ("exporter_worker__concurrency", "not ours: lower case"),
            ]),
        )
        .unwrap();
        assert_eq!(config.worker.concurrency, 7);
        assert_eq!(
            config.server.public_url.as_deref(),
            Some("https://exports.example.com")
        );
        assert_eq!(config.sandbox.memory_bytes, 48 << 20);
        assert_eq!(config.sandbox.call_timeout, Duration::from_secs(2));
        assert_eq!(
            config.callback_policy().allowed_hosts,
            ["a.example", "b.example"]
        );
        assert_eq!(config.callbacks.retry.max_attempts, 2);
        // The rest of the callbacks' retry keeps the callbacks' defaults,
        // not the exports'.
        assert_eq!(config.callbacks.retry.base, Duration::from_secs(5));
        assert_eq!(config.registry.validation.budget, Duration::from_secs(90));
        assert!(!config.registry.check_builtins);
    }

    #[test]
    fn names_read_elsewhere_are_not_settings() {
        let config = Config::load_from(
            None,
            &env(&[
                ("EXPORTER_URL", "http://127.0.0.1:8080"),
                ("EXPORTER_TOKEN", "t"),
                ("EXPORTER_LOG", "debug"),
                ("EXPORTER_LOG_FORMAT", "json"),
                ("EXPORTER_CONFIG", "/nowhere.toml"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server, ServerSettings::default());
    }

    type Check = fn(&Config) -> bool;

    /// Every flat name of before the sections: its value in the environment
    /// and in a file, and what it must set.
    const FLAT_CASES: &[(&str, &str, &str, Check)] = &[
        (
            "database_url",
            "postgres://db/x",
            "\"postgres://db/x\"",
            |c| c.database.url == "postgres://db/x",
        ),
        ("blob_url", "s3://b/p", "\"s3://b/p\"", |c| {
            c.blob.url == "s3://b/p"
        }),
        ("listen", "0.0.0.0:9000", "\"0.0.0.0:9000\"", |c| {
            c.server.listen.port() == 9000
        }),
        ("public_url", "https://x.test", "\"https://x.test\"", |c| {
            c.server.public_url.as_deref() == Some("https://x.test")
        }),
        ("data_dir", "/srv/exporter", "\"/srv/exporter\"", |c| {
            c.data_dir == Path::new("/srv/exporter")
                && c.database.url == "sqlite:///srv/exporter/exporter.db"
                && c.blob.url == "file:///srv/exporter/blobs"
        }),
        ("jwt_secret", "s3cret", "\"s3cret\"", |c| {
            c.auth.jwt_secret.as_ref().map(Secret::expose) == Some("s3cret")
        }),
        ("jwt_public_key_file", "/k.pem", "\"/k.pem\"", |c| {
            c.auth.jwt_public_key_file.as_deref() == Some(Path::new("/k.pem"))
        }),
        ("plugins_dir", "/p", "\"/p\"", |c| {
            c.registry.plugins_dir == Path::new("/p")
        }),
        ("retention", "2h", "\"2h\"", |c| {
            c.exports.retention == Duration::from_secs(7200)
        }),
        ("link_ttl", "5m", "\"5m\"", |c| {
            c.links.ttl == Duration::from_secs(300)
        }),
        ("worker_concurrency", "9", "9", |c| {
            c.worker.concurrency == 9
        }),
        ("organization_concurrency", "6", "6", |c| {
            c.worker.organization_concurrency == 6
        }),
        ("run_worker", "false", "false", |c| !c.worker.enabled),
        ("max_attempts", "7", "7", |c| c.retry.max_attempts == 7),
        ("retry_base", "3s", "\"3s\"", |c| {
            c.retry.base == Duration::from_secs(3)
        }),
        ("retry_max", "1h", "\"1h\"", |c| {
            c.retry.max == Duration::from_secs(3600)
        }),
        ("poll_interval", "250ms", "\"250ms\"", |c| {
            c.worker.poll_interval == Duration::from_millis(250)
        }),
        ("sync_export_max_rows", "12", "12", |c| {
            c.exports.sync_export_max_rows == 12
        }),
        ("sweep_interval", "2m", "\"2m\"", |c| {
            c.exports.sweep_interval == Duration::from_secs(120)
        }),
        ("shutdown_timeout", "45s", "\"45s\"", |c| {
            c.worker.shutdown_timeout == Duration::from_secs(45)
        }),
        ("worker_heartbeat", "3s", "\"3s\"", |c| {
            c.worker.heartbeat == Duration::from_secs(3)
        }),
        ("stall_timeout", "90", "\"90\"", |c| {
            c.worker.stall_timeout == Duration::from_secs(90)
        }),
        ("registry_poll_interval", "1s", "\"1s\"", |c| {
            c.registry.poll_interval == Duration::from_secs(1)
        }),
        ("plugins_inbox", "/in", "\"/in\"", |c| {
            c.plugins_inbox() == Path::new("/in")
        }),
        ("plugin_check_rows", "5000", "5000", |c| {
            c.registry.validation.check_rows == 5000
        }),
        ("plugin_check_call_timeout", "4s", "\"4s\"", |c| {
            c.registry.validation.call_timeout == Duration::from_secs(4)
        }),
        ("plugin_check_timeout", "2m", "\"2m\"", |c| {
            c.registry.validation.budget == Duration::from_secs(120)
        }),
        ("plugin_check_memory_mib", "512", "512", |c| {
            c.registry.validation.max_process_bytes == 512 << 20
        }),
        ("plugin_trap_threshold", "5", "5", |c| {
            c.registry.trap_threshold == 5
        }),
        ("check_builtins", "false", "false", |c| {
            !c.registry.check_builtins
        }),
        (
            "callback_allowed_hosts",
            "Hooks.test, b.test",
            "[\"Hooks.test\", \"b.test\"]",
            |c| c.callbacks.policy.allowed_hosts == ["hooks.test", "b.test"],
        ),
        ("callback_allow_private", "true", "true", |c| {
            c.callbacks.policy.allow_private
        }),
        ("callback_max_attempts", "3", "3", |c| {
            c.callbacks.retry.max_attempts == 3
        }),
        ("callback_retry_base", "1s", "\"1s\"", |c| {
            c.callbacks.retry.base == Duration::from_secs(1)
        }),
        ("callback_retry_max", "10m", "\"10m\"", |c| {
            c.callbacks.retry.max == Duration::from_secs(600)
        }),
        ("callback_timeout", "20s", "\"20s\"", |c| {
            c.callbacks.timeout == Duration::from_secs(20)
        }),
    ];

    #[test]
    fn every_flat_name_still_works_in_the_environment_and_in_a_file() {
        let covered: Vec<&str> = FLAT_CASES.iter().map(|case| case.0).collect();
        let aliases: Vec<&str> = FLAT_KEYS.iter().map(|(flat, _)| *flat).collect();
        assert_eq!(covered, aliases, "one case per flat key, in order");
        let dir = tempfile::tempdir().unwrap();
        for &(flat, env_value, toml_value, check) in FLAT_CASES {
            let name = format!("EXPORTER_{}", flat.to_ascii_uppercase());
            let config = Config::load_from(None, &[(name.clone(), env_value.into())])
                .unwrap_or_else(|e| panic!("{name}={env_value}: {e:#}"));
            assert!(check(&config), "{name}={env_value}: {config:#?}");
            let path = file(&dir, &format!("{flat} = {toml_value}\n"));
            let config = Config::load_from(Some(&path), &[])
                .unwrap_or_else(|e| panic!("{flat} = {toml_value}: {e:#}"));
            assert!(check(&config), "{flat} = {toml_value}: {config:#?}");
        }
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(&dir, "retentoin = \"1h\"\n");
        let error = refusal(Some(&path), &[]);
        assert!(
            error.contains("\"retentoin\"") && error.contains(&path.display().to_string()),
            "{error}"
        );
        let path = file(&dir, "[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n");
        let error = refusal(Some(&path), &[]);
        assert!(error.contains("\"server.lisen\""), "{error}");
        let path = file(&dir, "[sandbx]\nmemory_bytes = 1\n");
        let error = refusal(Some(&path), &[]);
        assert!(error.contains("\"sandbx\""), "{error}");
        // Sources are named by the operator; a typo inside one is its
        // type's to refuse.
        let path = file(
            &dir,
            "[sources.shop]\nurl = \"sqlite://x.db\"\nmax-conections = 2\n",
        );
        let error = refusal(Some(&path), &[]);
        assert!(error.contains("max-conections"), "{error}");
        // Not configurable: set by the command, or by tests in code.
        let path = file(&dir, "serve_api = false\n");
        assert!(refusal(Some(&path), &[]).contains("serve_api"));
        let path = file(&dir, "[registry.validation]\nvalidator = \"/bin/true\"\n");
        let error = refusal(Some(&path), &[]);
        assert!(error.contains("registry.validation.validator"), "{error}");

        let error = refusal(None, &[("EXPORTER_SANDBOX__MEMORY_BYTE", "1")]);
        assert!(
            error.contains("EXPORTER_SANDBOX__MEMORY_BYTE")
                && error.contains("sandbox.memory_byte"),
            "{error}"
        );
        // A section key with one underscore is no flat name: the message
        // says how to write it.
        let error = refusal(None, &[("EXPORTER_SANDBOX_MEMORY_BYTES", "1")]);
        assert!(
            error.contains("did you mean EXPORTER_SANDBOX__MEMORY_BYTES?"),
            "{error}"
        );
        let error = refusal(None, &[("EXPORTER_WORKER__", "1")]);
        assert!(error.contains("EXPORTER_WORKER__"), "{error}");
    }

    #[test]
    fn a_setting_set_twice_in_one_layer_is_refused() {
        let error = refusal(
            None,
            &[
                ("EXPORTER_WORKER_CONCURRENCY", "2"),
                ("EXPORTER_WORKER__CONCURRENCY", "3"),
            ],
        );
        assert!(
            error.contains("EXPORTER_WORKER_CONCURRENCY")
                && error.contains("EXPORTER_WORKER__CONCURRENCY"),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = file(&dir, "retention = \"1h\"\n[exports]\nretention = \"2h\"\n");
        let error = refusal(Some(&path), &[]);
        assert!(
            error.contains("both retention and exports.retention"),
            "{error}"
        );
    }

    #[test]
    fn sandbox_limits_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(
            &dir,
            "[sandbox]\nmemory_bytes = \"48MiB\"\ncall_timeout = \"2s\"\nexport_timeout = \"10m\"\n\
             max_output_bytes = \"1GiB\"\nmax_chunk_bytes = 65536\nstderr_bytes = \"4KiB\"\n\
             drop_timeout = \"500ms\"\nmax_log_lines = 10\nmax_log_bytes = 0\n",
        );
        let config = Config::load_from(Some(&path), &[]).unwrap();
        assert_eq!(
            config.sandbox,
            SandboxLimits {
                memory_bytes: 48 << 20,
                call_timeout: Duration::from_secs(2),
                export_timeout: Duration::from_secs(600),
                max_output_bytes: 1 << 30,
                max_chunk_bytes: 65_536,
                stderr_bytes: 4096,
                drop_timeout: Duration::from_millis(500),
                max_log_lines: 10,
                max_log_bytes: 0,
            }
        );
        // Install-time validation may not allow more than the exports.
        let settings = crate::service::registry_settings(&config);
        assert_eq!(settings.validation.memory_bytes, 48 << 20);

        let path = file(&dir, "[sandbox]\nmemory_bytes = 0\n");
        let error = refusal(Some(&path), &[]);
        assert!(
            error.contains("sandbox.memory_bytes must be at least 64KiB")
                && error.contains(&path.display().to_string()),
            "{error}"
        );
        let error = refusal(None, &[("EXPORTER_SANDBOX__CALL_TIMEOUT", "0s")]);
        assert!(
            error.contains(
                "sandbox.call_timeout must be positive (from EXPORTER_SANDBOX__CALL_TIMEOUT)"
            ),
            "{error}"
        );
        let error = refusal(None, &[("EXPORTER_SANDBOX__MAX_OUTPUT_BYTES", "1PiB")]);
        assert!(error.contains("PiB"), "{error}");
    }

    #[test]
    fn origins_are_kept_and_printed_with_secrets_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(
            &dir,
            "link_ttl = \"2h\"\n[server]\nlisten = \"0.0.0.0:9000\"\n[auth]\njwt_secret = \"from-the-file\"\n",
        );
        let effective = Effective::load_from(
            Some(&path),
            &env(&[
                ("EXPORTER_RETENTION", "3h"),
                ("EXPORTER_SANDBOX__MEMORY_BYTES", "32MiB"),
                ("EXPORTER_JWT_SECRET", "from-the-environment"),
            ]),
        )
        .unwrap();
        let from_file = format!("from {}", path.display());
        assert_eq!(effective.origin("links.ttl"), from_file);
        assert_eq!(effective.origin("server.listen"), from_file);
        assert_eq!(
            effective.origin("exports.retention"),
            "from EXPORTER_RETENTION"
        );
        assert_eq!(
            effective.origin("auth.jwt_secret"),
            "from EXPORTER_JWT_SECRET"
        );
        assert_eq!(effective.origin("worker.concurrency"), "default");
        assert_eq!(effective.origin("blob.url"), "default, under data_dir");

        let text = effective.to_toml().unwrap();
        for line in [
            format!("ttl = \"2h\"  # {from_file}"),
            format!("listen = \"0.0.0.0:9000\"  # {from_file}"),
            "retention = \"3h\"  # from EXPORTER_RETENTION".into(),
            "memory_bytes = \"32MiB\"  # from EXPORTER_SANDBOX__MEMORY_BYTES".into(),
            "jwt_secret = \"<hidden>\"  # from EXPORTER_JWT_SECRET".into(),
            "concurrency = 2  # default".into(),
            "# public_url: unset  # default".into(),
            "[registry.validation]".into(),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("from-the-"), "{text}");

        // What it prints reads back as the same configuration, but for
        // the secret, whose placeholder is refused.
        std::fs::write(&path, &text).unwrap();
        let error = refusal(Some(&path), &[]);
        assert!(error.contains("placeholder"), "{error}");
        std::fs::write(&path, text.replace("jwt_secret = \"<hidden>\"", "")).unwrap();
        let again = Config::load_from(Some(&path), &[]).unwrap();
        let mut expected = effective.config.clone();
        expected.auth.jwt_secret = None;
        assert_eq!(format!("{again:?}"), format!("{expected:?}"));
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
