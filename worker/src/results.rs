//! A job's result files: the parts an export wrote (listed by its UNLOAD manifest), and the
//! CSV of rows an ingest rejected, each handed out as a presigned link.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use spectra_state_machine::{Compression, ContentType, Identifier, Job, OutputFormat};
use thiserror::Error;
use tokio::io::AsyncReadExt;

use crate::platform::JobLayout;
use crate::ports::{ObjectError, ObjectKey, ObjectStore};

/// One row an ingest rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord {
    /// Its line in the uploaded file (-1 when unknown).
    pub line: i64,
    /// Why it was rejected.
    pub error: String,
    /// The row as it was uploaded (a CSV line, or a JSON object).
    pub raw: String,
}

/// One downloadable file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultFile {
    /// Its object key.
    pub key: String,
    /// A presigned GET link.
    pub download_url: String,
    /// Its size.
    pub size_bytes: u64,
    /// Rows in it, when known.
    pub row_count: Option<u64>,
}

/// What a job produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResults {
    /// Format of the exported parts.
    pub format: ContentType,
    /// Their compression.
    pub compression: Compression,
    /// The exported parts, in order (empty for ingest jobs).
    pub files: Vec<ResultFile>,
    /// The rejected rows of an ingest, when there were any.
    pub failed_records: Option<ResultFile>,
    /// When the links stop working.
    pub expires_at: DateTime<Utc>,
}

impl JobResults {
    /// Total size of the exported parts.
    pub fn size_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size_bytes).sum()
    }
}

/// Why results cannot be listed.
#[derive(Debug, Error)]
pub enum ResultsError {
    /// The manifest is not what UNLOAD writes.
    #[error("the results manifest {key} is unreadable: {reason}")]
    BadManifest {
        /// Its key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Object(#[from] ObjectError),
}

#[derive(Deserialize)]
struct Manifest {
    entries: Vec<ManifestEntry>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    url: String,
    #[serde(default)]
    meta: Option<ManifestMeta>,
}

#[derive(Deserialize)]
struct ManifestMeta {
    content_length: Option<u64>,
    record_count: Option<u64>,
}

/// The results of a finished job: every exported part listed in its manifest, and the
/// failed-records file of an ingest with rejected rows, each with a link valid for `expiry`.
pub async fn job_results(
    objects: &dyn ObjectStore,
    bucket: &str,
    job: &Job,
    expiry: Duration,
) -> Result<JobResults, ResultsError> {
    let layout = JobLayout::new(job.tenant_id(), job.job_id());
    let (format, compression, exported, rejected) = match job {
        Job::Bulk(b) => (b.content_type, b.compression, !b.operation.is_ingest(), b.number_records_failed > 0),
        Job::Query(q) => {
            let format = if q.output_format == OutputFormat::Parquet { ContentType::Parquet } else { ContentType::Csv };
            (format, Compression::None, q.output_format != OutputFormat::Json, false)
        }
    };
    let expires_at = Utc::now() + chrono::Duration::from_std(expiry).unwrap_or_default();
    let mut files = Vec::new();
    if exported {
        let manifest_key = layout.manifest();
        let bad = |reason: String| ResultsError::BadManifest { key: manifest_key.to_string(), reason };
        let (_, mut reader) = objects.get(&manifest_key).await?;
        let mut text = Vec::new();
        reader.read_to_end(&mut text).await.map_err(|e| ObjectError::Unavailable(e.to_string()))?;
        let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let own_prefix = format!("s3://{bucket}/{}", layout.results_prefix());
        for entry in manifest.entries {
            // Only parts under this job's own prefix are ever handed out.
            if !entry.url.starts_with(&own_prefix) {
                return Err(bad(format!("entry {} is outside the job's prefix", entry.url)));
            }
            let key = ObjectKey::parse(&entry.url[format!("s3://{bucket}/").len()..])?;
            let meta = entry.meta.unwrap_or(ManifestMeta { content_length: None, record_count: None });
            let link = objects.presign_get(&key, expiry).await?;
            files.push(ResultFile {
                key: key.to_string(),
                download_url: link.url,
                size_bytes: meta.content_length.unwrap_or_default(),
                row_count: meta.record_count,
            });
        }
    }
    let failed_records = if rejected {
        let key = layout.failed_records();
        let size = objects.list(key.as_str()).await?.first().map(|m| m.size).unwrap_or_default();
        let link = objects.presign_get(&key, expiry).await?;
        Some(ResultFile { key: key.to_string(), download_url: link.url, size_bytes: size, row_count: None })
    } else {
        None
    };
    Ok(JobResults { format, compression, files, failed_records, expires_at })
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

/// Writes the failed-records CSV of an ingest, like Salesforce's `failedResults`: the line
/// number and error first, then the row as uploaded. For a CSV upload the row's own fields
/// follow under the upload's header; otherwise the whole row is one `spectra__record` field.
pub async fn write_failed_records(
    objects: &dyn ObjectStore,
    key: &ObjectKey,
    csv_columns: &[Identifier],
    rows: &[FailedRecord],
) -> Result<(), ObjectError> {
    let mut out = String::from("spectra__line,spectra__error,");
    if csv_columns.is_empty() {
        out.push_str("spectra__record\n");
    } else {
        out.push_str(&csv_columns.iter().map(|c| csv_field(c.as_str())).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    for row in rows {
        let raw = if csv_columns.is_empty() { csv_field(&row.raw) } else { row.raw.trim_end().to_owned() };
        out.push_str(&format!("{},{},{raw}\n", row.line, csv_field(&row.error)));
    }
    let body: crate::ports::ByteReader = Box::pin(std::io::Cursor::new(Bytes::from(out)));
    objects.put(key, body).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
