//! The Redshift Data API adapter, request by request, against a local HTTP fake that records
//! what the SDK sends and answers with bodies shaped exactly as seed 004 documents them
//! (epoch-number timestamps, `Field` unions, AWS JSON 1.1 errors). It tests the adapter's
//! mapping both ways; the Data API emulator issue runs the same adapter against live SQL.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use spectra_aws::{DataApiTarget, DataApiWarehouse};
use spectra_state_machine::{Identifier, QueryParameter};
use spectra_worker::ports::{Field, Sql, StatementRequest, StatementStatus, Warehouse, WarehouseError};

/// Scripted answers, and the (operation, body) of every request received.
#[derive(Default)]
struct Fake {
    answers: Mutex<VecDeque<(u16, Value)>>,
    requests: Mutex<Vec<(String, Value)>>,
}

impl Fake {
    fn answer(&self, status: u16, body: Value) {
        self.answers.lock().unwrap().push_back((status, body));
    }
    fn requests(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

async fn start(target: DataApiTarget) -> (Arc<Fake>, DataApiWarehouse) {
    let fake = Arc::new(Fake::default());
    let state = fake.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let fake = state.clone();
            async move {
                let operation =
                    headers["x-amz-target"].to_str().unwrap().trim_start_matches("RedshiftData.").to_owned();
                assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
                assert!(headers.contains_key("authorization"), "requests are SigV4-signed");
                fake.requests.lock().unwrap().push((operation, serde_json::from_str(&body).unwrap()));
                let (status, body) = fake.answers.lock().unwrap().pop_front().expect("no scripted answer left");
                (
                    StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/x-amz-json-1.1")],
                    body.to_string(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_redshiftdata::config::Credentials::new("AKID", "SECRET", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    (fake, DataApiWarehouse::new(aws_sdk_redshiftdata::Client::new(&sdk), target, "dev"))
}

fn cluster() -> DataApiTarget {
    DataApiTarget::Cluster { identifier: "analytics".into(), db_user: Some("spectra".into()), secret_arn: None }
}

const ID: &str = "d9b6c0c9-0747-4bf4-b142-e8883122f766";

#[tokio::test]
async fn execute_sends_every_option_and_returns_the_id() {
    let (fake, warehouse) = start(cluster()).await;
    fake.answer(200, json!({"Id": ID, "CreatedAt": 1_700_000_000.5, "ClusterIdentifier": "analytics", "Database": "dev", "DbUser": "tenant_acme"}));
    let request = StatementRequest {
        sql: Sql::Single {
            sql: "SELECT * FROM sales WHERE region = :region".into(),
            parameters: vec![QueryParameter { name: Identifier::parse("region").unwrap(), value: "emea".into() }],
        },
        statement_name: Some("spectra:acme:bulk-1:1".into()),
        client_token: Some("token-1".into()),
        with_event: true,
        db_user: Some("tenant_acme".into()),
        database: None,
    };
    assert_eq!(warehouse.execute(request).await.unwrap(), ID);
    let requests = fake.requests();
    assert_eq!(requests[0].0, "ExecuteStatement");
    assert_eq!(
        requests[0].1,
        json!({
            "ClusterIdentifier": "analytics",
            "Database": "dev",
            "DbUser": "tenant_acme",
            "Sql": "SELECT * FROM sales WHERE region = :region",
            "Parameters": [{"name": "region", "value": "emea"}],
            "StatementName": "spectra:acme:bulk-1:1",
            "ClientToken": "token-1",
            "WithEvent": true,
        })
    );
}

#[tokio::test]
async fn batches_go_to_batch_execute_statement_as_the_targets_user() {
    let (fake, warehouse) = start(cluster()).await;
    fake.answer(200, json!({"Id": ID, "CreatedAt": 1_700_000_000}));
    let request =
        StatementRequest { sql: Sql::Batch(vec!["BEGIN".into(), "SELECT 1".into()]), ..StatementRequest::single("") };
    warehouse.execute(request).await.unwrap();
    let (operation, body) = fake.requests().remove(0);
    assert_eq!(operation, "BatchExecuteStatement");
    assert_eq!(body["Sqls"], json!(["BEGIN", "SELECT 1"]));
    assert_eq!(body["DbUser"], "spectra");
    assert_eq!(body["WithEvent"], false);
}

#[tokio::test]
async fn serverless_targets_name_the_workgroup_and_refuse_database_users() {
    let target = DataApiTarget::Serverless {
        workgroup: "wg".into(),
        secret_arn: Some("arn:aws:secretsmanager:us-east-1:1:secret:s".into()),
    };
    let (fake, warehouse) = start(target).await;
    fake.answer(200, json!({"Id": ID, "CreatedAt": 1_700_000_000}));
    warehouse.execute(StatementRequest::single("SELECT 1")).await.unwrap();
    let body = fake.requests().remove(0).1;
    assert_eq!(body["WorkgroupName"], "wg");
    assert_eq!(body["SecretArn"], "arn:aws:secretsmanager:us-east-1:1:secret:s");
    assert!(body.get("DbUser").is_none() && body.get("ClusterIdentifier").is_none());
    let request = StatementRequest { db_user: Some("tenant_acme".into()), ..StatementRequest::single("SELECT 1") };
    assert!(matches!(warehouse.execute(request).await, Err(WarehouseError::Validation(_))));
    assert!(fake.requests().is_empty(), "nothing is sent for an impossible request");
}

#[tokio::test]
async fn describe_reads_a_batch_with_its_sub_statements() {
    let (fake, warehouse) = start(cluster()).await;
    fake.answer(200, json!({
        "Id": ID, "Status": "FAILED", "Error": "ERROR: division by zero", "HasResultSet": false,
        "CreatedAt": 1_700_000_000.25, "UpdatedAt": 1_700_000_002, "Duration": 1_500_000_000_i64,
        "QueryString": "INSERT ...; SELECT 1/0", "RedshiftPid": 1234, "DbUser": "tenant_acme", "RedshiftQueryId": 0, "ResultRows": -1, "ResultSize": -1,
        "QueryParameters": [{"name": "region", "value": "emea"}],
        "SubStatements": [
            {"Id": format!("{ID}:1"), "Status": "FINISHED", "HasResultSet": false, "ResultRows": 3, "ResultSize": 0,
             "QueryString": "INSERT ...", "RedshiftQueryId": 41, "CreatedAt": 1_700_000_000.25, "UpdatedAt": 1_700_000_001, "Duration": 900},
            {"Id": format!("{ID}:2"), "Status": "FAILED", "Error": "ERROR: division by zero", "HasResultSet": false, "ResultRows": -1,
             "ResultSize": -1, "QueryString": "SELECT 1/0", "RedshiftQueryId": 42, "CreatedAt": 1_700_000_001, "UpdatedAt": 1_700_000_002, "Duration": 600}
        ]
    }));
    let d = warehouse.describe(ID).await.unwrap();
    assert_eq!(fake.requests(), [("DescribeStatement".to_owned(), json!({"Id": ID}))]);
    assert_eq!(d.status, StatementStatus::Failed);
    assert_eq!(d.error.as_deref(), Some("ERROR: division by zero"));
    assert_eq!(d.created_at.timestamp_millis(), 1_700_000_000_250);
    assert_eq!(d.duration_ns, 1_500_000_000);
    assert_eq!(d.query_parameters[0].value, "emea");
    assert_eq!(d.db_user.as_deref(), Some("tenant_acme"));
    assert_eq!(d.sub_statements.len(), 2);
    assert_eq!(d.sub_statements[0].id, format!("{ID}:1"));
    assert_eq!(d.sub_statements[0].status, StatementStatus::Finished);
    assert_eq!(d.sub_statements[0].result_rows, 3);
    assert_eq!(d.sub_statements[1].redshift_query_id, 42);
}

#[tokio::test]
async fn results_read_every_field_kind_and_the_next_token() {
    let (fake, warehouse) = start(cluster()).await;
    fake.answer(200, json!({
        "ColumnMetadata": [
            {"name": "id", "label": "id", "typeName": "int8", "nullable": 0, "precision": 19, "scale": 0, "isSigned": true, "length": 0, "schemaName": "public", "tableName": "sales", "isCaseSensitive": false, "isCurrency": false},
            {"name": "amount", "label": "amount", "typeName": "numeric", "nullable": 1, "precision": 12, "scale": 2},
            {"name": "ok", "typeName": "bool", "nullable": 1},
            {"name": "ratio", "typeName": "float8", "nullable": 1},
            {"name": "note", "typeName": "varchar", "nullable": 1, "precision": 256},
            {"name": "raw", "typeName": "varbyte", "nullable": 1}
        ],
        "Records": [
            [{"longValue": 1}, {"stringValue": "12.50"}, {"booleanValue": true}, {"doubleValue": 0.5}, {"isNull": true}, {"blobValue": "AAEC"}]
        ],
        "TotalNumRows": 2,
        "NextToken": "page-2"
    }));
    let page = warehouse.results(ID, None).await.unwrap();
    assert_eq!(fake.requests(), [("GetStatementResult".to_owned(), json!({"Id": ID}))]);
    assert_eq!(
        page.records[0],
        [
            Field::Long(1),
            Field::String("12.50".into()),
            Field::Boolean(true),
            Field::Double(0.5),
            Field::IsNull,
            Field::Blob(vec![0, 1, 2])
        ]
    );
    assert_eq!(page.columns[1].type_name, "numeric");
    assert_eq!((page.columns[1].precision, page.columns[1].scale, page.columns[1].nullable), (12, 2, 1));
    assert_eq!(page.columns[2].label, "ok", "a missing label falls back to the name");
    assert_eq!(page.total_rows, 2);
    assert_eq!(page.next_token.as_deref(), Some("page-2"));
    fake.answer(200, json!({"ColumnMetadata": [], "Records": [[{"longValue": 2}]], "TotalNumRows": 2}));
    let last = warehouse.results(ID, Some("page-2")).await.unwrap();
    assert_eq!(fake.requests()[0].1, json!({"Id": ID, "NextToken": "page-2"}));
    assert_eq!(last.next_token, None);
}

fn error(kind: &str, message: &str) -> Value {
    json!({"__type": kind, "Message": message})
}

#[tokio::test]
async fn errors_are_classified_as_backpressure_outages_or_failures() {
    let (fake, warehouse) = start(cluster()).await;
    let submit = || warehouse.execute(StatementRequest::single("SELECT 1"));
    fake.answer(400, error("ActiveStatementsExceededException", "Active statements exceeded the allowed quota."));
    let e = submit().await.unwrap_err();
    assert!(matches!(e, WarehouseError::ActiveStatementsExceeded(_)) && e.is_retryable(), "{e}");
    fake.answer(400, error("ThrottlingException", "Rate exceeded"));
    let e = submit().await.unwrap_err();
    assert!(matches!(e, WarehouseError::Throttled(_)) && e.is_retryable(), "{e}");
    fake.answer(500, error("ExecuteStatementException", "environmental error"));
    let e = submit().await.unwrap_err();
    assert!(matches!(e, WarehouseError::Unavailable(_)) && e.is_retryable(), "{e}");
    fake.answer(400, error("ValidationException", "Cluster identifier is not valid"));
    let e = submit().await.unwrap_err();
    assert!(
        matches!(&e, WarehouseError::Validation(m) if m.contains("Cluster identifier")) && !e.is_retryable(),
        "{e}"
    );
    fake.answer(400, error("ResourceNotFoundException", "Query does not exist."));
    assert!(matches!(warehouse.describe(ID).await, Err(WarehouseError::NotFound(_))));
}

#[tokio::test]
async fn cancel_reports_whether_it_stopped_a_statement() {
    let (fake, warehouse) = start(cluster()).await;
    fake.answer(200, json!({"Status": true}));
    assert!(warehouse.cancel(ID).await.unwrap());
    assert_eq!(fake.requests(), [("CancelStatement".to_owned(), json!({"Id": ID}))]);
    fake.answer(400, error("ValidationException", "Could not cancel a query that is already in FINISHED state"));
    fake.answer(200, json!({"Id": ID, "Status": "FINISHED", "CreatedAt": 1_700_000_000, "UpdatedAt": 1_700_000_001}));
    assert!(!warehouse.cancel(ID).await.unwrap(), "an ended statement is not an error");
}
