//! Redshift's `CREATE [TEMP] TABLE name (LIKE parent)`, which DuckDB lacks: the parent's
//! columns and types, spelled out. (The ingest batch stages rows this way. A `CREATE TABLE ...
//! AS SELECT` stage would also do on DuckDB, but DuckDB 2.0.0-dev loses more than one row
//! group appended to a table created by CTAS earlier in the same transaction.)

use duckdb::Connection;

use super::copy::{quote, target_columns};
use super::tokens::{Parser, Tok};

fn quoted_name(schema: Option<&String>, table: &str) -> String {
    match schema {
        Some(schema) => format!("{}.{}", quote(schema), quote(table)),
        None => quote(table),
    }
}

/// A parsed `CREATE [LOCAL] [TEMP] TABLE name (LIKE parent)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreateLike {
    pub temp: bool,
    pub schema: Option<String>,
    pub table: String,
    pub parent_schema: Option<String>,
    pub parent: String,
}

/// Recognises Redshift's `CREATE [LOCAL] [TEMP | TEMPORARY] TABLE name (LIKE parent
/// [INCLUDING | EXCLUDING DEFAULTS])`, which DuckDB lacks; `None` for any other statement.
pub(crate) fn parse_create_like(sql: &str) -> Option<CreateLike> {
    let mut p = Parser::new(sql).ok()?;
    if !p.keyword("CREATE") {
        return None;
    }
    p.keyword("LOCAL");
    let temp = p.keyword("TEMP") || p.keyword("TEMPORARY");
    if !p.keyword("TABLE") {
        return None;
    }
    let (schema, table) = p.qualified().ok()?;
    if p.next()? != Tok::LParen || !p.keyword("LIKE") {
        return None;
    }
    let (parent_schema, parent) = p.qualified().ok()?;
    if (p.keyword("INCLUDING") || p.keyword("EXCLUDING")) && !p.keyword("DEFAULTS") {
        return None;
    }
    if p.next()? != Tok::RParen || p.next().is_some() {
        return None;
    }
    Some(CreateLike { temp, schema, table, parent_schema, parent })
}

/// Creates the table.
pub(crate) fn run(conn: &Connection, c: &CreateLike) -> Result<(), String> {
    let parent = quoted_name(c.parent_schema.as_ref(), &c.parent);
    let columns = target_columns(conn, &parent, &[])?
        .iter()
        .map(|(name, ty)| format!("{} {ty}", quote(name)))
        .collect::<Vec<_>>()
        .join(", ");
    let temp = if c.temp { "TEMP " } else { "" };
    conn.execute_batch(&format!("CREATE {temp}TABLE {} ({columns})", quoted_name(c.schema.as_ref(), &c.table)))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_like_is_recognised_and_nothing_else() {
        let c = parse_create_like(r#"CREATE TEMP TABLE spectra_stage (LIKE "public"."sales")"#).unwrap();
        assert_eq!(
            c,
            CreateLike {
                temp: true,
                schema: None,
                table: "spectra_stage".into(),
                parent_schema: Some("public".into()),
                parent: "sales".into()
            }
        );
        assert!(!parse_create_like("create table a.b (like c including defaults);").unwrap().temp);
        for other in ["CREATE TABLE t (id INT)", "CREATE TABLE t AS SELECT 1", "SELECT 1", "CREATE TABLE t (LIKE c) x"]
        {
            assert_eq!(parse_create_like(other), None, "{other}");
        }
    }
}
