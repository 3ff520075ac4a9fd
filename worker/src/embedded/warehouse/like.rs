//! Redshift's `CREATE [TEMP] TABLE name (LIKE parent)`, which DuckDB lacks: the parent's
//! columns and types, spelled out. (The ingest batch stages rows this way. A `CREATE TABLE ...
//! AS SELECT` stage would also do on DuckDB, but DuckDB 2.0.0-dev loses more than one row
//! group appended to a table created by CTAS earlier in the same transaction.)

use duckdb::Connection;

use super::copy::{quote, target_columns};
use super::options::CreateLike;

fn qualified(schema: Option<&String>, table: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote(schema), quote(table)),
        None => quote(table),
    }
}

/// Creates the table.
pub(crate) fn run(conn: &Connection, c: &CreateLike) -> Result<(), String> {
    let parent = qualified(c.parent_schema.as_ref(), &c.parent);
    let columns = target_columns(conn, &parent, &[])?
        .iter()
        .map(|(name, ty)| format!("{} {ty}", quote(name)))
        .collect::<Vec<_>>()
        .join(", ");
    let temp = if c.temp { "TEMP " } else { "" };
    conn.execute_batch(&format!("CREATE {temp}TABLE {} ({columns})", qualified(c.schema.as_ref(), &c.table)))
        .map_err(|e| e.to_string())
}
