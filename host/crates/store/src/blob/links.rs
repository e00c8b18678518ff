//! Signed, expiring download links for stores that cannot sign their own
//! (the local filesystem): `GET /api/files/{job}?expires=T&sig=HMAC`, served
//! by the API without a bearer token.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Why a link was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link's signature is not valid")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
}

#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(***)")
    }
}

impl LinkSigner {
    /// Derives the link key from the service secret, so a leaked link key
    /// cannot mint bearer tokens and vice versa.
    pub fn new(secret: &Secret) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(b"exporter download links v1");
        Self {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    fn mac(&self, job_id: &str, expires: u64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(job_id.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The signature of a link to `job_id` valid until `expires` (Unix seconds).
    pub fn sign(&self, job_id: &str, expires: u64) -> String {
        hex::encode(self.mac(job_id, expires).finalize().into_bytes())
    }

    /// Checks a link in constant time, then its expiry.
    pub fn verify(
        &self,
        job_id: &str,
        expires: u64,
        signature: &str,
        now: u64,
    ) -> Result<(), LinkError> {
        let bytes = hex::decode(signature).map_err(|_| LinkError::BadSignature)?;
        self.mac(job_id, expires)
            .verify_slice(&bytes)
            .map_err(|_| LinkError::BadSignature)?;
        if now >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_until_they_expire() {
        let signer = LinkSigner::new(&Secret::new("s"));
        let sig = signer.sign("job1", 1_000);
        assert_eq!(signer.verify("job1", 1_000, &sig, 999), Ok(()));
        assert_eq!(
            signer.verify("job1", 1_000, &sig, 1_000),
            Err(LinkError::Expired)
        );
        assert_eq!(
            signer.verify("job2", 1_000, &sig, 999),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            signer.verify("job1", 2_000, &sig, 999),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            signer.verify("job1", 1_000, "zz", 999),
            Err(LinkError::BadSignature)
        );
        let other = LinkSigner::new(&Secret::new("t"));
        assert_eq!(
            other.verify("job1", 1_000, &sig, 999),
            Err(LinkError::BadSignature)
        );
    }
}
