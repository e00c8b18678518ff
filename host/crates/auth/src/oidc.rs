//! Signing in with an OpenID Connect provider: the authorization code flow
//! with PKCE (RFC 7636, S256), for the console.
//!
//! The provider is found by discovery (`/.well-known/openid-configuration`)
//! on first use and its signing keys (JWKS) are cached, fetched again when a
//! token names a key the cache lacks (the provider rotated). The ID token is
//! verified here with `jsonwebtoken`, which already verifies the API's
//! bearer tokens: signature by the provider's key (asymmetric algorithms
//! only, so a key can never double as an HMAC secret), issuer, audience,
//! expiry and the nonce of this sign-in. A second JOSE stack (the
//! `openidconnect` crate) would bring its own HTTP client and crypto for
//! these few checks. The user is the one whose email the provider says it
//! verified (`email_verified`); an unverified email signs no one in.

use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::RwLock;

use super::sessions::{random_token, same_secret};
use exporter_store::Secret;

/// How long the provider may take to answer one request.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// The provider this service signs people in with.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The issuer URL (discovery is under it).
    pub issuer: String,
    pub client_id: String,
    /// For a confidential client; a public client (PKCE alone) has none.
    pub client_secret: Option<Secret>,
    /// Where the provider sends the browser back:
    /// `<public URL>/api/session/oidc/callback`.
    pub redirect_url: String,
}

/// What discovery says (the fields this flow uses).
#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// One sign-in on its way through the provider: kept by the browser in a
/// short-lived `HttpOnly` cookie and checked when it comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl PendingSignIn {
    fn new() -> Self {
        Self {
            state: random_token(),
            nonce: random_token(),
            verifier: random_token(),
        }
    }

    /// The cookie's value: three URL-safe base64 words, dot-separated.
    pub fn to_cookie(&self) -> String {
        format!("{}.{}.{}", self.state, self.nonce, self.verifier)
    }

    pub fn from_cookie(value: &str) -> Option<Self> {
        let mut words = value.split('.');
        let (state, nonce, verifier) = (words.next()?, words.next()?, words.next()?);
        let word = |w: &str| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        (words.next().is_none() && word(state) && word(nonce) && word(verifier)).then(|| Self {
            state: state.to_owned(),
            nonce: nonce.to_owned(),
            verifier: verifier.to_owned(),
        })
    }

    /// The PKCE challenge: base64url(SHA-256(verifier)).
    fn challenge(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(self.verifier.as_bytes()))
    }
}

/// Why a sign-in through the provider signed no one in, in words for the
/// person signing in.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    #[error("the sign-in expired or was started in another browser; start again")]
    StateMismatch,
    #[error("the identity provider did not confirm an email address for this account")]
    NoVerifiedEmail,
    #[error("could not complete the sign-in with the identity provider: {0:#}")]
    Provider(anyhow::Error),
}

/// The provider's discovery and keys, fetched on first use.
pub struct OidcClient {
    settings: OidcSettings,
    http: reqwest::Client,
    metadata: RwLock<Option<Metadata>>,
    keys: RwLock<Vec<Jwk>>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct ProviderError {
    error: String,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct IdClaims {
    nonce: Option<String>,
    email: Option<String>,
    #[serde(default)]
    email_verified: EmailVerified,
}

/// `email_verified` is a boolean, but some providers send "true".
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum EmailVerified {
    Bool(bool),
    Text(String),
    #[default]
    Absent,
}

impl EmailVerified {
    fn is_true(&self) -> bool {
        match self {
            EmailVerified::Bool(b) => *b,
            EmailVerified::Text(t) => t.eq_ignore_ascii_case("true"),
            EmailVerified::Absent => false,
        }
    }
}

impl OidcClient {
    pub fn new(settings: OidcSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            // The provider's answers are read as they are: a redirect from
            // a token endpoint is a misconfiguration, not a hop to follow.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the identity provider's HTTP client")?;
        Ok(Self {
            settings,
            http,
            metadata: RwLock::new(None),
            keys: RwLock::new(Vec::new()),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    async fn metadata(&self) -> anyhow::Result<Metadata> {
        if let Some(metadata) = self.metadata.read().await.clone() {
            return Ok(metadata);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer.trim_end_matches('/')
        );
        let metadata: Metadata = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("reading {url}"))?
            .json()
            .await
            .with_context(|| format!("{url} is not OpenID provider metadata"))?;
        // OpenID Connect Discovery 1.0, 4.3: the issuer must be the one asked.
        ensure!(
            metadata.issuer.trim_end_matches('/') == self.settings.issuer.trim_end_matches('/'),
            "the provider at {url} names itself {:?}, not the configured issuer",
            metadata.issuer
        );
        *self.metadata.write().await = Some(metadata.clone());
        Ok(metadata)
    }

    /// Where to send the browser, and what to keep until it comes back.
    pub async fn begin(&self) -> anyhow::Result<(String, PendingSignIn)> {
        let metadata = self.metadata().await?;
        let pending = PendingSignIn::new();
        let mut url = url::Url::parse(&metadata.authorization_endpoint)
            .context("the provider's authorization endpoint is not a URL")?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.settings.redirect_url)
            .append_pair("scope", "openid email")
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &pending.challenge())
            .append_pair("code_challenge_method", "S256");
        Ok((url.into(), pending))
    }

    /// The verified email of whoever the provider signed in, from the code
    /// it sent back with `state`.
    pub async fn finish(
        &self,
        pending: &PendingSignIn,
        state: &str,
        code: &str,
    ) -> Result<String, SignInError> {
        if !same_secret(&pending.state, state) {
            return Err(SignInError::StateMismatch);
        }
        let metadata = self.metadata().await.map_err(SignInError::Provider)?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.settings.redirect_url.as_str()),
            ("client_id", self.settings.client_id.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        if let Some(secret) = &self.settings.client_secret {
            form.push(("client_secret", secret.expose()));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        let response = self
            .http
            .post(&metadata.token_endpoint)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| SignInError::Provider(anyhow::Error::new(e).context("token request")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| SignInError::Provider(e.into()))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ProviderError>(&body) {
                Ok(e) => SignInError::Refused(match e.error_description {
                    Some(description) => format!("{} ({description})", e.error),
                    None => e.error,
                }),
                Err(_) => {
                    SignInError::Provider(anyhow::anyhow!("the token endpoint answered {status}"))
                }
            });
        }
        let tokens: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            SignInError::Provider(anyhow::Error::new(e).context("the token response"))
        })?;
        let id_token = tokens.id_token.ok_or_else(|| {
            SignInError::Provider(anyhow::anyhow!("the token response has no id_token"))
        })?;
        let claims = self
            .verify(&metadata, &id_token)
            .await
            .map_err(SignInError::Provider)?;
        let nonce_matches = claims
            .nonce
            .as_deref()
            .is_some_and(|n| same_secret(n, &pending.nonce));
        if !nonce_matches {
            return Err(SignInError::Provider(anyhow::anyhow!(
                "the ID token is not for this sign-in (nonce)"
            )));
        }
        match claims.email {
            Some(email) if claims.email_verified.is_true() && !email.is_empty() => Ok(email),
            _ => Err(SignInError::NoVerifiedEmail),
        }
    }

    /// Checks the ID token's signature, issuer, audience and expiry.
    async fn verify(&self, metadata: &Metadata, id_token: &str) -> anyhow::Result<IdClaims> {
        let header = jsonwebtoken::decode_header(id_token).context("the ID token is not a JWT")?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            bail!(
                "the ID token is signed with {:?}; only a provider's public key is accepted",
                header.alg
            );
        }
        let key = match self.key(metadata, header.kid.as_deref(), false).await? {
            Some(key) => key,
            // A key the cache lacks: the provider may have rotated.
            None => self
                .key(metadata, header.kid.as_deref(), true)
                .await?
                .context("the ID token is signed by a key the provider does not publish")?,
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = super::EXPIRY_LEEWAY_SECONDS;
        validation.set_issuer(&[metadata.issuer.as_str()]);
        validation.set_audience(&[self.settings.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<IdClaims>(id_token, &key, &validation)
            .context("the ID token does not verify")?;
        Ok(data.claims)
    }

    /// The provider's key `kid` (or its only key when the token names none).
    async fn key(
        &self,
        metadata: &Metadata,
        kid: Option<&str>,
        refresh: bool,
    ) -> anyhow::Result<Option<DecodingKey>> {
        if refresh || self.keys.read().await.is_empty() {
            let set: serde_json::Value = self
                .http
                .get(&metadata.jwks_uri)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .with_context(|| format!("reading the provider's keys at {}", metadata.jwks_uri))?
                .json()
                .await
                .context("the provider's keys are not a JWK set")?;
            // A key of a type this library does not know is skipped, not
            // fatal: the set may hold several.
            let keys = set["keys"]
                .as_array()
                .map(|keys| {
                    keys.iter()
                        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                        .collect()
                })
                .unwrap_or_default();
            *self.keys.write().await = keys;
        }
        let keys = self.keys.read().await;
        let jwk = match kid {
            Some(kid) => keys
                .iter()
                .find(|k| k.common.key_id.as_deref() == Some(kid)),
            None if keys.len() == 1 => keys.first(),
            None => None,
        };
        jwk.map(DecodingKey::from_jwk)
            .transpose()
            .context("the provider's key cannot verify signatures")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_sign_ins_round_trip_through_their_cookie_and_refuse_tampering() {
        let pending = PendingSignIn::new();
        assert_eq!(
            PendingSignIn::from_cookie(&pending.to_cookie()),
            Some(pending.clone())
        );
        assert_eq!(PendingSignIn::from_cookie("a.b"), None);
        assert_eq!(PendingSignIn::from_cookie("a.b.c.d"), None);
        assert_eq!(PendingSignIn::from_cookie("a.b.c;d"), None);
        assert_eq!(PendingSignIn::from_cookie("a..c"), None);
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s_s256() {
        // RFC 7636, appendix B.
        let pending = PendingSignIn {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
        };
        assert_eq!(
            pending.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
