//! The walk over DuckDB's own parse tree of a tenant's query (`json_serialize_sql`), checking
//! every node against allowlists. The tree is the engine's: there is no second parser whose
//! idea of quotes, backslashes or comments could differ from what runs.
//!
//! The walk is generic: it visits every JSON object of the tree, so a table reference or
//! function call nested anywhere (CTEs, subqueries in expressions, lambdas, window frames,
//! PIVOT sources) is seen. Objects are recognised by their shape: query nodes carry
//! `modifiers`, table references `sample` (and no `modifiers`), expressions `class`.

use std::collections::HashSet;

use serde_json::Value;

use super::Refusal;

/// Query node types a tenant query may contain.
const QUERY_NODES: [&str; 4] = ["SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"];

/// Table reference types a tenant query may contain. `SHOW_REF` (DESCRIBE, SHOW, SUMMARIZE)
/// describes the engine; anything DuckDB adds later is refused until it is looked at.
const TABLE_REFS: [&str; 7] = ["BASE_TABLE", "JOIN", "SUBQUERY", "TABLE_FUNCTION", "EXPRESSION_LIST", "EMPTY", "PIVOT"];

/// Table functions a tenant query may call: they compute rows from their arguments and read
/// nothing else. Every other table function (file readers, catalog and settings views,
/// `query()`, logging and checkpoint switches) is refused, including those a later engine
/// version adds.
pub(crate) const TABLE_FUNCTIONS: [&str; 5] = ["range", "generate_series", "unnest", "json_each", "json_tree"];

/// Bare words DuckDB's binder turns into calls that describe the engine (`SELECT
/// current_schema` is a column reference in the tree until it is bound).
const DESCRIBING_WORDS: [&str; 2] = ["current_catalog", "current_schema"];

/// A base table reference found in the tree, for the caller to resolve in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableRef {
    /// The schema as written (lower-cased), empty when unqualified.
    pub schema: String,
    /// The table or view name, lower-cased.
    pub name: String,
}

/// What the walk found that needs the catalog to decide.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Base table references that are not CTE names.
    pub tables: Vec<TableRef>,
}

/// Checks the parse tree of one statement; `functions` are the scalar, aggregate, window and
/// macro names a tenant may call.
pub(crate) fn walk(statement: &Value, functions: &HashSet<String>) -> Result<Found, Refusal> {
    let mut ctes = HashSet::new();
    collect_ctes(statement, &mut ctes);
    let mut found = Found::default();
    visit(statement, functions, &ctes, &mut found)?;
    Ok(found)
}

fn collect_ctes(value: &Value, into: &mut HashSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(entries) = map.get("cte_map").and_then(|m| m.get("map")).and_then(Value::as_array) {
                for entry in entries {
                    if let Some(name) = entry.get("key").and_then(Value::as_str) {
                        into.insert(name.to_lowercase());
                    }
                }
            }
            map.values().for_each(|v| collect_ctes(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_ctes(v, into)),
        _ => {}
    }
}

fn visit(value: &Value, functions: &HashSet<String>, ctes: &HashSet<String>, found: &mut Found) -> Result<(), Refusal> {
    match value {
        Value::Object(map) => {
            let kind = map.get("type").and_then(Value::as_str).unwrap_or_default();
            if map.contains_key("modifiers") && !QUERY_NODES.contains(&kind) {
                return Err(Refusal::blocked(kind, "only plain queries are allowed"));
            }
            let is_table_ref = map.contains_key("sample") && map.contains_key("type") && !map.contains_key("modifiers");
            if is_table_ref {
                table_ref(value, kind, ctes, found)?;
            }
            if let Some(class) = map.get("class").and_then(Value::as_str) {
                expression(value, class, functions)?;
            }
            // A table function's own call was judged above by the table-function list; its
            // arguments are walked like any expression.
            let table_function = is_table_ref && kind == "TABLE_FUNCTION";
            map.iter()
                .filter(|(k, _)| !(table_function && k.as_str() == "function"))
                .try_for_each(|(_, v)| visit(v, functions, ctes, found))?;
            if table_function && let Some(arguments) = map.get("function").and_then(|f| f.get("arguments")) {
                visit(arguments, functions, ctes, found)?;
            }
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|v| visit(v, functions, ctes, found)),
        _ => Ok(()),
    }
}

fn text<'a>(node: &'a Value, key: &str) -> &'a str {
    node.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn table_ref(node: &Value, kind: &str, ctes: &HashSet<String>, found: &mut Found) -> Result<(), Refusal> {
    if !TABLE_REFS.contains(&kind) {
        let what = if kind == "SHOW_REF" { "DESCRIBE/SHOW/SUMMARIZE" } else { kind };
        return Err(Refusal::blocked(what, "this kind of table reference is not available to tenants"));
    }
    match kind {
        "BASE_TABLE" => {
            let (catalog, schema, name) =
                (text(node, "catalog_name"), text(node, "schema_name").to_lowercase(), text(node, "table_name"));
            if !catalog.is_empty() {
                return Err(Refusal::blocked(
                    format!("{catalog}.{schema}.{name}"),
                    "tables are named by schema and table only",
                ));
            }
            if !node.get("at_clause").is_none_or(Value::is_null) {
                return Err(Refusal::blocked(name, "time travel (AT) is not available"));
            }
            if schema.is_empty() && ctes.contains(&name.to_lowercase()) {
                return Ok(());
            }
            found.tables.push(TableRef { schema, name: name.to_lowercase() });
            Ok(())
        }
        "TABLE_FUNCTION" => {
            let function = node.get("function").unwrap_or(&Value::Null);
            let name = text(function, "function_name").to_lowercase();
            let qualified = !text(function, "schema").is_empty() || !text(function, "catalog").is_empty();
            if qualified || !TABLE_FUNCTIONS.contains(&name.as_str()) {
                return Err(Refusal::blocked(
                    name,
                    format!("table functions are limited to {}", TABLE_FUNCTIONS.join(", ")),
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn expression(node: &Value, class: &str, functions: &HashSet<String>) -> Result<(), Refusal> {
    match class {
        "FUNCTION" | "WINDOW" => {
            let name = text(node, "function_name").to_lowercase();
            let qualified = !text(node, "schema").is_empty() || !text(node, "catalog").is_empty();
            let operator = node.get("is_operator").and_then(Value::as_bool).unwrap_or(false);
            if qualified {
                return Err(Refusal::blocked(name, "functions are called by their plain name"));
            }
            if !operator && !functions.contains(&name) {
                return Err(Refusal::blocked(
                    name,
                    "this function is not available: it changes or describes the engine, or is not a built-in",
                ));
            }
            Ok(())
        }
        "COLUMN_REF" => {
            let names = node.get("column_names").and_then(Value::as_array);
            match names.map(Vec::as_slice) {
                Some([only])
                    if only.as_str().is_some_and(|n| DESCRIBING_WORDS.contains(&n.to_lowercase().as_str())) =>
                {
                    Err(Refusal::blocked(only.as_str().unwrap_or_default(), "this describes the engine"))
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn functions() -> HashSet<String> {
        ["count_star", "sum", "abs"].iter().map(|s| (*s).to_owned()).collect()
    }

    fn base(schema: &str, name: &str) -> Value {
        json!({"type": "BASE_TABLE", "sample": null, "schema_name": schema, "table_name": name, "catalog_name": ""})
    }

    fn select(from: Value, list: Value) -> Value {
        json!({"node": {"type": "SELECT_NODE", "modifiers": [], "cte_map": {"map": []}, "select_list": list, "from_table": from}})
    }

    #[test]
    fn base_tables_are_reported_for_resolution_and_ctes_are_not() {
        let mut tree = select(base("", "Sales"), json!([]));
        tree["node"]["cte_map"]["map"] = json!([{"key": "recent", "value": {}}]);
        tree["node"]["where_clause"] = json!({"class": "SUBQUERY", "subquery": select(base("", "recent"), json!([]))});
        let found = walk(&tree, &functions()).unwrap();
        assert_eq!(found.tables, vec![TableRef { schema: String::new(), name: "sales".into() }]);
    }

    #[test]
    fn table_functions_outside_the_list_are_refused_wherever_they_are() {
        let reader = json!({"type": "TABLE_FUNCTION", "sample": null,
            "function": {"class": "FUNCTION", "function_name": "read_text", "schema": "", "catalog": ""}});
        let nested = select(base("", "t"), json!([{"class": "SUBQUERY", "subquery": select(reader, json!([]))}]));
        let e = walk(&nested, &functions()).unwrap_err();
        assert_eq!(e.pattern(), "read_text");
        let range = json!({"type": "TABLE_FUNCTION", "sample": null,
            "function": {"class": "FUNCTION", "function_name": "range", "schema": "", "catalog": ""}});
        assert!(walk(&select(range, json!([])), &functions()).is_ok());
    }

    #[test]
    fn functions_must_be_listed_and_unqualified() {
        let call = |name: &str, schema: &str| {
            select(
                json!({"type": "EMPTY", "sample": null}),
                json!([{"class": "FUNCTION", "function_name": name, "schema": schema, "catalog": "", "is_operator": false}]),
            )
        };
        assert!(walk(&call("abs", ""), &functions()).is_ok());
        assert_eq!(walk(&call("nextval", ""), &functions()).unwrap_err().pattern(), "nextval");
        assert_eq!(walk(&call("abs", "main"), &functions()).unwrap_err().pattern(), "abs");
    }

    #[test]
    fn describe_and_unknown_nodes_are_refused() {
        let show = select(json!({"type": "SHOW_REF", "sample": null}), json!([]));
        assert_eq!(walk(&show, &functions()).unwrap_err().pattern(), "DESCRIBE/SHOW/SUMMARIZE");
        let odd = json!({"node": {"type": "SOMETHING_NEW", "modifiers": []}});
        assert_eq!(walk(&odd, &functions()).unwrap_err().pattern(), "SOMETHING_NEW");
        let word = select(
            json!({"type": "EMPTY", "sample": null}),
            json!([{"class": "COLUMN_REF", "column_names": ["CURRENT_SCHEMA"]}]),
        );
        assert!(walk(&word, &functions()).is_err());
    }
}
