//! Redshift's catalog as a Redshift user reads it: `information_schema` and `pg_table_def`
//! that say `public` (the engine's `main`), Redshift's type names and the statement's database,
//! and the session's own names (`current_user`, `current_database()`, `current_schema()`).
//!
//! DuckDB's own `information_schema` cannot be changed, so the layer points a query's
//! references to it at table macros of the engine's internal schema, installed when the engine
//! opens ([`install`]) and given the statement's database. A tenant's statement that names the
//! catalog is still refused by the tenant boundary: the macros are in no schema granted to it.

use duckdb::Connection;
use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Ident, ObjectName, ObjectNamePart, Set, Statement, TableAlias, TableFactor,
    TableFunctionArgs, Value,
};

use super::{Session, engine_schema, shown_schema};

/// Where the catalog macros live: the engine's internal schema, never listed to users.
const SCHEMA: &str = "spectra_internal";

/// A DuckDB type name (`information_schema.columns.data_type`) as Redshift's
/// `information_schema` spells it.
const REDSHIFT_TYPE: &str = "CASE WHEN t LIKE 'DECIMAL%' THEN 'numeric' ELSE CASE t \
    WHEN 'SMALLINT' THEN 'smallint' WHEN 'INTEGER' THEN 'integer' WHEN 'BIGINT' THEN 'bigint' \
    WHEN 'HUGEINT' THEN 'numeric' WHEN 'FLOAT' THEN 'real' WHEN 'DOUBLE' THEN 'double precision' \
    WHEN 'BOOLEAN' THEN 'boolean' WHEN 'VARCHAR' THEN 'character varying' WHEN 'DATE' THEN 'date' \
    WHEN 'TIMESTAMP' THEN 'timestamp without time zone' \
    WHEN 'TIMESTAMP WITH TIME ZONE' THEN 'timestamp with time zone' \
    WHEN 'TIME' THEN 'time without time zone' WHEN 'TIME WITH TIME ZONE' THEN 'time with time zone' \
    WHEN 'BLOB' THEN 'binary varying' ELSE lower(t) END END";

/// Creates (or replaces, so an upgrade brings its own) the catalog macros: each of DuckDB's
/// `information_schema` views with the statement's database, `public` and Redshift's type
/// names in place of the engine's, and `pg_table_def`.
pub(crate) fn install(conn: &Connection) -> duckdb::Result<()> {
    let user_schemas = format!("NOT IN ('{SCHEMA}', 'information_schema', 'pg_catalog')");
    let mut sql = format!(
        "CREATE SCHEMA IF NOT EXISTS {SCHEMA};
         CREATE OR REPLACE MACRO {SCHEMA}.redshift_type(t) AS {REDSHIFT_TYPE};"
    );
    let typed = format!(", {SCHEMA}.redshift_type(data_type) AS data_type");
    for (view, catalog, schema, more) in [
        ("tables", "table_catalog", "table_schema", ""),
        ("views", "table_catalog", "table_schema", ""),
        ("columns", "table_catalog", "table_schema", typed.as_str()),
        ("schemata", "catalog_name", "schema_name", ""),
    ] {
        sql.push_str(&format!(
            "CREATE OR REPLACE MACRO {SCHEMA}.redshift_{view}(db) AS TABLE
               SELECT * REPLACE (db AS {catalog}, {shown} AS {schema}{more})
               FROM information_schema.{view}
               WHERE {catalog} = current_database() AND {schema} {user_schemas};",
            shown = shown_schema(schema),
        ));
    }
    sql.push_str(&format!(
        "CREATE OR REPLACE MACRO {SCHEMA}.redshift_table_def(db) AS TABLE
           SELECT {schema} AS schemaname, table_name AS tablename, column_name AS \"column\",
                  CASE WHEN data_type LIKE 'DECIMAL%'
                       THEN 'numeric(' || numeric_precision || ',' || numeric_scale || ')'
                       ELSE {SCHEMA}.redshift_type(data_type) END AS type,
                  'none' AS encoding, false AS distkey, 0 AS sortkey, is_nullable = 'NO' AS notnull
           FROM information_schema.columns
           WHERE table_catalog = current_database() AND table_schema {user_schemas}
           ORDER BY schemaname, tablename, ordinal_position;",
        schema = shown_schema("table_schema"),
    ));
    conn.execute_batch(&sql)
}

/// The catalog relations Redshift users query, and the macro that answers each.
const RELATIONS: [(&str, &str, &str); 5] = [
    ("information_schema", "tables", "redshift_tables"),
    ("information_schema", "columns", "redshift_columns"),
    ("information_schema", "views", "redshift_views"),
    ("information_schema", "schemata", "redshift_schemata"),
    ("", "pg_table_def", "redshift_table_def"),
];

/// Points a reference to a catalog relation at its macro, given the session's database;
/// whether it was one.
pub(super) fn point_at_macro(factor: &mut TableFactor, session: &Session<'_>) -> bool {
    let TableFactor::Table { name, alias, args: args @ None, .. } = factor else { return false };
    let parts: Vec<String> =
        name.0.iter().filter_map(ObjectNamePart::as_ident).map(|i| i.value.to_ascii_lowercase()).collect();
    let (schema, table) = match parts.as_slice() {
        [table] => ("", table.as_str()),
        [schema, table] => (schema.as_str(), table.as_str()),
        _ => return false,
    };
    let found =
        RELATIONS.iter().find(|(s, t, _)| *t == table && (*s == schema || (s.is_empty() && schema == "pg_catalog")));
    let Some((_, table, function)) = found else { return false };
    *name = ObjectName::from(vec![Ident::new(SCHEMA), Ident::new(*function)]);
    let database = Expr::value(Value::SingleQuotedString(session.database.to_owned()));
    *args =
        Some(TableFunctionArgs { args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(database))], settings: None });
    // Columns qualified by the relation's name (`columns.table_name`) keep resolving.
    if alias.is_none() {
        *alias = Some(TableAlias { explicit: true, name: Ident::new(*table), columns: Vec::new(), at: None });
    }
    true
}

/// `SET search_path TO '$user', public` in the engine's terms: `public` is `main`, and
/// `$user` (a schema per user, which the engine does not have) is left out.
pub(super) fn search_path(statement: &Statement) -> Option<String> {
    let Statement::Set(Set::SingleAssignment { variable, values, .. }) = statement else { return None };
    if !variable.to_string().eq_ignore_ascii_case("search_path") {
        return None;
    }
    let mut schemas = Vec::new();
    for value in values {
        let text = match value {
            Expr::Identifier(id) => id.value.clone(),
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) => s.clone(),
                _ => return None,
            },
            _ => return None,
        };
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty() && *n != "$user") {
            schemas.push(engine_schema(name));
        }
    }
    let path = schemas.join(",").replace('\'', "''");
    Some(format!("SET search_path = '{path}'"))
}
