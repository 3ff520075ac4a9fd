//! What the embedded adapters promise beyond the shared contracts: links that refuse tampering
//! and expiry, several handles (as several processes would have) on one queue file, and state
//! that survives reopening the data directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use spectra_local::{LocalObjectStore, QueueConfig, SqliteQueue, object_routes};
use spectra_worker::ports::{ObjectKey, ObjectStore, OutgoingMessage, Queue};
use tokio::sync::Mutex;

async fn serve(dir: &std::path::Path) -> (LocalObjectStore, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let store = LocalObjectStore::open(dir, "spectra", &url).await.unwrap();
    let routes = object_routes(store.clone());
    tokio::spawn(async move { axum::serve(listener, routes).await });
    (store, url)
}

#[tokio::test]
async fn presigned_links_refuse_tampering_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = serve(dir.path()).await;
    let key = ObjectKey::parse("acme/bulk-1/results/part_000").unwrap();
    store.put(&key, Box::pin(std::io::Cursor::new(b"secret rows".to_vec()))).await.unwrap();
    let http = reqwest::Client::new();
    let link = store.presign_get(&key, Duration::from_secs(1)).await.unwrap().url;
    assert_eq!(http.get(&link).send().await.unwrap().status(), 200);

    let status = |u: String| {
        let http = http.clone();
        async move { http.get(u).send().await.unwrap().status().as_u16() }
    };
    // Another tenant's key with the same signature.
    assert_eq!(status(link.replace("acme/", "evil/")).await, 403);
    // A later expiry with the same signature.
    let expires = link.split("expires=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    assert_eq!(status(link.replace(&expires, "9999999999")).await, 403);
    // A flipped signature character.
    let flipped = if link.ends_with('0') {
        format!("{}1", &link[..link.len() - 1])
    } else {
        format!("{}0", &link[..link.len() - 1])
    };
    assert_eq!(status(flipped).await, 403);
    // No signature at all, and a GET link used to PUT.
    assert_eq!(status(format!("{url}/objects/spectra/{key}")).await, 403);
    assert_eq!(http.put(&link).body("overwrite").send().await.unwrap().status(), 403);
    // Expired.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = http.get(&link).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn separate_handles_on_one_file_never_share_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.sqlite");
    let producer = SqliteQueue::open(&path, "work", QueueConfig::default()).await.unwrap();
    const N: usize = 100;
    for i in 0..N {
        producer.send(OutgoingMessage::new(format!("m{i}"))).await.unwrap();
    }
    let seen = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let mut consumers = Vec::new();
    for _ in 0..3 {
        // Each handle has its own SQLite connection, as each worker process would.
        let queue = SqliteQueue::open(&path, "work", QueueConfig::default()).await.unwrap();
        let seen = Arc::clone(&seen);
        consumers.push(tokio::spawn(async move {
            loop {
                let batch = queue.receive(10, Duration::from_millis(500), Duration::from_secs(60)).await.unwrap();
                if batch.is_empty() {
                    return;
                }
                for m in &batch {
                    *seen.lock().await.entry(m.body.clone()).or_default() += 1;
                }
                queue.ack(&batch.iter().map(|m| m.receipt.clone()).collect::<Vec<_>>()).await.unwrap();
            }
        }));
    }
    for c in consumers {
        c.await.unwrap();
    }
    let seen = seen.lock().await;
    assert_eq!(seen.len(), N);
    assert!(seen.values().all(|n| *n == 1), "a message reached two handles");
}

#[tokio::test]
async fn messages_and_dead_letters_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.sqlite");
    {
        let q = SqliteQueue::open(&path, "work", QueueConfig::default()).await.unwrap();
        q.send(OutgoingMessage::new("durable")).await.unwrap();
        q.send(OutgoingMessage::new("in flight when we crashed")).await.unwrap();
        q.send(OutgoingMessage::new("poison")).await.unwrap();
        let held = q.receive(10, Duration::from_secs(1), Duration::from_millis(500)).await.unwrap();
        assert_eq!(held.len(), 3);
        let poison = held.iter().find(|m| m.body == "poison").unwrap();
        q.dead_letter(&poison.receipt, "body is not a Spectra message").await.unwrap();
        // Dropped without acking the others: a crash mid-handling.
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let q = SqliteQueue::open(&path, "work", QueueConfig::default()).await.unwrap();
    let mut again: Vec<_> = q.receive(10, Duration::from_secs(1), Duration::from_secs(30)).await.unwrap();
    again.sort_by(|a, b| a.body.cmp(&b.body));
    assert_eq!(
        again.iter().map(|m| (m.body.as_str(), m.receive_count)).collect::<Vec<_>>(),
        [("durable", 2), ("in flight when we crashed", 2)]
    );
    let dead = q.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].body.as_str(), dead[0].reason.as_str()), ("poison", "body is not a Spectra message"));
    assert_eq!(q.depth().await.unwrap(), 2);
}

#[tokio::test]
async fn over_delivered_messages_say_why_they_died() {
    let dir = tempfile::tempdir().unwrap();
    let q = SqliteQueue::open(&dir.path().join("q.sqlite"), "work", QueueConfig { max_receives: 1 }).await.unwrap();
    q.send(OutgoingMessage::new("crashes the handler")).await.unwrap();
    assert_eq!(q.receive(1, Duration::from_secs(1), Duration::from_millis(300)).await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(q.receive(1, Duration::ZERO, Duration::from_secs(30)).await.unwrap().is_empty());
    let dead = q.dead_letters().await.unwrap();
    assert_eq!(dead[0].receive_count, 1);
    assert!(dead[0].reason.contains("maxReceiveCount"), "{}", dead[0].reason);
}
