//! A remote object store behind the local object root: UNLOAD and COPY work on local files, and
//! this hook mirrors them from and to S3 (the emulator's `--s3-endpoint`) *inside* the
//! statement, so a failed transfer fails the statement and rolls its transaction back.

/// Mirrors `s3://bucket/prefix` between a remote store and `<object_root>/bucket/prefix`.
/// Called from the statement's blocking thread.
pub trait RemoteObjects: Send + Sync {
    /// Makes the local copy of everything under the prefix equal to the remote objects (before
    /// COPY reads, and before UNLOAD checks what is already there).
    fn pull(&self, bucket_dir: &std::path::Path, bucket: &str, prefix: &str) -> Result<(), String>;
    /// Makes the remote objects under the prefix equal to the local ones (after UNLOAD wrote).
    fn push(&self, bucket_dir: &std::path::Path, bucket: &str, prefix: &str) -> Result<(), String>;
}
