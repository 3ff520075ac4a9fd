//! The tenant boundary of the embedded warehouse: what a tenant's statement may run, decided
//! by the engine itself.
//!
//! DuckDB has no users or grants, and its file and extension switches are global to the
//! database, so the boundary has three layers, each enforced by the engine:
//! - **The instance is hermetic** (set once at open, then the configuration is locked): no
//!   extension is installed or loaded, no file outside the engine's own I/O directory is
//!   readable or writable, the configuration cannot be changed again.
//! - **One text, parsed by the engine.** A tenant's query is parsed by DuckDB's own parser
//!   (`json_serialize_sql`); it must be exactly one plain query, and its whole tree is checked
//!   against allowlists ([`tree`]): table functions by name, tables and views only in the
//!   schemas granted to the tenant (so no file path as a table, no `spectra_internal`, no
//!   catalog), and only built-in functions that neither change nor describe the engine. What
//!   then runs is the engine's own re-print of the checked tree (`json_deserialize_sql`),
//!   itself checked to parse to the same tree: no comment, quote or statement separator of the
//!   tenant's text survives into what is executed.
//! - **The tenant's search path** holds only its granted schemas, so an unqualified name never
//!   reaches the statement ledger.

mod cache;
mod tree;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use duckdb::Connection;
use serde_json::Value;

pub(crate) use self::cache::CheckCache;
pub(crate) use spectra_worker::sql::GuardError as Refusal;

/// Functions with side effects that are harmless to a tenant (volatile values, raising errors).
const HARMLESS_VOLATILE: [&str; 6] = ["random", "gen_random_uuid", "uuid", "uuidv4", "uuidv7", "error"];
/// Built-ins that describe the engine's state (settings, variables, databases, the session)
/// rather than compute from their arguments.
const DESCRIBING: [&str; 11] = [
    "current_setting",
    "getvariable",
    "current_database",
    "current_catalog",
    "current_schema",
    "current_schemas",
    "in_search_path",
    "version",
    "txid_current",
    "current_query",
    "current_connection_id",
];

/// Who may run what on the embedded warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Confine statements that name a database user (`DbUser`, set by Spectra for every tenant
    /// statement). Statements without one run with full access: operator SQL, and the worker's
    /// own reads. Off, every statement has full access (the Data API emulator: its callers are
    /// the operators of a local Redshift).
    pub confine_db_users: bool,
    /// The schemas each database user may read (and ingest into), in search-path order.
    pub grants: HashMap<String, Vec<String>>,
    /// The schemas of a database user with no grants of its own.
    pub default_grants: Vec<String>,
}

impl Default for Access {
    fn default() -> Self {
        Self { confine_db_users: true, grants: HashMap::new(), default_grants: vec!["main".into()] }
    }
}

impl Access {
    /// Whether a statement with this `DbUser` runs confined (what [`Access::principal`] is
    /// `Some` for, without building the principal).
    pub(crate) fn confines(&self, db_user: Option<&str>) -> bool {
        self.confine_db_users && db_user.is_some()
    }

    /// The confined principal a statement runs as, `None` for full access.
    pub(crate) fn principal(&self, db_user: Option<&str>) -> Option<Principal> {
        let user = db_user.filter(|_| self.confines(db_user))?;
        let schemas = self.grants.get(user).unwrap_or(&self.default_grants);
        // A grant of Redshift's `public` is the engine's `main`, as the SQL layer names it.
        let schemas = schemas.iter().map(|s| crate::dialect::engine_schema(&s.to_lowercase())).collect();
        Some(Principal { schemas })
    }
}

/// A confined statement's rights: the schemas it may read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Principal {
    schemas: Vec<String>,
}

impl Principal {
    /// `SET search_path` for the principal's connection. Grants are validated identifiers, so
    /// they need no quoting beyond the literal's.
    pub fn search_path_sql(&self) -> String {
        let path = if self.schemas.is_empty() { "main".to_owned() } else { self.schemas.join(",") };
        format!("SET search_path = '{}'", path.replace('\'', "''"))
    }

    fn may_read_schema(&self, schema: &str) -> bool {
        self.schemas.iter().any(|s| s == schema)
    }

    /// Whether a table named with `schema` (or unqualified, through the search path) is within
    /// the grants.
    pub fn may_read(&self, schema: Option<&str>) -> bool {
        schema.is_none_or(|s| self.may_read_schema(&s.to_lowercase()))
    }
}

/// The built-in functions a tenant may call, read from the engine at open so that a new
/// engine version's functions are judged by their own flags.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    functions: HashSet<String>,
}

impl Policy {
    /// Reads the allowed functions from `duckdb_functions()`.
    pub fn load(conn: &Connection) -> Result<Self, duckdb::Error> {
        let harmless = HARMLESS_VOLATILE.map(|f| format!("'{f}'")).join(",");
        let describing = DESCRIBING.map(|f| format!("'{f}'")).join(",");
        let sql = format!(
            "SELECT DISTINCT function_name FROM duckdb_functions() \
             WHERE database_name = 'system' AND schema_name = 'main' \
               AND function_type IN ('scalar', 'aggregate', 'window', 'macro') \
               AND (NOT has_side_effects OR function_name IN ({harmless})) \
               AND function_name NOT IN ({describing}) \
               AND function_name NOT LIKE 'pg\\_%' ESCAPE '\\' \
               AND function_name NOT LIKE 'has\\_%privilege' ESCAPE '\\' \
               AND function_name NOT LIKE 'duckdb\\_%' ESCAPE '\\'"
        );
        let mut stmt = conn.prepare(&sql)?;
        let mut functions = stmt.query_map([], |row| row.get::<_, String>(0))?.collect::<Result<HashSet<_>, _>>()?;
        // `unnest` in a select list is an operator of the binder, listed as no function.
        functions.insert("unnest".into());
        Ok(Self { functions: functions.into_iter().map(|f| f.to_lowercase()).collect() })
    }
}

/// Checks `sql` for `principal` with the engine's parser; returns the text to execute (the
/// engine's re-print of the checked tree).
pub(crate) fn check(conn: &Connection, policy: &Policy, principal: &Principal, sql: &str) -> Result<String, Refusal> {
    let (raw, tree) = parse_one(conn, sql)?;
    let found = tree::walk(&tree, &policy.functions)?;
    for table in &found.tables {
        resolve(conn, principal, table)?;
    }
    let canonical: String = conn
        .query_row("SELECT json_deserialize_sql(?)", [raw.as_str()], |row| row.get(0))
        .map_err(|e| Refusal::blocked("query", format!("the engine cannot re-print this query: {e}")))?;
    let (_, again) = parse_one(conn, &canonical)?;
    if strip_locations(&again) != strip_locations(&tree) {
        return Err(Refusal::blocked("query", "this query form is not supported (it does not re-print faithfully)"));
    }
    Ok(canonical)
}

/// [`check`], answered from `checks` when the same text was checked for the same grants and
/// the catalog cannot have changed since (see [`CheckCache`]).
pub(crate) fn check_cached(
    conn: &Connection,
    policy: &Policy,
    checks: &CheckCache,
    principal: &Principal,
    sql: &str,
) -> Result<Arc<str>, Refusal> {
    if let Some(canonical) = checks.get(principal, sql) {
        return Ok(canonical);
    }
    let ticket = checks.ticket();
    let canonical: Arc<str> = check(conn, policy, principal, sql)?.into();
    checks.put(ticket, principal, sql, &canonical);
    Ok(canonical)
}

/// Parses `sql` with the engine: exactly one statement, or a refusal. Returns the raw JSON of
/// the whole parse (for re-printing) and the statement's tree.
fn parse_one(conn: &Connection, sql: &str) -> Result<(String, Value), Refusal> {
    let raw: String = conn
        .query_row("SELECT json_serialize_sql(?)", [sql], |row| row.get(0))
        .map_err(|e| Refusal::blocked("query", format!("the engine could not parse the query: {e}")))?;
    let parsed: Value = serde_json::from_str(&raw)
        .map_err(|e| Refusal::blocked("query", format!("the engine's parse could not be read: {e}")))?;
    if parsed.get("error").and_then(Value::as_bool).unwrap_or(true) {
        return Err(engine_error(sql, &parsed));
    }
    match parsed.get("statements").and_then(Value::as_array).map(Vec::as_slice) {
        Some([one]) => Ok((raw, one.clone())),
        Some([]) | None => Err(Refusal::blocked("empty", "the request has no SQL statement")),
        Some(many) => Err(Refusal::blocked(
            "multiple statements",
            format!("exactly one statement is allowed, found {}", many.len()),
        )),
    }
}

/// The engine's parse error: syntax errors with their position; every other statement kind
/// (the serializer takes only queries) as a refusal.
fn engine_error(sql: &str, parsed: &Value) -> Refusal {
    let message = parsed.get("error_message").and_then(Value::as_str).unwrap_or("the query does not parse");
    if parsed.get("error_type").and_then(Value::as_str) != Some("parser") {
        return Refusal::blocked("statement", "only read-only queries (SELECT, WITH, VALUES) are allowed");
    }
    let offset = parsed.get("position").and_then(Value::as_str).and_then(|p| p.parse::<usize>().ok());
    let (line, column) = match offset {
        Some(offset) => {
            let before: String = sql.chars().take(offset).collect();
            let line = before.matches('\n').count() as u64 + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
            (Some(line), Some(column))
        }
        None => (None, None),
    };
    Refusal::Invalid { message: message.to_owned(), line, column, hint: "check the syntax near the position".into() }
}

/// A base table or view must exist in a schema granted to the principal: a name that is no
/// such table (a file path, a catalog view, the ledger, another schema's table) is refused, as
/// not existing, before the engine could resolve it some other way.
fn resolve(conn: &Connection, principal: &Principal, table: &tree::TableRef) -> Result<(), Refusal> {
    let shown = if table.schema.is_empty() { table.name.clone() } else { format!("{}.{}", table.schema, table.name) };
    // To a tenant, what it may not read does not exist: the same answer for a missing table
    // and another schema's, so that existence cannot be probed.
    let missing = || Refusal::Invalid {
        message: format!("Catalog Error: Table with name {shown} does not exist"),
        line: None,
        column: None,
        hint: "name a table or view of the schemas granted to you".into(),
    };
    if !table.schema.is_empty() && !principal.may_read_schema(&table.schema) {
        return Err(missing());
    }
    let sql = "SELECT lower(schema_name) FROM duckdb_tables() \
               WHERE database_name = current_database() AND lower(table_name) = ? \
               UNION ALL SELECT lower(schema_name) FROM duckdb_views() \
               WHERE database_name = current_database() AND NOT internal AND lower(view_name) = ?";
    let mut stmt = conn.prepare(sql).map_err(|e| Refusal::blocked(shown.clone(), e.to_string()))?;
    let schemas = stmt
        .query_map([&table.name, &table.name], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Refusal::blocked(shown.clone(), e.to_string()))?;
    let visible =
        schemas.iter().any(|s| principal.may_read_schema(s) && (table.schema.is_empty() || *s == table.schema));
    if visible { Ok(()) } else { Err(missing()) }
}

/// The table an ingest batch's DML statement writes (`INSERT INTO t`, `DELETE FROM t`,
/// `UPDATE t`, `MERGE INTO t`); `None` for anything else. The worker builds these statements
/// from validated identifiers (quoted, no quote inside), so the first name is the one written.
pub(crate) fn dml_target(sql: &str) -> Option<(Option<String>, String)> {
    let mut words = sql.split_whitespace();
    let verb = words.next()?.to_ascii_uppercase();
    let into = match verb.as_str() {
        "INSERT" | "MERGE" => words.next()?.eq_ignore_ascii_case("INTO"),
        "DELETE" => words.next()?.eq_ignore_ascii_case("FROM"),
        "UPDATE" => true,
        _ => false,
    };
    if !into {
        return None;
    }
    let name = words.next()?;
    let name = name.split('(').next().unwrap_or(name);
    let unquote = |part: &str| -> Option<String> {
        let plain = part.strip_prefix('"').and_then(|p| p.strip_suffix('"')).unwrap_or(part);
        let valid = !plain.is_empty() && plain.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        valid.then(|| plain.to_ascii_lowercase())
    };
    match name.split_once('.') {
        Some((schema, table)) => Some((Some(unquote(schema)?), unquote(table)?)),
        None => Some((None, unquote(name)?)),
    }
}

/// The tree without source positions, which differ between the tenant's text and the re-print.
fn strip_locations(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with("query_location"))
                .map(|(k, v)| (k.clone(), strip_locations(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_locations).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn dml_targets_are_the_written_table() {
        assert_eq!(dml_target("INSERT INTO \"a\".\"t\" (x) SELECT x FROM s"), Some((Some("a".into()), "t".into())));
        assert_eq!(dml_target("DELETE FROM \"t\" USING s WHERE true"), Some((None, "t".into())));
        assert_eq!(dml_target("UPDATE t SET x = 1"), Some((None, "t".into())));
        assert_eq!(
            dml_target("MERGE INTO \"people\" USING s ON true WHEN MATCHED THEN DELETE"),
            Some((None, "people".into()))
        );
        assert_eq!(dml_target("SELECT 1"), None);
        assert_eq!(dml_target("INSERT INTO \"a\"\".x\" SELECT 1"), None, "a quote inside is no name of ours");
    }

    #[test]
    fn a_grant_of_public_is_the_engines_main() {
        let grants = HashMap::from([("tenant_acme".to_owned(), vec!["PUBLIC".to_owned(), "acme".to_owned()])]);
        let access = Access { grants, ..Access::default() };
        let principal = access.principal(Some("tenant_acme")).unwrap();
        assert!(principal.may_read(Some("main")) && principal.may_read(Some("acme")));
        assert!(!principal.may_read(Some("public")), "the layer has named it main before any check");
        assert_eq!(principal.search_path_sql(), "SET search_path = 'main,acme'");
    }
}
