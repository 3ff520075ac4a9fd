//! The Redshift Data API emulator, driven by Spectra's own Data API adapter (aws-sdk-rust): the
//! whole warehouse contract holds through the wire protocol, with status-change events
//! delivered by EventBridge (moto) through a rule into a queue, as on AWS.
//!
//! The emulators of these tests live in [`REGION`], where the deployed template has no rule:
//! their events stay out of the template's work queue, which other tests read.

use async_trait::async_trait;
use serde_json::{Value, json};
use spectra_aws::{DataApiTarget, DataApiWarehouse};
use spectra_emulator::{Emulator, EmulatorOptions, router};
use spectra_worker::contract::warehouse::WarehouseFixture;
use tokio::sync::Mutex;

use super::moto::{Moto, endpoint, fresh};

/// Where the emulator tests' events go.
pub const REGION: &str = "us-west-2";

/// Starts an emulator on a loopback port with S3 and events on moto; its URL.
pub async fn start_emulator(dir: &std::path::Path, max_active: usize) -> String {
    let options = EmulatorOptions {
        data_dir: dir.to_owned(),
        s3_endpoint: Some(endpoint()),
        events_endpoint: Some(endpoint()),
        max_active_statements: max_active,
        region: REGION.into(),
    };
    let emulator = Emulator::open(&options).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(emulator)).await });
    url
}

/// A Data API client for the emulator at `url`.
pub async fn client(url: &str) -> aws_sdk_redshiftdata::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_redshiftdata::config::Credentials::new("any", "thing", None, None, "test"))
        .load()
        .await;
    aws_sdk_redshiftdata::Client::new(&sdk)
}

pub struct EmulatorFixture {
    moto: Moto,
    dir: tempfile::TempDir,
    cluster: String,
    events_queue: Mutex<Option<String>>,
}

impl EmulatorFixture {
    pub async fn new() -> Self {
        Self {
            moto: Moto::in_region(REGION).await,
            dir: tempfile::tempdir().unwrap(),
            cluster: fresh("cluster"),
            events_queue: Mutex::default(),
        }
    }

    /// A queue receiving this fixture's status-change events through a rule on the default bus
    /// matching its cluster, created once.
    async fn events_queue(&self) -> String {
        let mut queue = self.events_queue.lock().await;
        if let Some(url) = &*queue {
            return url.clone();
        }
        let (url, _) = self.moto.queue_pair(5).await;
        let events = aws_sdk_eventbridge::Client::new(&self.moto.sdk);
        let rule = fresh("rule");
        let pattern = json!({
            "source": ["aws.redshift-data"],
            "detail-type": ["Redshift Data Statement Status Change"],
            "resources": [format!("arn:aws:redshift:{REGION}:000000000000:cluster:{}", self.cluster)],
        });
        events.put_rule().name(&rule).event_pattern(pattern.to_string()).send().await.unwrap();
        let arn = format!("arn:aws:sqs:{REGION}:123456789012:{}", url.rsplit('/').next().unwrap());
        let target = aws_sdk_eventbridge::types::Target::builder().id("q").arn(arn).build().unwrap();
        events.put_targets().rule(&rule).targets(target).send().await.unwrap();
        *queue = Some(url.clone());
        url
    }
}

#[async_trait]
impl WarehouseFixture for EmulatorFixture {
    type Warehouse = DataApiWarehouse;
    async fn warehouse(&self, max_active: usize) -> DataApiWarehouse {
        self.events_queue().await;
        let dir = self.dir.path().join(fresh("engine"));
        let url = start_emulator(&dir, max_active).await;
        let target = DataApiTarget::Cluster {
            identifier: self.cluster.clone(),
            db_user: Some("spectra".into()),
            secret_arn: None,
        };
        DataApiWarehouse::new(client(&url).await, target, "dev")
    }
    fn long_running_sql(&self) -> String {
        "SELECT count(*) FROM range(1000000000000)".into()
    }
    async fn events(&self) -> Vec<Value> {
        let url = self.events_queue().await;
        self.moto.drain(&url).await.iter().map(|b| serde_json::from_str(b).unwrap()).collect()
    }
}

mod warehouse {
    spectra_worker::warehouse_contract_tests!(super::EmulatorFixture::new().await);
}
