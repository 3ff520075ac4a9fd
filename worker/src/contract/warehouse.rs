//! The `Warehouse` contract: Data API semantics that the worker relies on.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use spectra_state_machine::{Identifier, QueryParameter};

use crate::ports::{Field, Sql, StatementDescription, StatementRequest, StatementStatus, Warehouse, WarehouseError};

/// What the suite needs from an adapter under test.
#[async_trait]
pub trait WarehouseFixture: Send + Sync {
    /// The adapter.
    type Warehouse: Warehouse + 'static;
    /// A warehouse allowing `max_active` statements at once.
    async fn warehouse(&self, max_active: usize) -> Self::Warehouse;
    /// A statement that runs for many seconds unless cancelled.
    fn long_running_sql(&self) -> String;
    /// Status-change events delivered so far (EventBridge envelopes), consuming them.
    async fn events(&self) -> Vec<Value>;
}

fn table() -> String {
    format!("contract_{}", uuid::Uuid::new_v4().simple())
}

fn batch(sqls: &[String]) -> StatementRequest {
    StatementRequest { sql: Sql::Batch(sqls.to_vec()), ..StatementRequest::single("") }
}

/// Waits (at most a minute) until the statement has ended.
pub async fn wait<W: Warehouse>(w: &W, id: &str) -> StatementDescription {
    let d = w.wait(id, Duration::from_secs(60)).await.unwrap();
    assert!(d.status.is_terminal(), "statement {id} did not end within a minute: {d:?}");
    d
}

/// Runs one statement to its end.
pub async fn run<W: Warehouse>(w: &W, sql: &str) -> StatementDescription {
    let id = w.execute(StatementRequest::single(sql)).await.unwrap();
    wait(w, &id).await
}

async fn all_rows<W: Warehouse>(w: &W, id: &str) -> Vec<Vec<Field>> {
    let (mut rows, mut token) = (Vec::new(), None::<String>);
    loop {
        let page = w.results(id, token.as_deref()).await.unwrap();
        rows.extend(page.records);
        match page.next_token {
            Some(t) => token = Some(t),
            None => return rows,
        }
    }
}

/// DDL, DML and queries run; describe reports rows and result sets; results carry Redshift
/// types and Data API fields.
pub async fn executes_describes_and_returns_results<F: WarehouseFixture>(f: &F) {
    let w = f.warehouse(8).await;
    let t = table();
    assert_eq!(
        run(&w, &format!("CREATE TABLE {t} (id BIGINT, name VARCHAR(20), amount DECIMAL(10,2))")).await.status,
        StatementStatus::Finished
    );
    let insert = run(&w, &format!("INSERT INTO {t} VALUES (1, 'a', 1.50), (2, NULL, 2.25), (3, 'c', 0)")).await;
    assert_eq!((insert.status, insert.result_rows, insert.has_result_set), (StatementStatus::Finished, 3, false));
    let request = StatementRequest {
        db_user: Some("tenant_acme".into()),
        ..StatementRequest::single(format!("SELECT id, name, amount FROM {t} ORDER BY id"))
    };
    let id = w.execute(request).await.unwrap();
    let select = wait(&w, &id).await;
    assert_eq!((select.status, select.result_rows, select.has_result_set), (StatementStatus::Finished, 3, true));
    assert_eq!(select.db_user.as_deref(), Some("tenant_acme"), "the database user is reported");
    assert!(id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4, "id {id} is not a UUID");
    let page = w.results(&id, None).await.unwrap();
    let types: Vec<_> = page.columns.iter().map(|c| (c.name.as_str(), c.type_name.as_str())).collect();
    assert_eq!(types, [("id", "int8"), ("name", "varchar"), ("amount", "numeric")]);
    assert_eq!(page.columns[2].scale, 2);
    assert_eq!(page.records[0], [Field::Long(1), Field::String("a".into()), Field::String("1.50".into())]);
    assert_eq!(page.records[1][1], Field::IsNull);
    assert_eq!(page.total_rows, 3);
}

/// Results page through every row exactly once.
pub async fn pages_large_results<F: WarehouseFixture>(f: &F) {
    let w = f.warehouse(8).await;
    let id =
        w.execute(StatementRequest::single("SELECT * FROM generate_series(1, 2500) AS s(n) ORDER BY n")).await.unwrap();
    assert_eq!(wait(&w, &id).await.status, StatementStatus::Finished);
    let first = w.results(&id, None).await.unwrap();
    assert!(first.next_token.is_some(), "2,500 rows fit one page; the pager is not exercised");
    let rows = all_rows(&w, &id).await;
    let values: Vec<i64> = rows
        .iter()
        .map(|r| match r[0] {
            Field::Long(v) => v,
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(values, (1..=2500).collect::<Vec<_>>());
}

/// `:name` parameters are bound as values, never spliced.
pub async fn binds_named_parameters<F: WarehouseFixture>(f: &F) {
    let w = f.warehouse(8).await;
    let p = |n: &str, v: &str| QueryParameter { name: Identifier::parse(n).unwrap(), value: v.into() };
    let request = StatementRequest {
        sql: Sql::Single {
            sql: "SELECT CAST(:n AS INTEGER) + 1 AS x, :s AS s, CAST(:n AS INTEGER) * 2 AS twice".into(),
            parameters: vec![p("n", "41"), p("s", "O'Brien; DROP TABLE x")],
        },
        ..StatementRequest::single("")
    };
    let id = w.execute(request).await.unwrap();
    let d = wait(&w, &id).await;
    assert_eq!(d.status, StatementStatus::Finished, "{:?}", d.error);
    assert_eq!(d.query_parameters.len(), 2);
    let row = &w.results(&id, None).await.unwrap().records[0];
    assert_eq!(row, &[Field::Long(42), Field::String("O'Brien; DROP TABLE x".into()), Field::Long(82)]);
}

/// A batch is one transaction: a failing statement leaves no trace of the earlier ones.
pub async fn batches_are_transactions<F: WarehouseFixture>(f: &F) {
    let w = f.warehouse(8).await;
    let t = table();
    run(&w, &format!("CREATE TABLE {t} (a INTEGER)")).await;
    let ok = w
        .execute(batch(&[format!("INSERT INTO {t} VALUES (1)"), format!("INSERT INTO {t} VALUES (2), (3)")]))
        .await
        .unwrap();
    let d = wait(&w, &ok).await;
    assert_eq!(d.status, StatementStatus::Finished);
    let subs: Vec<_> = d.sub_statements.iter().map(|s| (s.id.clone(), s.status, s.result_rows)).collect();
    assert_eq!(
        subs,
        [(format!("{ok}:1"), StatementStatus::Finished, 1), (format!("{ok}:2"), StatementStatus::Finished, 2)]
    );
    let bad = w
        .execute(batch(&[
            format!("INSERT INTO {t} VALUES (10)"),
            format!("INSERT INTO {t} VALUES (11)"),
            format!("INSERT INTO {t} VALUES ('not a number')"),
        ]))
        .await
        .unwrap();
    let d = wait(&w, &bad).await;
    assert_eq!(d.status, StatementStatus::Failed);
    assert_eq!(d.sub_statements[2].status, StatementStatus::Failed);
    assert!(d.error.is_some());
    let count = w.execute(StatementRequest::single(format!("SELECT count(*) AS n FROM {t}"))).await.unwrap();
    wait(&w, &count).await;
    assert_eq!(w.results(&count, None).await.unwrap().records[0][0], Field::Long(3), "the failed batch left rows");
}

/// Bad SQL is accepted and ends FAILED with the engine's message.
pub async fn failing_sql_fails_the_statement<F: WarehouseFixture>(f: &F) {
    let w = f.warehouse(8).await;
    let d = run(&w, "SELECT * FROM no_such_table_anywhere").await;
    assert_eq!(d.status, StatementStatus::Failed);
    assert!(d.error.unwrap_or_default().to_lowercase().contains("no_such_table_anywhere"));
    assert!(matches!(w.describe("00000000-0000-0000-0000-000000000000").await, Err(WarehouseError::NotFound(_))));
}

/// A replayed client token returns the first id and does not run the SQL again.
pub async fn client_tokens_make_submits_idempotent<F: WarehouseFixture>(f: &F) {
    let w = f.warehouse(8).await;
    let t = table();
    run(&w, &format!("CREATE TABLE {t} (a INTEGER)")).await;
    let request = StatementRequest {
        client_token: Some(format!("job-1-attempt-1-{t}")),
        ..StatementRequest::single(format!("INSERT INTO {t} VALUES (1)"))
    };
    let first = w.execute(request.clone()).await.unwrap();
    wait(&w, &first).await;
    let second = w.execute(request).await.unwrap();
    assert_eq!(first, second);
    let count = w.execute(StatementRequest::single(format!("SELECT count(*) FROM {t}"))).await.unwrap();
    wait(&w, &count).await;
    assert_eq!(w.results(&count, None).await.unwrap().records[0][0], Field::Long(1), "the replay ran again");
}

/// Cancel stops a running statement, which ends ABORTED; cancelling an ended one says false.
pub async fn cancel_aborts_a_running_statement<F: WarehouseFixture>(f: &F) {
    let w = f.warehouse(8).await;
    let id = w.execute(StatementRequest::single(f.long_running_sql())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.cancel(&id).await.unwrap());
    assert_eq!(wait(&w, &id).await.status, StatementStatus::Aborted);
    assert!(!w.cancel(&id).await.unwrap());
}

/// `wait` returns the ended statement's description (finished or failed), a running one's when
/// the time runs out, and `NotFound` for an unknown id.
pub async fn wait_returns_at_the_end_or_the_timeout<F: WarehouseFixture>(f: &F) {
    let w = f.warehouse(8).await;
    let id = w.execute(StatementRequest::single("SELECT 42 AS answer")).await.unwrap();
    let done = w.wait(&id, Duration::from_secs(60)).await.unwrap();
    assert_eq!(done.status, StatementStatus::Finished, "{done:?}");
    assert_eq!(w.results(&id, None).await.unwrap().records, vec![vec![Field::Long(42)]]);
    let bad = w.execute(StatementRequest::single("SELECT * FROM no_such_table_to_wait_for")).await.unwrap();
    assert_eq!(w.wait(&bad, Duration::from_secs(60)).await.unwrap().status, StatementStatus::Failed);
    let slow = w.execute(StatementRequest::single(f.long_running_sql())).await.unwrap();
    let running = w.wait(&slow, Duration::from_millis(300)).await.unwrap();
    assert!(!running.status.is_terminal(), "{running:?}");
    assert!(w.cancel(&slow).await.unwrap());
    assert_eq!(w.wait(&slow, Duration::MAX).await.unwrap().status, StatementStatus::Aborted);
    let unknown = w.wait("00000000-0000-0000-0000-000000000000", Duration::from_secs(1)).await;
    assert!(matches!(unknown, Err(WarehouseError::NotFound(_))), "{unknown:?}");
}

/// Past the active-statement limit, submits are refused as backpressure.
pub async fn refuses_submits_past_the_active_limit<F: WarehouseFixture>(f: &F) {
    let w = f.warehouse(2).await;
    let a = w.execute(StatementRequest::single(f.long_running_sql())).await.unwrap();
    let b = w.execute(StatementRequest::single(f.long_running_sql())).await.unwrap();
    let refused = w.execute(StatementRequest::single("SELECT 1")).await;
    let Err(error) = refused else { panic!("a third statement was accepted") };
    assert!(matches!(error, WarehouseError::ActiveStatementsExceeded(_)), "{error:?}");
    assert!(error.is_retryable());
    for id in [a, b] {
        w.cancel(&id).await.unwrap();
        wait(&w, &id).await;
    }
    assert_eq!(run(&w, "SELECT 1").await.status, StatementStatus::Finished);
}

/// WithEvent statements announce their end in AWS's shape, named as submitted.
pub async fn announces_statement_ends<F: WarehouseFixture>(f: &F) {
    let w = f.warehouse(8).await;
    let name = format!("spectra:acme:bulk-{}:1", uuid::Uuid::new_v4().simple());
    let request = StatementRequest {
        statement_name: Some(name.clone()),
        with_event: true,
        ..StatementRequest::single("SELECT 1 UNION ALL SELECT 2")
    };
    let id = w.execute(request).await.unwrap();
    wait(&w, &id).await;
    let mut found = None;
    for _ in 0..100 {
        found = f.events().await.into_iter().find(|e| e["detail"]["statementId"] == id.as_str());
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let event = found.expect("no status-change event for the statement");
    assert_eq!(event["source"], "aws.redshift-data");
    assert_eq!(event["detail-type"], "Redshift Data Statement Status Change");
    assert_eq!(event["detail"]["state"], "FINISHED");
    assert_eq!(event["detail"]["statementName"], name.as_str());
    assert_eq!(event["detail"]["rows"], 2);
}

/// Generates one `#[tokio::test]` per warehouse check for a fixture expression.
#[macro_export]
macro_rules! warehouse_contract_tests {
    ($fixture:expr) => {
        $crate::contract_tests!(warehouse, $fixture;
            executes_describes_and_returns_results,
            pages_large_results,
            binds_named_parameters,
            batches_are_transactions,
            failing_sql_fails_the_statement,
            client_tokens_make_submits_idempotent,
            cancel_aborts_a_running_statement,
            refuses_submits_past_the_active_limit,
            wait_returns_at_the_end_or_the_timeout,
            announces_statement_ends,
        );
    };
}
