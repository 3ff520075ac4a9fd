//! The warehouse as the worker sees it, with a CLIENT span per call as the OpenTelemetry
//! database conventions name them: `db.system.name` (`aws.redshift` for the Data API), the
//! Data API operation as `db.operation.name`, the statement id. Never the SQL: a tenant's
//! query text can carry what the tenant would not want in a trace backend.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::{Instrument, Span};

use crate::ports::{ResultPage, Sql, StatementDescription, StatementRequest, Warehouse, WarehouseError};

/// Wraps a warehouse; every call is forwarded unchanged (the inner one's own `wait` and
/// `check_query` included).
pub struct TracedWarehouse {
    inner: Arc<dyn Warehouse>,
}

impl TracedWarehouse {
    /// `inner`, traced.
    pub fn wrap(inner: Arc<dyn Warehouse>) -> Arc<dyn Warehouse> {
        Arc::new(Self { inner })
    }

    fn span(&self, operation: &'static str, statement: Option<&str>) -> Span {
        let system = self.inner.system();
        let span = tracing::info_span!(
            "warehouse",
            otel.name = tracing::field::Empty,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            db.system.name = system,
            db.operation.name = operation,
            spectra.statement.id = statement,
        );
        crate::trace::name(&span, || format!("{operation} {system}"));
        span
    }
}

/// Marks the span failed when the call failed (the error itself is logged by the caller).
fn outcome<T>(span: &Span, result: Result<T, WarehouseError>) -> Result<T, WarehouseError> {
    if result.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    result
}

#[async_trait]
impl Warehouse for TracedWarehouse {
    fn system(&self) -> &'static str {
        self.inner.system()
    }

    async fn execute(&self, request: StatementRequest) -> Result<String, WarehouseError> {
        let span = self.span("ExecuteStatement", None);
        let result = self.inner.execute(request).instrument(span.clone()).await;
        if let Ok(id) = &result {
            span.record("spectra.statement.id", id.as_str());
        }
        outcome(&span, result)
    }

    async fn describe(&self, id: &str) -> Result<StatementDescription, WarehouseError> {
        let span = self.span("DescribeStatement", Some(id));
        outcome(&span, self.inner.describe(id).instrument(span.clone()).await)
    }

    async fn cancel(&self, id: &str) -> Result<bool, WarehouseError> {
        let span = self.span("CancelStatement", Some(id));
        outcome(&span, self.inner.cancel(id).instrument(span.clone()).await)
    }

    async fn results(&self, id: &str, next_token: Option<&str>) -> Result<ResultPage, WarehouseError> {
        let span = self.span("GetStatementResult", Some(id));
        outcome(&span, self.inner.results(id, next_token).instrument(span.clone()).await)
    }

    async fn wait(&self, id: &str, timeout: Duration) -> Result<StatementDescription, WarehouseError> {
        let span = self.span("WaitStatement", Some(id));
        outcome(&span, self.inner.wait(id, timeout).instrument(span.clone()).await)
    }

    async fn check_query(&self, sql: &Sql, db_user: Option<&str>) -> Result<(), WarehouseError> {
        self.inner.check_query(sql, db_user).await
    }
}
