//! Presigned links for the embedded object store: HMAC-SHA256 over
//! `method \n bucket \n key \n expires`, with a 256-bit secret kept in the data directory.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

type HmacSha256 = Hmac<Sha256>;

/// The method a link grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Put,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
        }
    }
}

/// Why a link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LinkError {
    #[error("the link has expired")]
    Expired,
    #[error("the link's signature does not match (altered link, other method or other key)")]
    BadSignature,
}

/// Signs and checks links.
#[derive(Clone)]
pub(crate) struct Signer {
    secret: Arc<[u8; 32]>,
}

impl Signer {
    /// Loads the secret from `path`, creating it (mode 0600) on first use.
    pub async fn load_or_create(path: &Path) -> std::io::Result<Self> {
        if let Ok(bytes) = tokio::fs::read(path).await
            && let Ok(secret) = <[u8; 32]>::try_from(bytes.as_slice())
        {
            return Ok(Self { secret: Arc::new(secret) });
        }
        let mut secret = [0u8; 32];
        secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(path).await?;
        file.write_all(&secret).await?;
        file.sync_all().await?;
        Ok(Self { secret: Arc::new(secret) })
    }

    fn mac(&self, method: Method, bucket: &str, key: &str, expires: i64) -> HmacSha256 {
        // A 32-byte key is always a valid HMAC key.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.secret[..]).unwrap_or_else(|_| unreachable!());
        mac.update(format!("{}\n{bucket}\n{key}\n{expires}", method.as_str()).as_bytes());
        mac
    }

    /// The hex signature of a link.
    pub fn sign(&self, method: Method, bucket: &str, key: &str, expires: i64) -> String {
        let tag = self.mac(method, bucket, key, expires).finalize().into_bytes();
        tag.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Checks a link at time `now` (Unix seconds), in constant time.
    pub fn verify(
        &self,
        method: Method,
        bucket: &str,
        key: &str,
        expires: i64,
        signature: &str,
        now: i64,
    ) -> Result<(), LinkError> {
        let bytes = decode_hex(signature).ok_or(LinkError::BadSignature)?;
        self.mac(method, bucket, key, expires).verify_slice(&bytes).map_err(|_| LinkError::BadSignature)?;
        if now > expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Percent-encodes a key for a URL path, keeping `/` and RFC 3986 unreserved characters.
pub(crate) fn encode_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn links_bind_method_key_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(&dir.path().join("k")).await.unwrap();
        let sig = signer.sign(Method::Get, "b", "t/j/x.csv", 1_000);
        assert_eq!(signer.verify(Method::Get, "b", "t/j/x.csv", 1_000, &sig, 999), Ok(()));
        assert_eq!(signer.verify(Method::Get, "b", "t/j/x.csv", 1_000, &sig, 1_001), Err(LinkError::Expired));
        assert_eq!(signer.verify(Method::Put, "b", "t/j/x.csv", 1_000, &sig, 999), Err(LinkError::BadSignature));
        assert_eq!(signer.verify(Method::Get, "b", "t/j/y.csv", 1_000, &sig, 999), Err(LinkError::BadSignature));
        assert_eq!(signer.verify(Method::Get, "b", "t/j/x.csv", 9_999, &sig, 999), Err(LinkError::BadSignature));
        assert_eq!(signer.verify(Method::Get, "b", "t/j/x.csv", 1_000, "zz", 999), Err(LinkError::BadSignature));
        // The secret persists: a reloaded signer accepts the same link.
        let again = Signer::load_or_create(&dir.path().join("k")).await.unwrap();
        assert_eq!(again.verify(Method::Get, "b", "t/j/x.csv", 1_000, &sig, 999), Ok(()));
    }

    #[test]
    fn paths_are_encoded() {
        assert_eq!(encode_path("t-1/a b/ü.csv"), "t-1/a%20b/%C3%BC.csv");
    }
}
