//! Listing a local bucket by key prefix: shared by the object store's `list` and by the
//! warehouse's UNLOAD and COPY, which read and write the same `<root>/<bucket>/<key>` tree.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

/// Every file under `bucket_dir` whose key (path relative to `bucket_dir`, `/`-separated) starts
/// with `prefix`, sorted by key. Walks only below the deepest directory the prefix names.
pub fn files_with_prefix(bucket_dir: &Path, prefix: &str) -> std::io::Result<Vec<(String, PathBuf, Metadata)>> {
    let start = match prefix.rfind('/') {
        Some(i) => bucket_dir.join(&prefix[..i]),
        None => bucket_dir.to_owned(),
    };
    let mut out = Vec::new();
    let mut stack = vec![start];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if let Ok(rel) = entry.path().strip_prefix(bucket_dir) {
                let key = rel.to_string_lossy().into_owned();
                if key.starts_with(prefix) {
                    out.push((key, entry.path(), meta));
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
