//! The emulator's S3: UNLOAD and COPY mirror `s3://bucket/prefix` between a real S3 endpoint
//! (moto's, or AWS's) and the engine's local object root, with aws-sdk-s3.

use std::collections::HashSet;
use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use tokio::runtime::Handle;

use spectra_warehouse::{RemoteError, RemoteObjects};

/// S3 behind the local object root. Its calls block the statement's thread on the runtime.
pub struct S3Mirror {
    client: Client,
    runtime: Handle,
}

impl S3Mirror {
    /// Mirrors through `client`; must be created inside the tokio runtime it will block on.
    pub fn new(client: Client) -> Self {
        Self { client, runtime: Handle::current() }
    }

    async fn remote_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, RemoteError> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(failed("list", bucket, prefix))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        Ok(keys)
    }
}

/// How a request of `operation` on `s3://bucket/key` failed, from the SDK's error (with its
/// whole cause chain).
fn failed<E: std::error::Error>(operation: &'static str, bucket: &str, key: &str) -> impl FnOnce(E) -> RemoteError {
    let (bucket, key) = (bucket.to_owned(), key.to_owned());
    move |e| RemoteError::Request {
        operation,
        bucket,
        key,
        message: aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

/// Local files under `prefix` in `bucket_dir`, as keys.
fn local_keys(bucket_dir: &Path, prefix: &str) -> Result<Vec<String>, RemoteError> {
    Ok(spectra_warehouse::files_under(bucket_dir, prefix)?.into_iter().map(|(key, _)| key).collect())
}

impl RemoteObjects for S3Mirror {
    fn pull(&self, bucket_dir: &Path, bucket: &str, prefix: &str) -> Result<(), RemoteError> {
        self.runtime.block_on(async {
            let remote = self.remote_keys(bucket, prefix).await?;
            let wanted: HashSet<&str> = remote.iter().map(String::as_str).collect();
            for key in local_keys(bucket_dir, prefix)? {
                if !wanted.contains(key.as_str()) {
                    std::fs::remove_file(bucket_dir.join(&key))?;
                }
            }
            for key in &remote {
                let object = self
                    .client
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(failed("get", bucket, key))?;
                let bytes = object.body.collect().await.map_err(failed("get", bucket, key))?.into_bytes();
                let path = bucket_dir.join(key);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let tmp = path.with_extension("spectra-download");
                std::fs::write(&tmp, &bytes)?;
                std::fs::rename(&tmp, &path)?;
            }
            Ok(())
        })
    }

    fn push(&self, bucket_dir: &Path, bucket: &str, prefix: &str) -> Result<(), RemoteError> {
        self.runtime.block_on(async {
            let local = local_keys(bucket_dir, prefix)?;
            for key in &local {
                let body = ByteStream::from_path(bucket_dir.join(key)).await.map_err(failed("put", bucket, key))?;
                self.client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(body)
                    .send()
                    .await
                    .map_err(failed("put", bucket, key))?;
            }
            let kept: HashSet<&str> = local.iter().map(String::as_str).collect();
            for key in self.remote_keys(bucket, prefix).await? {
                if !kept.contains(key.as_str()) {
                    let request = self.client.delete_object().bucket(bucket).key(&key);
                    request.send().await.map_err(failed("delete", bucket, &key))?;
                }
            }
            Ok(())
        })
    }
}
