//! Redshift's `COPY table FROM 's3://...'` on DuckDB. Rows are mapped by position to the column
//! list (or the table's columns), as Redshift maps them. Rows that fail to load are counted
//! against MAXERROR; when they are within it, the good rows load and each bad row is recorded in
//! `sys_load_error_detail` (line, column, reason, raw line) — the table Redshift itself uses, so
//! the worker reads rejected rows the same way on both warehouses.

use std::path::PathBuf;

use duckdb::{Connection, params};

use super::exec::Context;
use super::options::{CopyFrom, Format, parse_copy, split_s3};
use super::unload::{files_under, sql_path};

/// An identifier quoted for DuckDB.
pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A string literal for DuckDB.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// One rejected row.
struct Rejected {
    file: String,
    line: i64,
    column: Option<String>,
    column_type: Option<String>,
    code: i32,
    message: String,
    raw_line: Option<String>,
}

/// The source files: the manifest's entries, or every object under the prefix.
fn sources(ctx: &Context, c: &CopyFrom) -> Result<Vec<(String, PathBuf)>, String> {
    let (bucket, key) = split_s3(&c.from)?;
    let bucket_dir = ctx.object_root.join(&bucket);
    if let Some(remote) = &ctx.remote {
        remote.pull(&bucket_dir, &bucket, &key).map_err(|e| e.to_string())?;
    }
    if !c.manifest {
        let files = files_under(&bucket_dir, &key).map_err(|e| e.to_string())?;
        if files.is_empty() {
            return Err(format!("The specified S3 prefix '{key}' does not exist"));
        }
        return Ok(files.into_iter().map(|(k, p)| (format!("s3://{bucket}/{k}"), p)).collect());
    }
    let text =
        std::fs::read_to_string(bucket_dir.join(&key)).map_err(|e| format!("cannot read manifest {}: {e}", c.from))?;
    let manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("invalid manifest: {e}"))?;
    let mut out = Vec::new();
    for entry in manifest["entries"].as_array().ok_or("the manifest has no entries array")? {
        let url = entry["url"].as_str().ok_or("a manifest entry has no url")?;
        let (b, k) = split_s3(url)?;
        if let Some(remote) = &ctx.remote {
            remote.pull(&ctx.object_root.join(&b), &b, &k).map_err(|e| e.to_string())?;
        }
        let path = ctx.object_root.join(&b).join(&k);
        if path.is_file() {
            out.push((url.to_owned(), path));
        } else if entry["mandatory"].as_bool().unwrap_or(false) {
            return Err(format!("the manifest's mandatory file {url} does not exist"));
        }
    }
    Ok(out)
}

/// The target columns with their DuckDB types, in load order.
pub(crate) fn target_columns(
    conn: &Connection,
    table: &str,
    wanted: &[String],
) -> Result<Vec<(String, String)>, String> {
    let mut stmt = conn.prepare(&format!("DESCRIBE {table}")).map_err(|e| e.to_string())?;
    let all: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if wanted.is_empty() {
        return Ok(all);
    }
    wanted
        .iter()
        .map(|w| {
            all.iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(w))
                .cloned()
                .ok_or_else(|| format!("column \"{w}\" of table {table} does not exist"))
        })
        .collect()
}

/// The schema of the table a COPY loads (inner `None` when unqualified), for the tenant
/// boundary; `None` when the statement is no COPY this warehouse runs.
pub(crate) fn target_schema(sql: &str) -> Option<Option<String>> {
    parse_copy(sql).ok().map(|c| c.schema)
}

/// Runs a COPY; returns the rows loaded.
pub(crate) fn run(conn: &Connection, ctx: &Context, sql: &str, query_id: i64) -> Result<i64, String> {
    let c = parse_copy(sql)?;
    let table = match &c.schema {
        Some(schema) => format!("{}.{}", quote(schema), quote(&c.table)),
        None => quote(&c.table),
    };
    let columns = target_columns(conn, &table, &c.columns)?;
    let files = sources(ctx, &c)?;
    if files.is_empty() {
        return Ok(0);
    }
    let file_list = format!("[{}]", files.iter().map(|(_, p)| sql_path(p)).collect::<Vec<_>>().join(", "));
    let names = columns.iter().map(|(n, _)| quote(n)).collect::<Vec<_>>().join(", ");
    let (loaded, rejected) = match c.format {
        Format::Csv | Format::Text => load_csv(conn, &c, &table, &names, &columns, &file_list)?,
        Format::Json => load_json(conn, &c, &table, &names, &columns, &file_list)?,
        Format::Parquet => {
            let n = conn
                .execute(&format!("INSERT INTO {table} ({names}) SELECT * FROM read_parquet({file_list})"), [])
                .map_err(|e| e.to_string())?;
            (n as i64, Vec::new())
        }
    };
    // Files are named by their s3:// URL in the error table, as Redshift names them.
    let url_of = |path: &str| {
        files.iter().find(|(_, p)| p.to_string_lossy() == path).map_or_else(|| path.to_owned(), |(u, _)| u.clone())
    };
    let bad_rows = rejected.len() as u64;
    if bad_rows > c.max_error {
        let first = rejected
            .first()
            .map_or_else(String::new, |r| format!("; first: {} line {}, {}", url_of(&r.file), r.line, r.message));
        return Err(format!(
            "Load into table '{}' failed: {bad_rows} row(s) rejected, MAXERROR is {}{first}. Check \
             'sys_load_error_detail' system table for details.",
            c.table, c.max_error
        ));
    }
    let mut insert = conn
        .prepare(
            "INSERT INTO spectra_internal.sys_load_error_detail (query_id, file_name, line_number, column_name, \
             column_type, error_code, error_message, raw_line, start_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
        )
        .map_err(|e| e.to_string())?;
    for r in &rejected {
        insert
            .execute(params![query_id, url_of(&r.file), r.line, r.column, r.column_type, r.code, r.message, r.raw_line])
            .map_err(|e| e.to_string())?;
    }
    Ok(loaded)
}

fn load_csv(
    conn: &Connection,
    c: &CopyFrom,
    table: &str,
    names: &str,
    columns: &[(String, String)],
    file_list: &str,
) -> Result<(i64, Vec<Rejected>), String> {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (rejects, scans) = (format!("rejects_{tag}"), format!("reject_scans_{tag}"));
    let delimiter = c.delimiter.unwrap_or(if c.format == Format::Text { '|' } else { ',' });
    let types = columns.iter().map(|(n, t)| format!("{}: {}", literal(n), literal(t))).collect::<Vec<_>>().join(", ");
    let read = format!(
        "read_csv({file_list}, header = false, skip = {skip}, delim = {delim}, \
         columns = {{{types}}}, compression = '{compression}', auto_detect = false, store_rejects = true, \
         rejects_table = '{rejects}', rejects_scan = '{scans}')",
        skip = c.ignore_header,
        delim = literal(&delimiter.to_string()),
        compression = if c.gzip { "gzip" } else { "auto" },
    );
    let loaded =
        conn.execute(&format!("INSERT INTO {table} ({names}) SELECT * FROM {read}"), []).map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT s.file_path, e.line, e.column_name, e.error_type, e.csv_line, e.error_message \
             FROM {rejects} e JOIN {scans} s ON e.scan_id = s.scan_id AND e.file_id = s.file_id \
             ORDER BY s.file_path, e.line, e.column_idx"
        ))
        .map_err(|e| e.to_string())?;
    let mut rows: Vec<Rejected> = stmt
        .query_map([], |r| {
            let error_type: String = r.get(3)?;
            let column: Option<String> = r.get(2)?;
            Ok(Rejected {
                file: r.get(0)?,
                line: r.get(1)?,
                column_type: column.as_ref().and_then(|n| columns.iter().find(|(c, _)| c == n)).map(|(_, t)| t.clone()),
                column,
                code: if error_type == "CAST" { 1207 } else { 1214 },
                message: r.get(5)?,
                raw_line: r.get(4)?,
            })
        })
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    // One entry per rejected line (a line may fail on several columns).
    rows.dedup_by(|a, b| a.file == b.file && a.line == b.line);
    Ok((loaded as i64, rows))
}

fn load_json(
    conn: &Connection,
    c: &CopyFrom,
    table: &str,
    names: &str,
    columns: &[(String, String)],
    file_list: &str,
) -> Result<(i64, Vec<Rejected>), String> {
    let raw = format!("raw_{}", uuid::Uuid::new_v4().simple());
    let varchar = columns.iter().map(|(n, _)| format!("{}: 'VARCHAR'", literal(n))).collect::<Vec<_>>().join(", ");
    conn.execute_batch(&format!(
        "CREATE TEMP TABLE {raw} AS SELECT filename AS spectra_file, \
         row_number() OVER (PARTITION BY filename) AS spectra_line, * EXCLUDE (filename) \
         FROM read_json({file_list}, format = 'newline_delimited', columns = {{{varchar}}}, filename = true, \
         compression = '{}')",
        if c.gzip { "gzip" } else { "auto" }
    ))
    .map_err(|e| e.to_string())?;
    let bad_column =
        |(n, t): &(String, String)| format!("({q} IS NOT NULL AND TRY_CAST({q} AS {t}) IS NULL)", q = quote(n));
    let any_bad = columns.iter().map(bad_column).collect::<Vec<_>>().join(" OR ");
    let casts = columns.iter().map(|(n, t)| format!("TRY_CAST({} AS {t})", quote(n))).collect::<Vec<_>>().join(", ");
    let loaded = conn
        .execute(&format!("INSERT INTO {table} ({names}) SELECT {casts} FROM {raw} WHERE NOT ({any_bad})"), [])
        .map_err(|e| e.to_string())?;
    let first_bad = format!(
        "CASE {} END",
        columns
            .iter()
            .map(|col| format!("WHEN {} THEN {}", bad_column(col), literal(&col.0)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let row_json = format!(
        "to_json({{{}}})::VARCHAR",
        columns.iter().map(|(n, _)| format!("{}: {}", literal(n), quote(n))).collect::<Vec<_>>().join(", ")
    );
    let mut stmt = conn
        .prepare(&format!(
            "SELECT spectra_file, spectra_line, {first_bad}, {row_json} FROM {raw} WHERE {any_bad} \
             ORDER BY spectra_file, spectra_line"
        ))
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |r| {
            let column: Option<String> = r.get(2)?;
            let column_type =
                column.as_ref().and_then(|n| columns.iter().find(|(c, _)| c == n)).map(|(_, t)| t.clone());
            Ok(Rejected {
                file: r.get(0)?,
                line: r.get(1)?,
                message: format!(
                    "Invalid value for column {} of type {}",
                    column.as_deref().unwrap_or("?"),
                    column_type.as_deref().unwrap_or("?")
                ),
                column,
                column_type,
                code: 1207,
                raw_line: r.get(3)?,
            })
        })
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    conn.execute_batch(&format!("DROP TABLE {raw}")).map_err(|e| e.to_string())?;
    Ok((loaded as i64, rows))
}
