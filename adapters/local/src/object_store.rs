//! The embedded `ObjectStore`: one bucket as a directory tree under the data directory
//! (`<root>/<bucket>/<key>`), the same layout the embedded warehouse reads for `s3://bucket/key`.
//!
//! Puts stream into a temporary file beside the tree, fsync it, and rename it into place, so a
//! reader sees the old object or the whole new one and a crash leaves no half object. Presigned
//! links are HMAC-SHA256 over (method, bucket, key, expiry) with a secret kept in the data
//! directory, and are served by [`super::object_routes`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::io::AsyncWriteExt;

use super::presign::{Method, Signer};
use super::walk::files_with_prefix;
use spectra_worker::ports::{
    ByteReader, MAX_PRESIGN_EXPIRY, ObjectError, ObjectKey, ObjectMeta, ObjectStore, PresignedUrl,
};

/// How much of an upload is handed to the disk at once.
const WRITE_CHUNK: usize = 1 << 20;

/// A bucket on the local disk.
#[derive(Clone)]
pub struct LocalObjectStore {
    root: Arc<PathBuf>,
    bucket: Arc<str>,
    signer: Signer,
    /// Where the object routes are served (`http://127.0.0.1:8080`), for presigned links.
    public_url: Arc<str>,
}

fn io(e: std::io::Error) -> ObjectError {
    ObjectError::Unavailable(e.to_string())
}

fn meta_of(key: ObjectKey, meta: &std::fs::Metadata) -> ObjectMeta {
    let modified_at = meta.modified().map(DateTime::<Utc>::from).unwrap_or_else(|_| Utc::now());
    ObjectMeta { key, size: meta.len(), modified_at }
}

impl LocalObjectStore {
    /// A bucket under `root` (created as needed) whose presigned links point at `public_url`.
    /// The signing secret lives in `root/.presign-key` so links survive a restart.
    pub async fn open(root: &Path, bucket: &str, public_url: &str) -> Result<Self, ObjectError> {
        let bucket_key = ObjectKey::parse(bucket)?;
        if bucket_key.as_str().contains('/') || bucket.starts_with('.') {
            return Err(ObjectError::Invalid(format!("bucket name {bucket:?} must be one path segment")));
        }
        tokio::fs::create_dir_all(root.join(bucket)).await.map_err(io)?;
        tokio::fs::create_dir_all(root.join(".tmp")).await.map_err(io)?;
        let signer = Signer::load_or_create(&root.join(".presign-key")).await.map_err(io)?;
        Ok(Self {
            root: Arc::new(root.to_owned()),
            bucket: bucket.into(),
            signer,
            public_url: public_url.trim_end_matches('/').into(),
        })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The signer, for the routes that check links.
    pub(crate) fn signer(&self) -> &Signer {
        &self.signer
    }

    fn path_of(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(&*self.bucket).join(key.as_str())
    }

    fn presign(&self, method: Method, key: &ObjectKey, expires_in: Duration) -> Result<PresignedUrl, ObjectError> {
        if expires_in.is_zero() || expires_in > MAX_PRESIGN_EXPIRY {
            return Err(ObjectError::Invalid(format!(
                "presigned links last 1 s to {} s, not {} s",
                MAX_PRESIGN_EXPIRY.as_secs(),
                expires_in.as_secs()
            )));
        }
        let expires_at = Utc::now() + chrono::Duration::seconds(expires_in.as_secs().max(1) as i64);
        let expires = expires_at.timestamp();
        let signature = self.signer.sign(method, &self.bucket, key.as_str(), expires);
        let url = format!(
            "{}/objects/{}/{}?expires={expires}&signature={signature}",
            self.public_url,
            self.bucket,
            super::presign::encode_path(key.as_str())
        );
        Ok(PresignedUrl { url, expires_at: DateTime::from_timestamp(expires, 0).unwrap_or(expires_at) })
    }
}

#[async_trait]
impl ObjectStore for LocalObjectStore {
    async fn put(&self, key: &ObjectKey, mut body: ByteReader) -> Result<ObjectMeta, ObjectError> {
        let path = self.path_of(key);
        let tmp = self.root.join(".tmp").join(uuid::Uuid::new_v4().to_string());
        let result = async {
            // Every write to a Tokio file is a hop to a blocking thread: written in 1 MiB
            // chunks, not the 8 KiB `copy` hands over, an upload runs at the disk's speed.
            let file = tokio::fs::File::create(&tmp).await.map_err(io)?;
            let mut file = tokio::io::BufWriter::with_capacity(WRITE_CHUNK, file);
            tokio::io::copy(&mut body, &mut file).await.map_err(|e| ObjectError::Body(e.to_string()))?;
            file.flush().await.map_err(io)?;
            let file = file.into_inner();
            // One fsync per object, before it becomes visible.
            file.sync_all().await.map_err(io)?;
            drop(file);
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(|e| {
                    ObjectError::Invalid(format!("cannot store {key}: {e} (a prefix of it is an object)"))
                })?;
            }
            if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_dir()) {
                return Err(ObjectError::Invalid(format!("cannot store {key}: other objects live under it")));
            }
            tokio::fs::rename(&tmp, &path).await.map_err(io)
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await; // nothing half-written stays behind
            return Err(e);
        }
        let meta = tokio::fs::metadata(&path).await.map_err(io)?;
        Ok(meta_of(key.clone(), &meta))
    }

    async fn get(&self, key: &ObjectKey) -> Result<(ObjectMeta, ByteReader), ObjectError> {
        let path = self.path_of(key);
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ObjectError::NotFound(key.clone())),
            Err(e) => return Err(io(e)),
        };
        let meta = file.metadata().await.map_err(io)?;
        if meta.is_dir() {
            return Err(ObjectError::NotFound(key.clone()));
        }
        Ok((meta_of(key.clone(), &meta), Box::pin(file)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, ObjectError> {
        let (bucket_dir, prefix) = (self.root.join(&*self.bucket), prefix.to_owned());
        let files = tokio::task::spawn_blocking(move || files_with_prefix(&bucket_dir, &prefix))
            .await
            .map_err(|e| ObjectError::Unavailable(e.to_string()))?
            .map_err(io)?;
        // Keys that are not valid object keys cannot have been written through the port.
        Ok(files
            .into_iter()
            .filter_map(|(key, _, meta)| ObjectKey::parse(&key).ok().map(|k| meta_of(k, &meta)))
            .collect())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        match tokio::fs::remove_file(self.path_of(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }

    async fn presign_put(&self, key: &ObjectKey, expires_in: Duration) -> Result<PresignedUrl, ObjectError> {
        self.presign(Method::Put, key, expires_in)
    }

    async fn presign_get(&self, key: &ObjectKey, expires_in: Duration) -> Result<PresignedUrl, ObjectError> {
        self.presign(Method::Get, key, expires_in)
    }
}
