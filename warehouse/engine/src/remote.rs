//! A remote object store behind the local object root: UNLOAD and COPY work on local files, and
//! this hook mirrors them from and to S3 (the emulator's `--s3-endpoint`) *inside* the
//! statement, so a failed transfer fails the statement and rolls its transaction back.

/// Why a transfer between the remote store and the local copy failed (the statement then fails
/// with this text, as the Data API reports an S3 failure of UNLOAD or COPY).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The remote store refused or failed a request.
    #[error("S3 {operation} s3://{bucket}/{key}: {message}")]
    Request {
        /// `list`, `get`, `put` or `delete`.
        operation: &'static str,
        /// The bucket.
        bucket: String,
        /// The key (or prefix, for `list`).
        key: String,
        /// What the store said.
        message: String,
    },
    /// The local copy could not be read or written.
    #[error(transparent)]
    Local(#[from] std::io::Error),
}

/// Mirrors `s3://bucket/prefix` between a remote store and `<object_root>/bucket/prefix`.
/// Called from the statement's blocking thread.
pub trait RemoteObjects: Send + Sync {
    /// Makes the local copy of everything under the prefix equal to the remote objects (before
    /// COPY reads, and before UNLOAD checks what is already there).
    fn pull(&self, bucket_dir: &std::path::Path, bucket: &str, prefix: &str) -> Result<(), RemoteError>;
    /// Makes the remote objects under the prefix equal to the local ones (after UNLOAD wrote).
    fn push(&self, bucket_dir: &std::path::Path, bucket: &str, prefix: &str) -> Result<(), RemoteError>;
}
