//! Where a callback may go. Only `http` and `https`; when an allow-list is
//! configured, only its hosts; and never, unless configured otherwise, an
//! address inside the service's own network (loopback, private, link-local,
//! ...): a callback URL is chosen by a client, and must not let it reach
//! what only the service can (server-side request forgery).
//!
//! A host name is resolved and every address it resolves to is checked;
//! the request then goes to the checked address, so a name cannot resolve
//! to a public address at the check and a private one at the connection.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

/// A resolver that does not answer must not hold a create request.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The configured policy: the service's `[callbacks.policy]` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetPolicy {
    /// Host names (or IP literals) callbacks may go to; empty: any public
    /// host. An array, or one comma-separated string; compared in lower
    /// case.
    #[serde(deserialize_with = "host_names")]
    pub allowed_hosts: Vec<String>,
    /// Allow loopback, private and other internal addresses (tests, or a
    /// receiver inside the same network on purpose).
    pub allow_private: bool,
}

/// A callback URL the policy refuses: always the client's mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("callbackUrl {0:?} is not a URL")]
    NotAUrl(String),
    #[error("callbackUrl must be http or https, not {0:?}")]
    Scheme(String),
    #[error("callbackUrl must not carry a user name or password")]
    Credentials,
    #[error("callbackUrl host {host:?} is not one of the allowed hosts: {allowed}")]
    NotAllowed { host: String, allowed: String },
    #[error("callbackUrl host {host:?} resolves to {address}, an internal address")]
    Internal { host: String, address: IpAddr },
    #[error("callbackUrl host {host:?} does not resolve: {reason}")]
    Unresolved { host: String, reason: String },
}

/// Host names as [`TargetPolicy::allowed_hosts`] keeps them: trimmed,
/// lower case, none empty.
fn host_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let names = exporter_settings::list::deserialize(deserializer)?;
    Ok(names.into_iter().map(|h| h.to_ascii_lowercase()).collect())
}

impl TargetPolicy {
    /// The URL's form and host, without resolving it.
    pub fn check_url(&self, text: &str) -> Result<Url, TargetError> {
        let url = Url::parse(text).map_err(|_| TargetError::NotAUrl(text.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetError::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Credentials);
        }
        let host = url
            .host_str()
            .ok_or_else(|| TargetError::NotAUrl(text.to_owned()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if !self.allowed_hosts.is_empty()
            && !self
                .allowed_hosts
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(&host))
        {
            return Err(TargetError::NotAllowed {
                host,
                allowed: self.allowed_hosts.join(", "),
            });
        }
        if let Ok(address) = host.parse::<IpAddr>() {
            self.check_address(&host, address)?;
        }
        Ok(url)
    }

    /// Resolves the URL's host and checks every address: the addresses to
    /// connect to.
    pub async fn resolve(&self, url: &Url) -> Result<Vec<SocketAddr>, TargetError> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(443);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((bare, port)))
                .await
                .map_err(|_| TargetError::Unresolved {
                    host: host.to_owned(),
                    reason: format!("no answer within {RESOLVE_TIMEOUT:?}"),
                })?
                .map_err(|e| TargetError::Unresolved {
                    host: host.to_owned(),
                    reason: e.to_string(),
                })?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(TargetError::Unresolved {
                host: host.to_owned(),
                reason: "no addresses".into(),
            });
        }
        for address in &addresses {
            self.check_address(host, address.ip())?;
        }
        Ok(addresses)
    }

    fn check_address(&self, host: &str, address: IpAddr) -> Result<(), TargetError> {
        if self.allow_private || is_public(address) {
            Ok(())
        } else {
            Err(TargetError::Internal {
                host: host.to_owned(),
                address,
            })
        }
    }
}

/// Whether `address` is on the public internet: not loopback, private,
/// shared (CGNAT), link-local, unspecified, multicast, broadcast,
/// documentation or otherwise reserved. IPv4-mapped IPv6 is judged as IPv4.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || (first == 0x0064 && v6.segments()[1] == 0xff9b)) // NAT64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> TargetPolicy {
        TargetPolicy::default()
    }

    #[test]
    fn only_http_and_https_without_credentials() {
        assert!(strict().check_url("https://hooks.example.com/x").is_ok());
        assert!(
            strict()
                .check_url("http://hooks.example.com:8080/x?y=1")
                .is_ok()
        );
        assert_eq!(
            strict().check_url("ftp://hooks.example.com/").unwrap_err(),
            TargetError::Scheme("ftp".into())
        );
        assert!(matches!(
            strict().check_url("file:///etc/passwd").unwrap_err(),
            TargetError::Scheme(_)
        ));
        assert!(matches!(
            strict().check_url("not a url").unwrap_err(),
            TargetError::NotAUrl(_)
        ));
        assert_eq!(
            strict()
                .check_url("https://u:p@hooks.example.com/")
                .unwrap_err(),
            TargetError::Credentials
        );
    }

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/", // cloud metadata
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(
                matches!(strict().check_url(url), Err(TargetError::Internal { .. })),
                "{url}"
            );
            let open = TargetPolicy {
                allow_private: true,
                ..TargetPolicy::default()
            };
            assert!(open.check_url(url).is_ok(), "{url}");
        }
        assert!(strict().check_url("http://93.184.215.14/").is_ok());
        assert!(strict().check_url("http://[2606:4700::1111]/").is_ok());
    }

    #[tokio::test]
    async fn names_are_judged_by_what_they_resolve_to() {
        let url = strict().check_url("http://localhost:9/hook").unwrap();
        assert!(matches!(
            strict().resolve(&url).await,
            Err(TargetError::Internal { .. })
        ));
        let open = TargetPolicy {
            allow_private: true,
            ..TargetPolicy::default()
        };
        let addresses = open.resolve(&url).await.unwrap();
        assert!(
            addresses
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 9)
        );
    }

    #[test]
    fn an_allow_list_admits_only_its_hosts() {
        let policy = TargetPolicy {
            allowed_hosts: vec!["hooks.example.com".into()],
            allow_private: false,
        };
        assert!(policy.check_url("https://HOOKS.example.com/a").is_ok());
        assert!(matches!(
            policy.check_url("https://evil.example.com/a").unwrap_err(),
            TargetError::NotAllowed { .. }
        ));
    }
}
