//! The `ObjectStore` port: uploads, results and manifests, S3 style.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::io::AsyncRead;

/// Longest a presigned link may live: links are handed to clients, so they stay short.
pub const MAX_PRESIGN_EXPIRY: Duration = Duration::from_secs(3600);
/// Longest key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// A stream of object bytes.
pub type ByteReader = Pin<Box<dyn AsyncRead + Send>>;

/// An object key: relative, `/`-separated, no empty, `.` or `..` segments, no control
/// characters, at most 1,024 bytes. Spectra's keys always start with the tenant
/// (`<tenant>/<job>/...`), which is how every prefix is scoped by tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates a key.
    pub fn parse(key: &str) -> Result<Self, ObjectError> {
        let bad = |why: &str| Err(ObjectError::InvalidKey { key: key.to_owned(), reason: why.to_owned() });
        if key.is_empty() {
            return bad("empty");
        }
        if key.len() > MAX_KEY_BYTES {
            return bad("longer than 1024 bytes");
        }
        if key.chars().any(|c| c.is_control() || c == '\\') {
            return bad("control character or backslash");
        }
        if key.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
            return bad("empty, '.' or '..' path segment");
        }
        Ok(Self(key.to_owned()))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a list or put tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// Last modification.
    pub modified_at: DateTime<Utc>,
}

/// A link a client can use without credentials until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedUrl {
    /// The URL.
    pub url: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Why an object store call failed.
#[derive(Debug, Error)]
pub enum ObjectError {
    /// No object under the key.
    #[error("no object at {0}")]
    NotFound(ObjectKey),
    /// The key is not acceptable.
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A presign request beyond [`MAX_PRESIGN_EXPIRY`] or otherwise invalid.
    #[error("invalid object store request: {0}")]
    Invalid(String),
    /// Reading the body to upload failed (the producer's stream broke); nothing was stored.
    #[error("upload body failed: {0}")]
    Body(String),
    /// Storage could not be reached or failed; retrying later may succeed.
    #[error("object store unavailable: {0}")]
    Unavailable(String),
}

impl ObjectError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// One bucket of objects. The local-directory store and the S3 adapter both pass
/// `contract::object_store`.
///
/// # Contract
/// - **Atomic puts.** A reader sees the old object or the whole new one, never a part; a put
///   whose body fails stores nothing.
/// - **Read-after-write.** A completed put is visible to get and list at once (S3 is strongly
///   consistent).
/// - **Lists** return every object whose key starts with the prefix, sorted by key.
/// - **Delete** is idempotent: deleting a missing key succeeds.
/// - **Presigned links** grant exactly one method on exactly one key until `expires_at`
///   (at most [`MAX_PRESIGN_EXPIRY`]); an expired or altered link is refused.
/// - **Errors.** Only [`ObjectError::Unavailable`] is retryable.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores `body` under `key`, replacing any object there.
    async fn put(&self, key: &ObjectKey, body: ByteReader) -> Result<ObjectMeta, ObjectError>;

    /// Opens an object for reading.
    async fn get(&self, key: &ObjectKey) -> Result<(ObjectMeta, ByteReader), ObjectError>;

    /// Every object under a prefix (`""` for all), sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, ObjectError>;

    /// Removes an object; missing objects are fine.
    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError>;

    /// A link that uploads one object with HTTP PUT.
    async fn presign_put(&self, key: &ObjectKey, expires_in: Duration) -> Result<PresignedUrl, ObjectError>;

    /// A link that downloads one object with HTTP GET.
    async fn presign_get(&self, key: &ObjectKey, expires_in: Duration) -> Result<PresignedUrl, ObjectError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_or_hide() {
        assert!(ObjectKey::parse("tenant-1/bulk-1/upload/part-0001.csv").is_ok());
        for bad in ["", "/abs", "a//b", "a/../b", "./a", "a/", "a\\b", "a\nb", &"k".repeat(1025)] {
            assert!(ObjectKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
