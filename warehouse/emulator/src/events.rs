//! The emulator's status-change events: PutEvents onto the default bus of an EventBridge endpoint
//! (moto's, where the template's rule routes them to the work queue), in AWS's exact shape.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::{Value, json};

use super::{StatementMeta, lock};
use spectra_warehouse::{SinkError, StatementEventSink};

/// Sends each event with PutEvents (`source: aws.redshift-data`), naming the statement's own
/// cluster or workgroup in `resources`, as AWS does (rules can match on it).
pub struct PutEventsSink {
    client: Client,
    meta: Arc<Mutex<HashMap<String, StatementMeta>>>,
}

impl PutEventsSink {
    /// Events through `client`, onto the default bus; targets looked up in `meta`.
    pub(super) fn new(client: Client, meta: Arc<Mutex<HashMap<String, StatementMeta>>>) -> Self {
        Self { client, meta }
    }

    /// The statement's target as an ARN. A statement can end before its submit has recorded
    /// its target, so this waits for it a little.
    async fn resource(&self, statement: &str, region: &str, account: &str) -> Option<String> {
        for _ in 0..50 {
            if let Some(meta) = lock(&self.meta).get(statement) {
                return match (&meta.cluster_identifier, &meta.workgroup_name) {
                    (Some(cluster), _) => Some(format!("arn:aws:redshift:{region}:{account}:cluster:{cluster}")),
                    (None, Some(wg)) => Some(format!("arn:aws:redshift-serverless:{region}:{account}:workgroup/{wg}")),
                    (None, None) => None,
                };
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

#[async_trait]
impl StatementEventSink for PutEventsSink {
    async fn send(&self, event: String) -> Result<(), SinkError> {
        let mut envelope: Value = serde_json::from_str(&event)?;
        let statement = envelope["detail"]["statementId"].as_str().unwrap_or_default().to_owned();
        let region = envelope["region"].as_str().unwrap_or_default().to_owned();
        let account = envelope["account"].as_str().unwrap_or_default().to_owned();
        if let Some(arn) = self.resource(&statement, &region, &account).await {
            envelope["resources"] = json!([arn]);
        }
        let text = |key: &str| envelope[key].as_str().unwrap_or_default().to_owned();
        let resources: Vec<String> = envelope["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect();
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name("default")
            .source(text("source"))
            .detail_type(text("detail-type"))
            .detail(envelope["detail"].to_string())
            .set_resources(Some(resources))
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| SinkError::Bus(aws_smithy_types::error::display::DisplayErrorContext(e).to_string()))?;
        match out.entries().first().and_then(|e| e.error_code()) {
            Some(code) => Err(SinkError::Bus(format!("PutEvents: {code}"))),
            None => Ok(()),
        }
    }
}
