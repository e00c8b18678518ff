//! Bearer tokens: HS256 with the service's secret by default, or RS256/ES256
//! verified with an external identity provider's public key.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{Caller, Role};
use exporter_store::Secret;

/// How many seconds past its `exp` (or before its `nbf`) a token is still
/// accepted: the clocks of an identity provider and of this service are
/// never quite the same, and a token refused for a second of drift would
/// fail a client that did nothing wrong. Thirty seconds is what
/// `jsonwebtoken` and most identity providers use; the API's OpenAPI
/// document states it in its security scheme and 401 descriptions.
pub const EXPIRY_LEEWAY_SECONDS: u64 = 30;

/// What a token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// The user's organization id.
    pub org: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub iat: u64,
    pub exp: u64,
}

/// Why a token was refused. The API answers every case with the same 401;
/// the reason goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("this service verifies tokens from an identity provider and cannot issue them")]
    CannotIssue,
}

/// Keys to verify (and, with a secret, issue) tokens.
#[derive(Clone)]
pub struct TokenKeys {
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// HS256 with a shared secret: the service issues and verifies.
    pub fn from_secret(secret: &Secret) -> Self {
        let bytes = secret.expose().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = EXPIRY_LEEWAY_SECONDS;
        Self {
            decoding: DecodingKey::from_secret(bytes),
            encoding: Some(EncodingKey::from_secret(bytes)),
            validation,
        }
    }

    /// An identity provider's PEM public key (RSA: RS256; EC P-256: ES256).
    pub fn from_public_key_file(path: &Path) -> anyhow::Result<Self> {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading JWT public key {}", path.display()))?;
        let (decoding, algorithm) = match DecodingKey::from_rsa_pem(&pem) {
            Ok(key) => (key, Algorithm::RS256),
            Err(_) => (
                DecodingKey::from_ec_pem(&pem).with_context(|| {
                    format!("{} is neither an RSA nor an EC public key", path.display())
                })?,
                Algorithm::ES256,
            ),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = EXPIRY_LEEWAY_SECONDS;
        Ok(Self {
            decoding,
            encoding: None,
            validation,
        })
    }

    /// Signs a token for `caller`, valid for `ttl`.
    pub fn issue(
        &self,
        caller: &Caller,
        email: Option<&str>,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        let encoding = self.encoding.as_ref().ok_or(TokenError::CannotIssue)?;
        let now = unix_now();
        let claims = Claims {
            sub: caller.user_id.clone(),
            org: caller.organization_id.clone(),
            role: caller.role,
            email: email.map(str::to_owned),
            iat: now,
            exp: now + ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Checks a token's signature and expiry and returns its caller.
    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e.to_string()),
            })?;
        let claims = data.claims;
        if claims.sub.is_empty() || claims.org.is_empty() {
            return Err(TokenError::Invalid("sub and org must not be empty".into()));
        }
        Ok(Caller {
            user_id: claims.sub,
            organization_id: claims.org,
            role: claims.role,
        })
    }
}

/// The HS256 secret of the embedded defaults: read from `dir/jwt-secret`,
/// or generated there (owner-only) on first start, so tokens outlive
/// restarts and `exporter token` signs with the same key as the server.
pub fn load_or_create_secret(dir: &Path) -> anyhow::Result<Secret> {
    let path = dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(Secret::new(text.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut file) => {
            use std::io::Write as _;
            file.write_all(secret.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(Secret::new(secret))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(Secret::new(text.trim()))
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            user_id: "u1".into(),
            organization_id: "o1".into(),
            role: Role::Manager,
        }
    }

    #[test]
    fn issued_tokens_verify_and_tampering_fails() {
        let keys = TokenKeys::from_secret(&Secret::new("s3cret"));
        let token = keys
            .issue(&caller(), Some("m@acme.test"), Duration::from_secs(60))
            .unwrap();
        assert_eq!(keys.verify(&token).unwrap(), caller());

        let other = TokenKeys::from_secret(&Secret::new("other"));
        assert!(matches!(other.verify(&token), Err(TokenError::Invalid(_))));

        // Flip the role inside the payload: the signature no longer matches.
        let parts: Vec<&str> = token.split('.').collect();
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(engine.decode(parts[1]).unwrap()).unwrap();
        let forged = engine.encode(payload.replace("Manager", "SuperAdmin"));
        let forged = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert!(matches!(keys.verify(&forged), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = TokenKeys::from_secret(&Secret::new("s3cret"));
        let now = unix_now();
        let claims = Claims {
            sub: "u1".into(),
            org: "o1".into(),
            role: Role::Admin,
            email: None,
            iat: now - 7200,
            exp: now - 3600,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(matches!(keys.verify(&token), Err(TokenError::Expired)));
    }

    /// A throwaway P-256 key pair, standing in for an identity provider's.
    const IDP_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgz9foq6Pxh/4KJp9G
Kio59iIjvtPFC/PiUTFxchcI6XGhRANCAAR21YLAza26AWr5tfZvD2S6GZrv5a7O
hx6k7ENF0aCJHBnIZccvx/gv4mtcA+rH6+CqosIPFP0ppfAwRP5prZ7j
-----END PRIVATE KEY-----
";
    const IDP_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEdtWCwM2tugFq+bX2bw9kuhma7+Wu
zocepOxDRdGgiRwZyGXHL8f4L+JrXAPqx+vgqqLCDxT9KaXwMET+aa2e4w==
-----END PUBLIC KEY-----
";

    #[test]
    fn identity_provider_tokens_verify_with_its_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idp.pem");
        std::fs::write(&path, IDP_PUBLIC).unwrap();
        let keys = TokenKeys::from_public_key_file(&path).unwrap();
        let now = unix_now();
        let claims = Claims {
            sub: "u1".into(),
            org: "o1".into(),
            role: Role::Manager,
            email: None,
            iat: now,
            exp: now + 60,
        };
        let signing = EncodingKey::from_ec_pem(IDP_PRIVATE.as_bytes()).unwrap();
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &signing).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), caller());
        // This service holds no private key: it cannot mint tokens...
        assert!(matches!(
            keys.issue(&caller(), None, Duration::from_secs(60)),
            Err(TokenError::CannotIssue)
        ));
        // ...and an HS256 token made with the public key as its secret
        // (the classic algorithm-confusion forgery) is refused.
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(IDP_PUBLIC.as_bytes()),
        )
        .unwrap();
        assert!(keys.verify(&forged).is_err());
    }

    #[test]
    fn the_generated_secret_is_stable_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(dir.path()).unwrap();
        let second = load_or_create_secret(dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.expose().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("jwt-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
