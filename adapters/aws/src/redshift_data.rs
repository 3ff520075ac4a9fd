//! The `Warehouse` port on the Amazon Redshift Data API (seed 004).
//!
//! Statements go to a provisioned cluster (`ClusterIdentifier` with a `DbUser` for temporary
//! credentials, or a `SecretArn`) or to a Serverless workgroup (`WorkgroupName`, optionally a
//! `SecretArn`). A request's `db_user` (per tenant) overrides the target's on clusters;
//! Serverless has no `DbUser`, so a per-tenant user there is a validation error, and
//! configuration refuses that combination at start.
//!
//! Errors: `ActiveStatementsExceededException` and throttling are backpressure;
//! `ExecuteStatementException`, `BatchExecuteStatementException`, `InternalServerException` and
//! transport failures are outages (retryable); `ValidationException` fails the job;
//! `ResourceNotFoundException` is a missing statement.

use async_trait::async_trait;
use aws_sdk_redshiftdata::Client;
use aws_sdk_redshiftdata::types::{Field as DataField, SqlParameter, StatusString, SubStatementData};
use chrono::{DateTime, TimeZone, Utc};
use spectra_state_machine::{Identifier, QueryParameter};

use super::{OperationError, Sdk, classify};
use spectra_worker::ports::{
    ColumnMetadata, Field, ResultPage, Sql, StatementDescription, StatementRequest, StatementStatus, SubStatement,
    Warehouse, WarehouseError,
};

/// Where statements run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataApiTarget {
    /// A provisioned cluster.
    Cluster {
        /// `ClusterIdentifier`.
        identifier: String,
        /// `DbUser` for temporary credentials (when no secret is used).
        db_user: Option<String>,
        /// `SecretArn` with the database credentials.
        secret_arn: Option<String>,
    },
    /// A Redshift Serverless workgroup.
    Serverless {
        /// `WorkgroupName`.
        workgroup: String,
        /// `SecretArn`; the caller's IAM identity when `None`.
        secret_arn: Option<String>,
    },
}

/// The Data API as a warehouse.
#[derive(Clone)]
pub struct DataApiWarehouse {
    client: Client,
    target: DataApiTarget,
    database: String,
}

fn warehouse_error<E: OperationError>(e: &Sdk<E>) -> WarehouseError {
    let f = classify(e);
    match f.code.as_str() {
        "ActiveStatementsExceededException" => WarehouseError::ActiveStatementsExceeded(f.message),
        "ThrottlingException" | "TooManyRequestsException" => WarehouseError::Throttled(f.message),
        "ResourceNotFoundException" => WarehouseError::NotFound(f.message),
        "ValidationException" => WarehouseError::Validation(f.message),
        _ if f.retryable => WarehouseError::Unavailable(f.message),
        "ExecuteStatementException" | "BatchExecuteStatementException" | "InternalServerException" => {
            WarehouseError::Unavailable(f.message)
        }
        _ => WarehouseError::Validation(f.message),
    }
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> DateTime<Utc> {
    t.and_then(|t| Utc.timestamp_opt(t.secs(), t.subsec_nanos()).single()).unwrap_or_else(Utc::now)
}

/// A status as the Data API spells it (`StatusString` and `StatementStatusString` alike).
fn status(s: Option<&str>) -> Result<StatementStatus, WarehouseError> {
    Ok(match s {
        Some("SUBMITTED") => StatementStatus::Submitted,
        Some("PICKED") => StatementStatus::Picked,
        Some("STARTED") => StatementStatus::Started,
        Some("FINISHED") => StatementStatus::Finished,
        Some("ABORTED") => StatementStatus::Aborted,
        Some("FAILED") => StatementStatus::Failed,
        other => return Err(WarehouseError::Unavailable(format!("unexpected statement status {other:?}"))),
    })
}

fn sub_statement(s: &SubStatementData) -> Result<SubStatement, WarehouseError> {
    Ok(SubStatement {
        id: s.id().to_owned(),
        status: status(s.status().map(|v| v.as_str()))?,
        error: s.error().map(str::to_owned),
        has_result_set: s.has_result_set().unwrap_or(false),
        result_rows: s.result_rows(),
        query_string: s.query_string().unwrap_or_default().to_owned(),
        redshift_query_id: s.redshift_query_id(),
        created_at: time(s.created_at()),
        updated_at: time(s.updated_at()),
        duration_ns: s.duration(),
    })
}

fn field(f: &DataField) -> Field {
    match f {
        DataField::BooleanValue(b) => Field::Boolean(*b),
        DataField::LongValue(v) => Field::Long(*v),
        DataField::DoubleValue(v) => Field::Double(*v),
        DataField::StringValue(s) => Field::String(s.clone()),
        DataField::BlobValue(b) => Field::Blob(b.as_ref().to_vec()),
        // `IsNull` and any member a newer service adds: a value we cannot read is absent.
        _ => Field::IsNull,
    }
}

impl DataApiWarehouse {
    /// Statements on `target`, in `database`.
    pub fn new(client: Client, target: DataApiTarget, database: impl Into<String>) -> Self {
        Self { client, target, database: database.into() }
    }

    /// The database user a request runs as: the request's own (per tenant) or the target's.
    fn db_user<'a>(&'a self, request: &'a StatementRequest) -> Result<Option<&'a str>, WarehouseError> {
        match (&self.target, request.db_user.as_deref()) {
            (DataApiTarget::Serverless { .. }, Some(user)) => Err(WarehouseError::Validation(format!(
                "database user {user:?} requested, but Redshift Serverless takes no DbUser"
            ))),
            (DataApiTarget::Serverless { .. }, None) => Ok(None),
            (DataApiTarget::Cluster { db_user, .. }, requested) => Ok(requested.or(db_user.as_deref())),
        }
    }
}

/// Applies the target and the request's options to either kind of submit builder (the two
/// generated builders share method names but no trait).
macro_rules! target {
    ($builder:expr, $self:ident, $request:ident) => {{
        let db_user = $self.db_user(&$request)?.map(str::to_owned);
        let b = $builder
            .database(&$self.database)
            .with_event($request.with_event)
            .set_statement_name($request.statement_name.clone())
            .set_client_token($request.client_token.clone());
        match &$self.target {
            DataApiTarget::Cluster { identifier, secret_arn, .. } => b
                .cluster_identifier(identifier)
                .set_secret_arn(secret_arn.clone())
                .set_db_user(if secret_arn.is_some() { None } else { db_user }),
            DataApiTarget::Serverless { workgroup, secret_arn } => {
                b.workgroup_name(workgroup).set_secret_arn(secret_arn.clone())
            }
        }
    }};
}

#[async_trait]
impl Warehouse for DataApiWarehouse {
    async fn execute(&self, request: StatementRequest) -> Result<String, WarehouseError> {
        match &request.sql {
            Sql::Single { sql, parameters } => {
                let mut builder = target!(self.client.execute_statement().sql(sql), self, request);
                for p in parameters {
                    let parameter = SqlParameter::builder()
                        .name(p.name.as_str())
                        .value(&p.value)
                        .build()
                        .map_err(|e| WarehouseError::Validation(e.to_string()))?;
                    builder = builder.parameters(parameter);
                }
                let out = builder.send().await.map_err(|e| warehouse_error(&e))?;
                out.id.ok_or_else(|| WarehouseError::Unavailable("ExecuteStatement returned no Id".into()))
            }
            Sql::Batch(statements) => {
                let builder =
                    target!(self.client.batch_execute_statement().set_sqls(Some(statements.clone())), self, request);
                let out = builder.send().await.map_err(|e| warehouse_error(&e))?;
                out.id.ok_or_else(|| WarehouseError::Unavailable("BatchExecuteStatement returned no Id".into()))
            }
        }
    }

    async fn describe(&self, id: &str) -> Result<StatementDescription, WarehouseError> {
        let out = self.client.describe_statement().id(id).send().await.map_err(|e| warehouse_error(&e))?;
        let query_parameters = out
            .query_parameters()
            .iter()
            .filter_map(|p| {
                Identifier::parse(p.name()).ok().map(|name| QueryParameter { name, value: p.value().to_owned() })
            })
            .collect();
        Ok(StatementDescription {
            id: out.id().to_owned(),
            status: status(out.status().map(StatusString::as_str))?,
            error: out.error().map(str::to_owned),
            has_result_set: out.has_result_set().unwrap_or(false),
            result_rows: out.result_rows(),
            query_string: out.query_string().unwrap_or_default().to_owned(),
            statement_name: None,
            db_user: out.db_user().map(str::to_owned),
            query_parameters,
            redshift_query_id: out.redshift_query_id(),
            created_at: time(out.created_at()),
            updated_at: time(out.updated_at()),
            duration_ns: out.duration(),
            sub_statements: out.sub_statements().iter().map(sub_statement).collect::<Result<_, _>>()?,
        })
    }

    async fn cancel(&self, id: &str) -> Result<bool, WarehouseError> {
        match self.client.cancel_statement().id(id).send().await {
            Ok(out) => Ok(out.status().unwrap_or(false)),
            Err(e) => match warehouse_error(&e) {
                // The Data API refuses to cancel a statement that has ended; that is "false".
                WarehouseError::Validation(message) => match self.describe(id).await {
                    Ok(d) if d.status.is_terminal() => Ok(false),
                    _ => Err(WarehouseError::Validation(message)),
                },
                other => Err(other),
            },
        }
    }

    async fn results(&self, id: &str, next_token: Option<&str>) -> Result<ResultPage, WarehouseError> {
        let out = self
            .client
            .get_statement_result()
            .id(id)
            .set_next_token(next_token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| warehouse_error(&e))?;
        let columns = out
            .column_metadata()
            .iter()
            .map(|c| ColumnMetadata {
                name: c.name().unwrap_or_default().to_owned(),
                label: c.label().or(c.name()).unwrap_or_default().to_owned(),
                type_name: c.type_name().unwrap_or_default().to_owned(),
                nullable: c.nullable(),
                precision: c.precision(),
                scale: c.scale(),
            })
            .collect();
        Ok(ResultPage {
            columns,
            records: out.records().iter().map(|row| row.iter().map(field).collect()).collect(),
            total_rows: u64::try_from(out.total_num_rows()).unwrap_or_default(),
            next_token: out.next_token().filter(|t| !t.is_empty()).map(str::to_owned),
        })
    }
}
