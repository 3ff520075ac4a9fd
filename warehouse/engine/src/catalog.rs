//! What the Data API's metadata operations need from the engine without running a statement
//! (ListDatabases, ListSchemas, ListTables and DescribeTable create no statement on AWS either),
//! and the statement list behind ListStatements.

use spectra_worker::ports::{ColumnMetadata, Field, StatementDescription, WarehouseError};

use super::{DuckWarehouse, exec, unavailable};

impl DuckWarehouse {
    /// Runs a read-only catalog query (with positional `?` values) outside the statement
    /// machinery: no id, no ledger entry, no event.
    pub async fn catalog_query(
        &self,
        sql: &str,
        values: Vec<String>,
    ) -> Result<(Vec<ColumnMetadata>, Vec<Vec<Field>>), WarehouseError> {
        let conn = self.inner.connection()?;
        let sql = sql.to_owned();
        let result = tokio::task::spawn_blocking(move || exec::query_rows(&conn, &sql, &values))
            .await
            .map_err(unavailable)?
            .map_err(WarehouseError::Validation)?;
        Ok((result.columns, result.rows))
    }

    /// Every statement still retained (24 hours), newest first, as DescribeStatement shows them.
    pub fn statements(&self) -> Vec<StatementDescription> {
        let registry = self.inner.registry();
        let mut all: Vec<StatementDescription> =
            registry.entries.values().filter_map(|entry| entry.record.describe(None)).collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        all
    }
}
