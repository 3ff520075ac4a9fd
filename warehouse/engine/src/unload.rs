//! Redshift's `UNLOAD` on DuckDB: the query is written with DuckDB's own `COPY ... TO` into a
//! staging directory, then each part is renamed into the bucket under Redshift's file names
//! (`<prefix>0000_part_00` with PARALLEL ON, `<prefix>000` with PARALLEL OFF, `.gz` / `.parquet`
//! suffixes), followed by the manifest when asked for.

use std::path::{Path, PathBuf};

use duckdb::Connection;
use serde_json::json;

use super::dialect;
use super::exec::Context;
use super::options::{Format, Unload, parse_unload, split_s3};
use super::types;
use spectra_local::files_with_prefix;

/// Redshift's largest UNLOAD file when MAXFILESIZE is not given (6.2 GB).
const DEFAULT_MAX_FILE: u64 = 6_200 * 1024 * 1024;

/// Quotes a path as a SQL string literal for DuckDB.
pub(crate) fn sql_path(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', "''"))
}

/// Every file under `bucket_dir` whose key starts with `prefix`, sorted by key.
pub fn files_under(bucket_dir: &Path, prefix: &str) -> std::io::Result<Vec<(String, PathBuf)>> {
    let files = files_with_prefix(bucket_dir, prefix)?;
    Ok(files.into_iter().map(|(key, path, _)| (key, path)).collect())
}

fn copy_options(u: &Unload) -> String {
    let mut o = match u.format {
        Format::Text => vec!["FORMAT csv".to_owned(), "DELIMITER '|'".to_owned()],
        Format::Csv => vec!["FORMAT csv".to_owned()],
        Format::Json => vec!["FORMAT json".to_owned()],
        Format::Parquet => vec!["FORMAT parquet".to_owned()],
    };
    if matches!(u.format, Format::Text | Format::Csv) {
        o.push(format!("HEADER {}", u.header));
    }
    if u.gzip {
        o.push("COMPRESSION gzip".to_owned());
    }
    o.push(format!("FILE_SIZE_BYTES {}", u.max_file_size.unwrap_or(DEFAULT_MAX_FILE)));
    o.join(", ")
}

/// The Redshift name of part `n`.
fn part_name(u: &Unload, prefix: &str, n: usize) -> String {
    let stem = if u.parallel { format!("{prefix}0000_part_{n:02}") } else { format!("{prefix}{n:03}") };
    match (u.format, u.gzip) {
        (Format::Parquet, _) => format!("{stem}.parquet"),
        (_, true) => format!("{stem}.gz"),
        _ => stem,
    }
}

/// Rows in one written part, read back with DuckDB.
fn count_rows(conn: &Connection, u: &Unload, path: &Path) -> Result<u64, String> {
    let source = match u.format {
        Format::Parquet => format!("read_parquet({})", sql_path(path)),
        Format::Json => format!("read_json({}, format = 'newline_delimited')", sql_path(path)),
        Format::Csv | Format::Text => format!(
            "read_csv({}, header = {}, all_varchar = true, delim = '{}')",
            sql_path(path),
            u.header,
            if u.format == Format::Text { '|' } else { ',' }
        ),
    };
    let n: i64 =
        conn.query_row(&format!("SELECT count(*) FROM {source}"), [], |r| r.get(0)).map_err(|e| e.to_string())?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Runs an UNLOAD; returns the rows unloaded.
pub(crate) fn run(conn: &Connection, ctx: &Context, sql: &str) -> Result<i64, String> {
    let mut u = parse_unload(sql)?;
    // The query is Redshift's: translated first, then checked as translated.
    if let Some(translated) = dialect::translate(&u.query, &ctx.session()).map_err(|e| e.to_string())? {
        u.query = translated;
    }
    // A tenant's query runs as the engine re-prints it once checked: it is wrapped below, and
    // no comment or separator of the original text may reach the wrapper.
    u.query = ctx.confined_query(conn, &u.query)?;
    let (bucket, prefix) = split_s3(&u.to)?;
    if prefix.is_empty() {
        return Err("UNLOAD needs a key prefix after the bucket".into());
    }
    let bucket_dir = ctx.object_root.join(&bucket);
    if let Some(remote) = &ctx.remote {
        remote.pull(&bucket_dir, &bucket, &prefix).map_err(|e| e.to_string())?;
    }
    let existing = files_under(&bucket_dir, &prefix).map_err(|e| e.to_string())?;
    if !existing.is_empty() {
        if u.clean_path {
            for (_, path) in &existing {
                std::fs::remove_file(path).map_err(|e| e.to_string())?;
            }
        } else if !u.allow_overwrite {
            return Err(format!(
                "Specified unload destination on S3 is not empty: {} object(s) start with {}. Consider using a \
                 different prefix, removing the files, or the ALLOWOVERWRITE or CLEANPATH option.",
                existing.len(),
                u.to
            ));
        }
    }
    // The result's columns, for the manifest's schema.
    let mut probe = conn.prepare(&format!("SELECT * FROM ({}) AS q LIMIT 0", u.query)).map_err(|e| e.to_string())?;
    probe.raw_execute().map_err(|e| e.to_string())?;
    let columns: Vec<_> =
        probe.column_names().iter().enumerate().map(|(i, name)| types::column(name, &probe.column_type(i))).collect();
    drop(probe);

    let staging = ctx.object_root.join(".tmp").join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(ctx.object_root.join(".tmp")).map_err(|e| e.to_string())?;
    let result = write_parts(conn, &u, &staging, &bucket, &prefix, &bucket_dir, &columns);
    let _ = std::fs::remove_dir_all(&staging);
    if let (Ok(_), Some(remote)) = (&result, &ctx.remote) {
        remote.push(&bucket_dir, &bucket, &prefix).map_err(|e| e.to_string())?;
    }
    result
}

fn write_parts(
    conn: &Connection,
    u: &Unload,
    staging: &Path,
    bucket: &str,
    prefix: &str,
    bucket_dir: &Path,
    columns: &[spectra_worker::ports::ColumnMetadata],
) -> Result<i64, String> {
    let copy = format!("COPY ({}) TO {} ({})", u.query, sql_path(staging), copy_options(u));
    let total: i64 = conn.query_row(&copy, [], |r| r.get(0)).map_err(|e| e.to_string())?;
    let mut parts: Vec<PathBuf> =
        std::fs::read_dir(staging).map_err(|e| e.to_string())?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    // DuckDB names parts data_0, data_1, ...: order by that number, not by text.
    parts.sort_by_key(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("data_"))
            .and_then(|n| n.split('.').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    });
    let mut entries = Vec::new();
    let single = parts.len() == 1;
    for (n, part) in parts.iter().enumerate() {
        let key = part_name(u, prefix, n);
        let target = bucket_dir.join(&key);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let records = if single { u64::try_from(total).unwrap_or(0) } else { count_rows(conn, u, part)? };
        let size = std::fs::metadata(part).map_err(|e| e.to_string())?.len();
        std::fs::rename(part, &target).map_err(|e| e.to_string())?;
        entries.push(json!({
            "url": format!("s3://{bucket}/{key}"),
            "meta": {"content_length": size, "record_count": records},
        }));
    }
    if let Some(verbose) = u.manifest {
        let mut manifest = json!({ "entries": entries });
        if verbose {
            let content_length: u64 = entries.iter().filter_map(|e| e["meta"]["content_length"].as_u64()).sum();
            manifest["schema"] = json!({
                "elements": columns.iter().map(|c| json!({"name": c.name, "type": {"base": c.type_name}})).collect::<Vec<_>>()
            });
            manifest["meta"] = json!({"content_length": content_length, "record_count": total});
            manifest["author"] = json!({"name": "Amazon Redshift", "version": "1.0.0"});
        }
        let key = format!("{prefix}manifest");
        let target = bucket_dir.join(&key);
        let tmp = staging.join("manifest.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&manifest).unwrap_or_default()).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &target).map_err(|e| e.to_string())?;
    }
    Ok(total)
}
