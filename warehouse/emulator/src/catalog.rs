//! ListDatabases, ListSchemas, ListTables and DescribeTable, from the engine's catalog. Every
//! database name maps to the one local engine; its internal schemas (`spectra_internal`,
//! `information_schema`, `pg_catalog`) are not listed. The engine's default schema is `main`
//! where Redshift's is `public`: every answer says `public`, and `public` is asked for as
//! `main` (as the SQL layer names it in statements).

use serde_json::{Value, json};

use super::Emulator;
use super::wire::{AwsError, ListRequest, column, max_results, page_offset, page_token};
use spectra_warehouse::{engine_schema, shown_schema};
use spectra_worker::ports::Field;

const HIDDEN: &str = "('spectra_internal', 'information_schema', 'pg_catalog')";

/// The connection options every catalog call takes: a target and a database.
fn check_target(r: &ListRequest) -> Result<String, AwsError> {
    match (&r.cluster_identifier, &r.workgroup_name) {
        (Some(_), Some(_)) => {
            return Err(AwsError::validation("Specify either ClusterIdentifier or WorkgroupName, not both"));
        }
        (None, None) => return Err(AwsError::validation("Either ClusterIdentifier or WorkgroupName is required")),
        _ => {}
    }
    r.database.clone().filter(|d| !d.is_empty()).ok_or_else(|| AwsError::validation("Database is required"))
}

fn text(f: &Field) -> String {
    match f {
        Field::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// One page of `items` under the key `key`, with a token for the rest.
fn paged(items: Vec<Value>, key: &str, r: &ListRequest, max: usize, what: &str) -> Result<Value, AwsError> {
    let limit = max_results(r.max_results, max)?;
    let offset = page_offset(r.next_token.as_deref(), what)?;
    let page: Vec<Value> = items.iter().skip(offset).take(limit).cloned().collect();
    let mut body = json!({ key: page });
    if offset + limit < items.len() {
        body["NextToken"] = page_token(offset + limit, what).into();
    }
    Ok(body)
}

/// ListDatabases: the database asked for (any name is the local engine).
pub async fn databases(_: &Emulator, r: ListRequest) -> Result<Value, AwsError> {
    let database = check_target(&r)?;
    paged(vec![Value::String(database)], "Databases", &r, 1000, "databases")
}

/// ListSchemas, filtered by `SchemaPattern` (SQL LIKE).
pub async fn schemas(e: &Emulator, r: ListRequest) -> Result<Value, AwsError> {
    check_target(&r)?;
    let pattern = r.schema_pattern.clone().unwrap_or_else(|| "%".into());
    let sql = format!(
        "SELECT DISTINCT {name} AS name FROM information_schema.schemata WHERE catalog_name = current_database() \
         AND {name} LIKE ? AND schema_name NOT IN {HIDDEN} ORDER BY 1",
        name = shown_schema("schema_name")
    );
    let (_, rows) = e
        .warehouse
        .catalog_query(&sql, vec![pattern.clone()])
        .await
        .map_err(|err| AwsError::from_warehouse(err, "ListSchemas"))?;
    let items = rows.iter().map(|row| Value::String(text(&row[0]))).collect();
    paged(items, "Schemas", &r, 1000, &format!("schemas/{pattern}"))
}

/// ListTables, filtered by `SchemaPattern` and `TablePattern` (SQL LIKE).
pub async fn tables(e: &Emulator, r: ListRequest) -> Result<Value, AwsError> {
    check_target(&r)?;
    let schema = r.schema_pattern.clone().unwrap_or_else(|| "%".into());
    let table = r.table_pattern.clone().unwrap_or_else(|| "%".into());
    let sql = format!(
        "SELECT {name} AS name, table_name, table_type FROM information_schema.tables \
         WHERE table_catalog = current_database() AND {name} LIKE ? AND table_name LIKE ? \
         AND table_schema NOT IN {HIDDEN} ORDER BY 1, 2",
        name = shown_schema("table_schema")
    );
    let (_, rows) = e
        .warehouse
        .catalog_query(&sql, vec![schema.clone(), table.clone()])
        .await
        .map_err(|err| AwsError::from_warehouse(err, "ListTables"))?;
    let items = rows
        .iter()
        .map(|row| {
            let kind = if text(&row[2]) == "VIEW" { "VIEW" } else { "TABLE" };
            json!({"schema": text(&row[0]), "name": text(&row[1]), "type": kind})
        })
        .collect();
    paged(items, "Tables", &r, 1000, &format!("tables/{schema}/{table}"))
}

/// DescribeTable: the table's columns with Redshift type names; empty for a missing table.
pub async fn describe_table(e: &Emulator, r: ListRequest) -> Result<Value, AwsError> {
    check_target(&r)?;
    let table = r.table.clone().filter(|t| !t.is_empty()).ok_or_else(|| AwsError::validation("Table is required"))?;
    let shown_schema = r.schema.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "public".to_owned());
    let schema = engine_schema(&shown_schema);
    let exists = format!(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() \
         AND table_schema = ? AND table_name = ? AND table_schema NOT IN {HIDDEN}"
    );
    let (_, found) = e
        .warehouse
        .catalog_query(&exists, vec![schema.clone(), table.clone()])
        .await
        .map_err(|err| AwsError::from_warehouse(err, "DescribeTable"))?;
    let mut columns = Vec::new();
    if found.first().and_then(|row| row.first()) == Some(&Field::Long(1)) {
        // Both names were just found in the catalog; quoting makes them inert anyway.
        let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
        let probe = format!("SELECT * FROM {}.{} LIMIT 0", quote(&schema), quote(&table));
        let (metadata, _) = e
            .warehouse
            .catalog_query(&probe, Vec::new())
            .await
            .map_err(|err| AwsError::from_warehouse(err, "DescribeTable"))?;
        columns = metadata.iter().map(|c| column(c, &shown_schema, &table)).collect();
    }
    let mut body = paged(columns, "ColumnList", &r, 1000, &format!("columns/{schema}/{table}"))?;
    body["TableName"] = table.into();
    Ok(body)
}
