//! Callback signatures: HMAC-SHA256 over `"{timestamp}.{body}"` with the
//! organization's secret, sent as
//!
//! ```text
//! Exporter-Signature: t=1764422400,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//! ```
//!
//! The timestamp (Unix seconds) is signed with the body, so a receiver that
//! refuses old timestamps also refuses replays. While a rotated secret's
//! predecessor is still valid, a second `v1=` carries the signature with
//! it: receivers accept either, and can switch secrets without a gap.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "Exporter-Signature";

type HmacSha256 = Hmac<Sha256>;

/// A new secret: `whsec_` and 32 random bytes in hex.
pub fn new_secret() -> String {
    format!("whsec_{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// Hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The header value, signed with each of `secrets` (current first).
pub fn header_value(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut value = format!("t={timestamp}");
    for secret in secrets {
        value.push_str(",v1=");
        value.push_str(&sign(secret, timestamp, body));
    }
    value
}

/// Why a receiver should refuse a delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature is {age} s old, more than the {tolerance} s allowed")]
    TooOld { age: i64, tolerance: i64 },
    #[error("no signature matches the secret")]
    Mismatch,
}

/// What a receiver does (and what the tests do): checks the timestamp is
/// within `tolerance` seconds of `now` and that some `v1=` matches, in
/// constant time.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => {
                signatures.push(hex::decode(value).map_err(|_| VerifyError::Malformed)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    let age = (now - timestamp).abs();
    if age > tolerance {
        return Err(VerifyError::TooOld { age, tolerance });
    }
    for signature in signatures {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if mac.verify_slice(&signature).is_ok() {
            return Ok(());
        }
    }
    Err(VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_either_secret_during_rotation() {
        let (old, new) = (new_secret(), new_secret());
        assert!(new.starts_with("whsec_") && new.len() == 6 + 64 && old != new);
        let body = br#"{"id":"01J","status":"Completed"}"#;
        let header = header_value(&[&new, &old], 1_000, body);
        assert!(header.starts_with("t=1000,v1="));
        assert_eq!(verify(&new, &header, body, 1_010, 300), Ok(()));
        assert_eq!(verify(&old, &header, body, 1_010, 300), Ok(()));
        assert_eq!(
            verify(&new_secret(), &header, body, 1_010, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&new, &header, b"{}", 1_010, 300),
            Err(VerifyError::Mismatch),
            "the body is signed"
        );
        assert_eq!(
            verify(&new, &header.replace("t=1000", "t=1001"), body, 1_010, 300),
            Err(VerifyError::Mismatch),
            "the timestamp is signed"
        );
        assert_eq!(
            verify(&new, &header, body, 2_000, 300),
            Err(VerifyError::TooOld {
                age: 1_000,
                tolerance: 300
            })
        );
        assert_eq!(
            verify(&new, "v1=zz", body, 1_000, 300),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn a_known_vector() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'whsec_test', b'1700000000.{}', hashlib.sha256).hexdigest())"
        assert_eq!(
            sign("whsec_test", 1_700_000_000, b"{}"),
            "35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }
}
