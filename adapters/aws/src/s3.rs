//! The `ObjectStore` port on Amazon S3. Bodies up to one part are one `PutObject`; larger ones
//! are multipart uploads (8 MiB parts), aborted if the body fails so nothing partial is left.
//! Presigned links are SigV4 query-signed URLs, at most an hour long.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use chrono::{DateTime, TimeZone, Utc};
use tokio::io::AsyncReadExt;

use super::{OperationError, Sdk, classify};
use spectra_worker::ports::{
    ByteReader, MAX_PRESIGN_EXPIRY, ObjectError, ObjectKey, ObjectMeta, ObjectStore, PresignedUrl,
};

/// Multipart part size (S3's minimum is 5 MiB for all but the last part).
const PART_SIZE: usize = 8 * 1024 * 1024;

/// A bucket on S3.
#[derive(Clone)]
pub struct S3ObjectStore {
    client: Client,
    bucket: String,
}

fn failure<E: OperationError>(e: &Sdk<E>) -> ObjectError {
    classify(e).into_error(ObjectError::Unavailable, ObjectError::Invalid)
}

fn time(t: Option<&aws_sdk_s3::primitives::DateTime>) -> DateTime<Utc> {
    t.and_then(|t| Utc.timestamp_opt(t.secs(), t.subsec_nanos()).single()).unwrap_or_else(Utc::now)
}

/// A presigned request as the port's link.
fn link(signed: &aws_sdk_s3::presigning::PresignedRequest, expires_in: Duration) -> PresignedUrl {
    PresignedUrl { url: signed.uri().to_owned(), expires_at: Utc::now() + expires_in }
}

/// Reads up to `PART_SIZE` bytes; fewer only at the end of the body.
async fn chunk(body: &mut ByteReader) -> Result<Vec<u8>, ObjectError> {
    let mut buf = Vec::with_capacity(PART_SIZE);
    while buf.len() < PART_SIZE {
        let read = body
            .as_mut()
            .take((PART_SIZE - buf.len()) as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| ObjectError::Body(e.to_string()))?;
        if read == 0 {
            break;
        }
    }
    Ok(buf)
}

impl S3ObjectStore {
    /// The bucket `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn multipart(&self, key: &ObjectKey, first: Vec<u8>, body: &mut ByteReader) -> Result<u64, ObjectError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| failure(&e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let result = self.upload_parts(key, &upload_id, first, body).await;
        if result.is_err() {
            // Best effort: a bucket lifecycle rule also aborts incomplete uploads (infra/).
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        first: Vec<u8>,
        body: &mut ByteReader,
    ) -> Result<u64, ObjectError> {
        let (mut parts, mut size, mut next) = (Vec::new(), 0u64, first);
        for number in 1.. {
            if next.is_empty() {
                break;
            }
            size += next.len() as u64;
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(next))
                .send()
                .await
                .map_err(|e| failure(&e))?;
            parts.push(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag).build());
            next = chunk(body).await?;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| failure(&e))?;
        Ok(size)
    }

    fn presign_config(expires_in: Duration) -> Result<PresigningConfig, ObjectError> {
        if expires_in > MAX_PRESIGN_EXPIRY || expires_in.is_zero() {
            return Err(ObjectError::Invalid(format!("link expiry {expires_in:?} must be 1 s..=1 h")));
        }
        PresigningConfig::expires_in(expires_in).map_err(|e| ObjectError::Invalid(e.to_string()))
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(&self, key: &ObjectKey, mut body: ByteReader) -> Result<ObjectMeta, ObjectError> {
        let first = chunk(&mut body).await?;
        let size = if first.len() < PART_SIZE {
            let size = first.len() as u64;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key.as_str())
                .body(ByteStream::from(first))
                .send()
                .await
                .map_err(|e| failure(&e))?;
            size
        } else {
            self.multipart(key, first, &mut body).await?
        };
        Ok(ObjectMeta { key: key.clone(), size, modified_at: Utc::now() })
    }

    async fn get(&self, key: &ObjectKey) -> Result<(ObjectMeta, ByteReader), ObjectError> {
        let result = self.client.get_object().bucket(&self.bucket).key(key.as_str()).send().await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(ObjectError::NotFound(key.clone()));
            }
            Err(e) => return Err(failure(&e)),
        };
        let meta = ObjectMeta {
            key: key.clone(),
            size: u64::try_from(out.content_length().unwrap_or_default()).unwrap_or_default(),
            modified_at: time(out.last_modified()),
        };
        Ok((meta, Box::pin(out.body.into_async_read())))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, ObjectError> {
        let mut found = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failure(&e))?;
            for object in page.contents() {
                // Keys Spectra cannot address (written by someone else) are not listed.
                let Some(key) = object.key().and_then(|k| ObjectKey::parse(k).ok()) else { continue };
                found.push(ObjectMeta {
                    key,
                    size: u64::try_from(object.size().unwrap_or_default()).unwrap_or_default(),
                    modified_at: time(object.last_modified()),
                });
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        self.client.delete_object().bucket(&self.bucket).key(key.as_str()).send().await.map_err(|e| failure(&e))?;
        Ok(())
    }

    async fn presign_put(&self, key: &ObjectKey, expires_in: Duration) -> Result<PresignedUrl, ObjectError> {
        let request = self.client.put_object().bucket(&self.bucket).key(key.as_str());
        let signed = request.presigned(Self::presign_config(expires_in)?).await.map_err(|e| failure(&e))?;
        Ok(link(&signed, expires_in))
    }

    async fn presign_get(&self, key: &ObjectKey, expires_in: Duration) -> Result<PresignedUrl, ObjectError> {
        let request = self.client.get_object().bucket(&self.bucket).key(key.as_str());
        let signed = request.presigned(Self::presign_config(expires_in)?).await.map_err(|e| failure(&e))?;
        Ok(link(&signed, expires_in))
    }
}
