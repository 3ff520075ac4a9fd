//! `spectra worker`, `spectra api` and `spectra keys --aws` in AWS mode, on the local AWS stack
//! (moto with `infra/spectra.yaml` deployed, started by `scripts/test`): configuration errors,
//! start and stop, and the Bulk API up to the hand-over to the worker (`aws_chain` runs the
//! rest). These tests use work queues of their own.

use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Api, serve_without};

/// `spectra <args>` with the local stack's environment plus `env`; (success, stdout, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spectra")).args(args).envs(env.iter().copied()).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A work queue (with its DLQ) of one test's own, so no other test's worker can take its
/// messages.
async fn private_queue(prefix: &str) -> String {
    let sqs = aws_sdk_sqs::Client::new(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await);
    let name = format!("{prefix}-{}", uuid_suffix());
    sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.unwrap();
    let policy =
        json!({"deadLetterTargetArn": format!("arn:aws:sqs:us-east-1:123456789012:{name}-dlq"), "maxReceiveCount": 5});
    sqs.create_queue()
        .queue_name(&name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, policy.to_string())
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

fn uuid_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    )
}

/// A provisioned-cluster target, which is all AWS mode lacks from the stack's environment.
const TARGET: [(&str, &str); 2] = [("SPECTRA_CLUSTER_IDENTIFIER", "local"), ("SPECTRA_DB_USER", "spectra")];

#[test]
fn missing_or_contradictory_settings_stop_the_worker_and_name_the_setting() {
    let (ok, _, err) = run(&["worker"], &[("SPECTRA_QUEUE_URL", "")]);
    assert!(!ok);
    assert!(err.contains("SPECTRA_QUEUE_URL: is not set"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spectra.env");
    std::fs::write(&config, "# both targets\nSPECTRA_CLUSTER_IDENTIFIER=a\nSPECTRA_WORKGROUP_NAME=b\n").unwrap();
    let (ok, _, err) = run(&["worker", "--config", config.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(err.contains("SPECTRA_CLUSTER_IDENTIFIER, SPECTRA_WORKGROUP_NAME: set one"), "{err}");
    let (ok, _, err) = run(&["api"], &[TARGET[0], TARGET[1], ("SPECTRA_TABLE", "no-such-table")]);
    assert!(!ok);
    assert!(err.contains("SPECTRA_TABLE: ResourceNotFoundException"), "{err}");
}

/// A worker starts on the stack's table, bucket and bus, and stops cleanly on SIGTERM. It gets
/// a queue of its own: a stopped worker's abandoned long poll can still take a message sent in
/// the next seconds (SQS and moto alike), which would steal the API test's command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_runs_on_the_stack_and_stops_cleanly() {
    let queue = private_queue("worker-test").await;
    let env_file = tempfile::NamedTempFile::new().unwrap();
    let settings = format!("SPECTRA_QUEUE_URL={queue}\n");
    std::fs::write(env_file.path(), TARGET.map(|(k, v)| format!("{k}={v}\n")).concat() + &settings).unwrap();
    let config = env_file.path().to_str().unwrap();
    // The file's queue must win over the stack's environment: the worker runs with it removed.
    let worker = tokio::task::spawn_blocking({
        let config = config.to_owned();
        move || {
            serve_without(
                &["worker", "--reconcile-interval", "1s", "--config", &config, "--metrics-listen", "127.0.0.1:0"],
                "metrics on http://",
                "SPECTRA_QUEUE_URL",
            )
        }
    })
    .await
    .unwrap();
    // Its own small listener serves the metrics as Prometheus text.
    let response = reqwest::get(format!("http://{}/metrics", worker.addr)).await.unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    assert!(worker.terminate(), "SIGTERM is a clean stop");
}

fn key(tenant: &str) -> String {
    let (ok, out, err) = run(&["keys", "create", "--aws", "--tenant", tenant], &[]);
    assert!(ok, "{err}");
    out.trim().to_owned()
}

/// The Bulk API on DynamoDB, S3 and SQS: create an ingest job, upload through the presigned S3
/// link, mark the upload complete — and the worker's submit command is on the SQS work queue.
/// Another tenant sees none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_runs_bulk_jobs_on_the_stack() {
    let queue = private_queue("api-test").await;
    let env_file = tempfile::NamedTempFile::new().unwrap();
    let settings = TARGET.map(|(k, v)| format!("{k}={v}\n")).concat() + &format!("SPECTRA_QUEUE_URL={queue}\n");
    std::fs::write(env_file.path(), settings).unwrap();
    let config = env_file.path().to_str().unwrap().to_owned();
    let server = tokio::task::spawn_blocking(move || {
        serve_without(
            &["api", "--listen", "127.0.0.1:0", "--config", &config],
            "listening on http://",
            "SPECTRA_QUEUE_URL",
        )
    })
    .await
    .unwrap();
    let api = Api::at(&server.addr);
    let (acme, globex) = (key("acme"), key("globex"));

    let create = json!({"operation": "insert", "object": "public.sales", "content_type": "CSV"});
    let (status, job) = api.call(reqwest::Method::POST, "/v1/bulk/jobs", &acme, "acme", Some(create)).await;
    assert_eq!(status, 201, "{job}");
    let id = job["job_id"].as_str().unwrap().to_owned();
    assert_eq!(job["state"], "Open");

    let (status, link) =
        api.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{id}/upload-url"), &acme, "acme", None).await;
    assert_eq!(status, 200, "{link}");
    let url = link["upload_url"].as_str().unwrap();
    assert!(url.contains(&format!("acme/{id}/upload/")), "the upload key is under the tenant's prefix: {url}");
    let put = reqwest::Client::new().put(url).body("id,amount\n1,10\n").send().await.unwrap();
    assert!(put.status().is_success(), "PUT to the presigned S3 link: {}", put.status());

    let (status, _) = api.call(reqwest::Method::GET, &format!("/v1/bulk/jobs/{id}"), &globex, "globex", None).await;
    assert_eq!(status, 404, "another tenant's job does not exist for them");
    let patch = json!({"state": "UploadComplete"});
    let (status, _) =
        api.call(reqwest::Method::PATCH, &format!("/v1/bulk/jobs/{id}"), &globex, "globex", Some(patch.clone())).await;
    assert_eq!(status, 404);
    let (status, job) =
        api.call(reqwest::Method::PATCH, &format!("/v1/bulk/jobs/{id}"), &acme, "acme", Some(patch)).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["state"], "UploadComplete");

    let (status, list) =
        api.call(reqwest::Method::GET, "/v1/bulk/jobs?state=UploadComplete", &acme, "acme", None).await;
    assert_eq!(status, 200);
    assert!(list["jobs"].as_array().unwrap().iter().any(|j| j["job_id"] == id.as_str()), "{list}");

    // The command that hands the job to a worker is on the work queue.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut found = false;
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            if body["job_id"] == id.as_str() {
                found = true;
                sqs.delete_message()
                    .queue_url(&queue)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        if found {
            break;
        }
    }
    assert!(found, "no command for job {id} on the work queue");
}
