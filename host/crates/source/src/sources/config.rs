//! What an operator writes for a named source:
//!
//! ```toml
//! [sources.warehouse]
//! url = "postgres://reader@replica/app"   # sqlite://path/app.db, mysql://user:pw@host/db, mariadb://…
//! max-connections = 4
//! statement-timeout = "1h"
//! ```
//!
//! The URL may carry a password: it never reaches `Debug`, a printed
//! configuration or an error message ([`SourceConfig::redacted_url`],
//! [`scrub`]).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use exporter_settings::Invalid;
use serde::{Deserialize, Serialize};

use super::SourceEngine;

/// The name that means the service's own database; no configured source
/// may take it.
pub const DEFAULT_SOURCE: &str = "default";

/// What a password reads as in a redacted URL. A URL whose password is
/// this text is a printed configuration read back, not a real password,
/// and is refused by [`SourceConfig::validate`].
pub const HIDDEN_PASSWORD: &str = "***";

/// One `[sources.NAME]` section.
#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SourceConfig {
    /// `postgres://…`, `sqlite://path`, `mysql://…` or `mariadb://…`.
    /// Printed back (`config show`) without its password.
    #[serde(serialize_with = "serialize_redacted")]
    pub url: String,
    /// Each export holds one connection while it streams; four lets a few
    /// exports run side by side without weighing much on a database the
    /// service does not own.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// The longest one statement may run on the source's side (PostgreSQL
    /// `statement_timeout`, MariaDB `max_statement_time`, MySQL
    /// `max_execution_time`; SQLite has none). It stops a runaway query on
    /// a database the service does not own. Note that an export reads its
    /// rows with one streaming SELECT, and the engines count the time spent
    /// sending rows to a slow reader too: this bounds how long one export
    /// may read from the source, so set it above the longest export
    /// (default: one hour).
    #[serde(
        default = "default_statement_timeout",
        with = "exporter_settings::duration"
    )]
    pub statement_timeout: Duration,
}

fn default_max_connections() -> u32 {
    4
}

/// An hour: an export reads its rows with one streaming statement, whose
/// time the engines count whole, so the default must outlast a large
/// export while still ending a query that would run for ever.
fn default_statement_timeout() -> Duration {
    Duration::from_secs(3600)
}

impl SourceConfig {
    /// A source at `url` with the default limits.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: default_max_connections(),
            statement_timeout: default_statement_timeout(),
        }
    }

    /// The engine the URL's scheme names, if it is one we read.
    pub fn engine(&self) -> Option<SourceEngine> {
        SourceEngine::from_url(&self.url)
    }

    /// The URL without its password (also a `password=` query parameter),
    /// for messages, logs and a printed configuration.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    /// What makes no sense: an engine we cannot read, no connection, no
    /// timeout, a password that is the redaction placeholder.
    pub fn validate(&self) -> Result<(), Invalid> {
        exporter_settings::first_invalid([
            (
                "url",
                self.engine().is_some(),
                "a postgres://, sqlite://, mysql:// or mariadb:// URL",
            ),
            (
                "url",
                url_password(&self.url).as_deref() != Some(HIDDEN_PASSWORD),
                "the real URL, not one printed with its password hidden (***)",
            ),
            ("max-connections", self.max_connections >= 1, "at least 1"),
            (
                "statement-timeout",
                self.statement_timeout >= Duration::from_millis(1),
                "at least 1ms",
            ),
        ])
    }
}

impl fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceConfig")
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

fn serialize_redacted<S: serde::Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact(url))
}

/// Whether `name` may name a source: `[a-z][a-z0-9_-]{0,62}`, so it can
/// appear in a dataset definition, a URL path and a metric label as is.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Checks every `[sources.*]` section: names, the reserved `default`, and
/// each section's [`SourceConfig::validate`]. The field of the refusal is
/// the whole key (`sources.warehouse.max-connections`).
pub fn validate_sources(sources: &BTreeMap<String, SourceConfig>) -> Result<(), Invalid> {
    for (name, config) in sources {
        if name == DEFAULT_SOURCE {
            return Err(Invalid {
                field: format!("sources.{name}"),
                must: "left out: `default` is the service's own database ([database].url) \
                       and cannot be configured as a source",
            });
        }
        if !valid_name(name) {
            return Err(Invalid {
                field: format!("sources.{}", name.escape_debug()),
                must: "named with a lower-case letter, then up to 62 lower-case letters, \
                       digits, `_` or `-`",
            });
        }
        config
            .validate()
            .map_err(|invalid| invalid.within(&format!("sources.{name}")))?;
    }
    Ok(())
}

/// `url` without its password: the userinfo password and any
/// `password`/`sslpassword` query parameter read `***`. A URL that does
/// not parse loses everything between `://` and its last `@` but the user.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some(HIDDEN_PASSWORD));
            }
            if parsed.query_pairs().any(|(k, _)| is_password_key(&k)) {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if is_password_key(&k) {
                            HIDDEN_PASSWORD.to_owned()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        Err(_) => redact_by_hand(url),
    }
}

fn is_password_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword")
}

/// For a URL `url::Url` refuses: keep the scheme, the user and the host;
/// hide the rest of the userinfo and every query.
fn redact_by_hand(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some(parts) => parts,
        None => return "<a URL that does not parse>".to_owned(),
    };
    let rest = rest.split('?').next().unwrap_or_default();
    let hidden_query = if url.contains('?') { "?***" } else { "" };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:{HIDDEN_PASSWORD}@{host}{hidden_query}")
        }
        None => format!("{scheme}://{rest}{hidden_query}"),
    }
}

/// The secrets `url` carries, as written and percent-decoded.
fn secrets(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    match url::Url::parse(url) {
        Ok(parsed) => {
            if let Some(password) = parsed.password() {
                found.push(password.to_owned());
            }
            for (k, v) in parsed.query_pairs() {
                if is_password_key(&k) {
                    found.push(v.into_owned());
                }
            }
            let encoded: Vec<String> = found
                .iter()
                .map(|s| url::form_urlencoded::byte_serialize(s.as_bytes()).collect())
                .collect();
            found.extend(encoded);
            let decoded: Vec<String> = found
                .iter()
                .filter_map(|s| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                })
                .collect();
            found.extend(decoded);
        }
        Err(_) => {
            // The same cut redact_by_hand makes: all after the user.
            if let Some((_, rest)) = url.split_once("://")
                && let Some((userinfo, _)) = rest.rsplit_once('@')
                && let Some((_, password)) = userinfo.split_once(':')
            {
                found.push(password.to_owned());
            }
            if let Some((_, query)) = url.split_once('?') {
                found.push(query.to_owned());
            }
        }
    }
    found.retain(|s| !s.is_empty() && s != HIDDEN_PASSWORD);
    // Longest first, so a secret containing another is hidden whole.
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found.dedup();
    found
}

/// `text` (an error message, say, from a driver that may quote what it was
/// given) with every secret of `url` replaced by `***`.
pub fn scrub(text: &str, url: &str) -> String {
    let mut text = text.to_owned();
    for secret in secrets(url) {
        text = text.replace(&secret, HIDDEN_PASSWORD);
    }
    text
}

fn url_password(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed.password().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_defaults_and_kebab_keys() {
        let config: SourceConfig =
            toml_like(r#"{"url": "postgres://reader@replica/app"}"#).expect("parses");
        assert_eq!(config.max_connections, 4);
        assert_eq!(config.statement_timeout, Duration::from_secs(3600));
        let config: SourceConfig = toml_like(
            r#"{"url": "sqlite://a.db", "max-connections": 2, "statement-timeout": "30s"}"#,
        )
        .expect("parses");
        assert_eq!(config.max_connections, 2);
        assert_eq!(config.statement_timeout, Duration::from_secs(30));
        assert!(
            toml_like::<SourceConfig>(r#"{"url": "sqlite://a.db", "max_connections": 2}"#).is_err()
        );
    }

    fn toml_like<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn sources_passwords_never_print() {
        let config =
            SourceConfig::new("mysql://app:s3cr%40t@db.internal:3306/shop?password=other1");
        let shown = format!(
            "{config:?} {} {}",
            config.redacted_url(),
            serde_json::to_string(&config).unwrap()
        );
        for secret in ["s3cr", "other1"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(
            config.redacted_url(),
            "mysql://app:***@db.internal:3306/shop?password=***"
        );
        let message = scrub(
            "could not log in as app with s3cr@t (s3cr%40t) or other1",
            &config.url,
        );
        assert_eq!(message, "could not log in as app with *** (***) or ***");
        // Not a URL `url` reads: cut by hand.
        assert_eq!(
            redact("mysql://app:p@ss:w@rd@[bad/db"),
            "mysql://app:***@[bad/db"
        );
        assert!(!scrub("pw p@ss:w@rd", "mysql://app:p@ss:w@rd@[bad/db").contains("p@ss"));
    }

    #[test]
    fn sources_validate_names_and_settings() {
        let mut sources = BTreeMap::new();
        sources.insert("warehouse".to_owned(), SourceConfig::new("postgres://h/db"));
        assert_eq!(validate_sources(&sources), Ok(()));

        let mut reserved = sources.clone();
        reserved.insert("default".to_owned(), SourceConfig::new("postgres://h/db"));
        let refusal = validate_sources(&reserved).unwrap_err().to_string();
        assert!(refusal.contains("sources.default") && refusal.contains("own database"));

        for bad in ["Warehouse", "1st", "", "a b", &"a".repeat(64)] {
            let mut named = BTreeMap::new();
            named.insert(bad.to_owned(), SourceConfig::new("postgres://h/db"));
            assert!(validate_sources(&named).is_err(), "{bad:?}");
        }
        assert!(valid_name(&"a".repeat(63)) && valid_name("w_2-b"));

        let mut bad = SourceConfig::new("oracle://h/db");
        assert_eq!(bad.validate().unwrap_err().field, "url");
        bad.url = "mariadb://u:***@h/db".to_owned();
        assert_eq!(bad.validate().unwrap_err().field, "url");
        bad.url = "mariadb://u:pw@h/db".to_owned();
        bad.max_connections = 0;
        let mut named = BTreeMap::new();
        named.insert("shop".to_owned(), bad);
        assert_eq!(
            validate_sources(&named).unwrap_err().field,
            "sources.shop.max-connections"
        );
    }
}
