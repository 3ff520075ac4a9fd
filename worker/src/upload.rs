//! What the worker learns from an upload before loading it: which columns it names.
//!
//! A CSV upload's header row names its columns and a JSON upload's objects are keyed by them, so
//! the COPY gets an explicit column list and rows land in the right columns whatever their
//! order in the file. Parquet maps by position, as Redshift maps it.

use std::io::Read;

use spectra_state_machine::{Compression, ContentType, Identifier};
use thiserror::Error;
use tokio::io::AsyncReadExt;

use crate::ports::{ObjectError, ObjectStore};

/// Most bytes read from the start of the first part to find its first line.
const HEAD_BYTES: u64 = 1024 * 1024;

/// Why an upload cannot be loaded as it is.
#[derive(Debug, Error)]
pub enum UploadError {
    /// No part was uploaded.
    #[error("nothing was uploaded under {0}")]
    Empty(String),
    /// The first line does not name columns.
    #[error("the upload's {what} is not usable: {reason}")]
    BadHeader {
        /// "CSV header row" or "first JSON object".
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Reading the upload failed.
    #[error(transparent)]
    Object(#[from] ObjectError),
}

impl UploadError {
    /// Whether reading again later may succeed (only storage outages).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Object(e) if e.is_retryable())
    }
}

/// The columns the upload under `prefix` names, in file order (empty for Parquet).
pub async fn upload_columns(
    objects: &dyn ObjectStore,
    prefix: &str,
    format: ContentType,
    compression: Compression,
) -> Result<Vec<Identifier>, UploadError> {
    let parts = objects.list(prefix).await?;
    let first = parts.first().ok_or_else(|| UploadError::Empty(prefix.to_owned()))?;
    if format == ContentType::Parquet {
        return Ok(Vec::new());
    }
    let (_, reader) = objects.get(&first.key).await?;
    let mut head = Vec::new();
    reader.take(HEAD_BYTES).read_to_end(&mut head).await.map_err(|e| ObjectError::Unavailable(e.to_string()))?;
    let line = first_line(&head, compression)?;
    match format {
        ContentType::Csv => csv_header(&line),
        ContentType::Json => json_keys(&line),
        ContentType::Parquet => Ok(Vec::new()),
    }
}

/// The first non-empty line of the (possibly gzipped) head of a file.
fn first_line(head: &[u8], compression: Compression) -> Result<String, UploadError> {
    let text = match compression {
        Compression::None => head.to_vec(),
        Compression::Gzip => {
            // The head may end mid-stream; what decompressed before that is all we need.
            let mut out = Vec::new();
            let mut decoder = flate2::read::GzDecoder::new(head);
            let mut buf = [0u8; 8192];
            loop {
                match decoder.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(_) if !out.is_empty() => break,
                    Err(e) => {
                        return Err(UploadError::BadHeader { what: "gzip stream", reason: e.to_string() });
                    }
                }
                if out.contains(&b'\n') {
                    break;
                }
            }
            out
        }
    };
    let text = String::from_utf8_lossy(&text);
    text.lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim_end_matches('\r'))
        .find(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .ok_or(UploadError::BadHeader { what: "first line", reason: "the first part is empty".into() })
}

/// Splits a CSV header row (RFC 4180 quoting) and validates each name.
fn csv_header(line: &str) -> Result<Vec<Identifier>, UploadError> {
    let bad = |reason: String| UploadError::BadHeader { what: "CSV header row", reason };
    let mut names = Vec::new();
    let (mut field, mut quoted, mut chars) = (String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => names.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err(bad("an unterminated quote".into()));
    }
    names.push(field);
    names.iter().map(|name| Identifier::parse(name.trim()).map_err(|e| bad(format!("column {name:?}: {e}")))).collect()
}

/// The keys of the first JSON object, validated.
fn json_keys(line: &str) -> Result<Vec<Identifier>, UploadError> {
    let bad = |reason: String| UploadError::BadHeader { what: "first JSON object", reason };
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(line).map_err(|e| bad(format!("not one JSON object per line: {e}")))?;
    object.keys().map(|k| Identifier::parse(k).map_err(|e| bad(format!("key {k:?}: {e}")))).collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn names(ids: &[Identifier]) -> Vec<&str> {
        ids.iter().map(Identifier::as_str).collect()
    }

    #[test]
    fn csv_headers_are_split_and_checked() {
        assert_eq!(names(&csv_header("id,\"amount\", note").unwrap()), ["id", "amount", "note"]);
        assert!(csv_header("id,\"bad name\"").is_err());
        assert!(csv_header("id,\"open").is_err());
        assert!(csv_header("id,,x").is_err());
    }

    #[test]
    fn first_lines_come_through_gzip_and_bom() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"\n\xef\xbb\xbfid,name\r\n1,a\n").unwrap();
        let bytes = gz.finish().unwrap();
        assert_eq!(first_line(&bytes, Compression::Gzip).unwrap(), "id,name");
        assert_eq!(first_line("\u{feff}id,name\n1,a".as_bytes(), Compression::None).unwrap(), "id,name");
        assert!(first_line(b"\n\n", Compression::None).is_err());
    }

    #[test]
    fn json_keys_name_the_columns() {
        assert_eq!(names(&json_keys(r#"{"id": 1, "note": "x"}"#).unwrap()), ["id", "note"]);
        assert!(json_keys("[1,2]").is_err());
        assert!(json_keys(r#"{"bad key": 1}"#).is_err());
    }
}
