//! The CloudFormation template, as deployed onto moto by `infra/local-stack`: its resources are
//! what the adapters expect, its redrive policy dead-letters poison messages, and its
//! EventBridge rule brings the Data API's status-change events to the work queue.

use std::time::Duration;

use spectra_aws::{SqsQueue, TABLE_GSIS};
use spectra_worker::messages::{Envelope, StatementName};
use spectra_worker::ports::{OutgoingMessage, Queue};
use tokio::sync::Mutex;

use super::moto::{Moto, stack_output};

/// The checks below share the template's one work queue: they take turns.
static WORK_QUEUE: Mutex<()> = Mutex::const_new(());

/// The deployed table has the keys and indexes the DynamoDB adapter queries.
#[tokio::test]
async fn the_job_table_has_the_adapters_indexes() {
    let moto = Moto::new().await;
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk);
    let table = client.describe_table().table_name(stack_output("SPECTRA_TABLE")).send().await.unwrap();
    let table = table.table.unwrap();
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<String> {
        schema.iter().map(|k| format!("{}:{}", k.attribute_name(), k.key_type().as_str())).collect()
    };
    assert_eq!(keys(table.key_schema()), ["pk:HASH", "sk:RANGE"]);
    let mut indexes: Vec<(String, Vec<String>)> = table
        .global_secondary_indexes()
        .iter()
        .map(|g| (g.index_name().unwrap().to_owned(), keys(g.key_schema())))
        .collect();
    indexes.sort();
    let mut expected: Vec<(String, Vec<String>)> = TABLE_GSIS
        .iter()
        .map(|(name, hash, range)| (name.to_string(), vec![format!("{hash}:HASH"), format!("{range}:RANGE")]))
        .collect();
    expected.sort();
    assert_eq!(indexes, expected);
}

/// A message nobody can handle is moved to the template's DLQ after `MaxReceiveCount` (5)
/// deliveries, by SQS itself.
#[tokio::test]
async fn the_work_queue_redrives_poison_messages_to_its_dead_letter_queue() {
    let _turn = WORK_QUEUE.lock().await;
    let moto = Moto::new().await;
    let queue = SqsQueue::new(moto.sqs(), stack_output("SPECTRA_QUEUE_URL")).await.unwrap();
    // moto's stack outputs name real AWS hosts; the queue is identified by its path.
    let dlq = stack_output("SPECTRA_DEAD_LETTER_QUEUE_URL");
    assert_eq!(queue.dead_letter_url().rsplit('/').next(), dlq.rsplit('/').next());
    moto.drain(queue.url()).await;
    moto.drain(queue.dead_letter_url()).await;
    queue.send(OutgoingMessage::new("poison")).await.unwrap();
    let mut deliveries = 0;
    loop {
        let got = queue.receive(10, Duration::from_secs(2), Duration::from_secs(1)).await.unwrap();
        if got.is_empty() {
            break;
        }
        deliveries += 1;
        assert_eq!(got[0].receive_count, deliveries);
        tokio::time::sleep(Duration::from_millis(1300)).await;
    }
    assert_eq!(deliveries, 5, "delivered until MaxReceiveCount");
    assert_eq!(moto.drain(queue.dead_letter_url()).await, ["poison"]);
}

/// A "Redshift Data Statement Status Change" event on the default bus reaches the work queue
/// through the template's rule, and the worker recognises it as the end of a job's statement;
/// events of other sources do not reach the queue.
#[tokio::test]
async fn statement_events_reach_the_work_queue() {
    let _turn = WORK_QUEUE.lock().await;
    let moto = Moto::new().await;
    let url = stack_output("SPECTRA_QUEUE_URL");
    moto.drain(&url).await;
    let events = aws_sdk_eventbridge::Client::new(&moto.sdk);
    let detail = serde_json::json!({
        "principal": "arn:aws:iam::123456789012:role/spectra-worker",
        "statementName": "spectra:acme:bulk-0123456789abcdef:1",
        "statementId": "dd2e1ec9-2ee3-49a0-819f-905fa7d75a4a",
        "redshiftQueryId": 42,
        "state": "FINISHED",
        "rows": 3,
        "expireAt": 1_893_456_000,
    });
    let entry = |source: &str| {
        aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source(source)
            .detail_type("Redshift Data Statement Status Change")
            .detail(detail.to_string())
            .build()
    };
    let out =
        events.put_events().entries(entry("aws.redshift-data")).entries(entry("someone.else")).send().await.unwrap();
    assert_eq!(out.failed_entry_count(), 0);
    // Only this test's event (other tests' emulators publish in another region).
    let bodies: Vec<String> =
        moto.drain(&url).await.into_iter().filter(|b| b.contains("dd2e1ec9-2ee3-49a0-819f-905fa7d75a4a")).collect();
    assert_eq!(bodies.len(), 1, "only the matching event is delivered: {bodies:?}");
    let Envelope::StatementEvent(event) = Envelope::parse(&bodies[0]).unwrap() else {
        panic!("not recognised as a statement event: {}", bodies[0]);
    };
    let name: StatementName = event.statement_name().unwrap();
    assert_eq!(name.tenant_id.as_str(), "acme");
    assert_eq!(name.attempt, 1);
}
