//! The `ObjectStore` contract, including presigned links used over real HTTP.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use crate::ports::{ByteReader, ObjectError, ObjectKey, ObjectStore};

/// What the suite needs from an adapter under test.
#[async_trait]
pub trait ObjectStoreFixture: Send + Sync {
    /// The adapter.
    type Store: ObjectStore + 'static;
    /// A new, empty bucket whose presigned links are served.
    async fn store(&self) -> Self::Store;
}

fn key(k: &str) -> ObjectKey {
    ObjectKey::parse(k).unwrap()
}

fn body(bytes: Vec<u8>) -> ByteReader {
    Box::pin(io::Cursor::new(bytes))
}

async fn read_all<S: ObjectStore>(s: &S, k: &ObjectKey) -> Vec<u8> {
    let (_, mut reader) = s.get(k).await.unwrap();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.unwrap();
    out
}

/// A body that yields some bytes and then fails, like a producer whose connection drops.
struct Broken {
    sent: bool,
}

impl AsyncRead for Broken {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.sent {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "producer went away")));
        }
        self.sent = true;
        buf.put_slice(&[b'x'; 4096]);
        Poll::Ready(Ok(()))
    }
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// Objects round-trip byte for byte; a put replaces; sizes are reported.
pub async fn puts_gets_and_replaces<F: ObjectStoreFixture>(f: &F) {
    let s = f.store().await;
    let k = key("t1/bulk-1/upload/part-0001.csv");
    let data = sample(3 * 1024 * 1024 + 17);
    let meta = s.put(&k, body(data.clone())).await.unwrap();
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(read_all(&s, &k).await, data);
    s.put(&k, body(b"id,name\n1,a\n".to_vec())).await.unwrap();
    assert_eq!(read_all(&s, &k).await, b"id,name\n1,a\n");
    assert!(matches!(s.get(&key("t1/missing")).await, Err(ObjectError::NotFound(_))));
}

/// A put whose body fails stores nothing and leaves the old object intact.
pub async fn failed_puts_leave_no_trace<F: ObjectStoreFixture>(f: &F) {
    let s = f.store().await;
    let k = key("t1/bulk-1/upload/data.csv");
    assert!(s.put(&k, Box::pin(Broken { sent: false })).await.is_err());
    assert!(matches!(s.get(&k).await, Err(ObjectError::NotFound(_))), "a half upload became visible");
    s.put(&k, body(b"old".to_vec())).await.unwrap();
    assert!(s.put(&k, Box::pin(Broken { sent: false })).await.is_err());
    assert_eq!(read_all(&s, &k).await, b"old");
    assert_eq!(s.list("t1/").await.unwrap().len(), 1);
}

/// Lists return exactly the keys under a prefix, sorted; deletes are idempotent.
pub async fn lists_by_prefix_and_deletes<F: ObjectStoreFixture>(f: &F) {
    let s = f.store().await;
    for k in ["t1/job/results/part_001", "t1/job/results/part_000", "t1/job/manifest", "t10/job/results/part_000"] {
        s.put(&key(k), body(k.as_bytes().to_vec())).await.unwrap();
    }
    let listed = |prefix: &'static str| {
        let s = &s;
        async move { s.list(prefix).await.unwrap().into_iter().map(|m| m.key.to_string()).collect::<Vec<_>>() }
    };
    assert_eq!(listed("t1/job/results/").await, ["t1/job/results/part_000", "t1/job/results/part_001"]);
    assert_eq!(listed("t1/").await.len(), 3, "prefix t1/ must not include t10/");
    assert_eq!(listed("t1/job/results/part_00").await.len(), 2);
    assert_eq!(listed("").await.len(), 4);
    s.delete(&key("t1/job/manifest")).await.unwrap();
    s.delete(&key("t1/job/manifest")).await.unwrap();
    assert_eq!(listed("t1/").await.len(), 2);
}

/// Presigned links work over plain HTTP: PUT uploads, GET downloads.
pub async fn presigned_links_work<F: ObjectStoreFixture>(f: &F) {
    let s = f.store().await;
    let http = reqwest::Client::new();
    let k = key("t1/bulk-9/upload/data file.csv");
    let put = s.presign_put(&k, Duration::from_secs(600)).await.unwrap();
    assert!(put.expires_at > chrono::Utc::now());
    let response = http.put(&put.url).body(b"id\n1\n2\n".to_vec()).send().await.unwrap();
    assert!(response.status().is_success(), "PUT {} -> {}", put.url, response.status());
    assert_eq!(read_all(&s, &k).await, b"id\n1\n2\n");
    let get = s.presign_get(&k, Duration::from_secs(600)).await.unwrap();
    let response = http.get(&get.url).send().await.unwrap();
    assert!(response.status().is_success(), "GET {} -> {}", get.url, response.status());
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"id\n1\n2\n");
    assert!(s.presign_get(&k, Duration::from_secs(3601)).await.is_err(), "links longer than an hour");
}

/// Objects larger than one upload part (S3 multipart) round-trip; a failing body midway
/// leaves nothing behind.
pub async fn large_objects_round_trip<F: ObjectStoreFixture>(f: &F) {
    let s = f.store().await;
    let k = key("t1/bulk-2/upload/large.csv");
    let data = sample(17 * 1024 * 1024 + 3);
    assert_eq!(s.put(&k, body(data.clone())).await.unwrap().size, data.len() as u64);
    assert_eq!(read_all(&s, &k).await, data);
    assert_eq!(s.list("t1/bulk-2/").await.unwrap()[0].size, data.len() as u64);
    let broken = key("t1/bulk-2/upload/broken.csv");
    let failing: ByteReader = Box::pin(AsyncReadExt::chain(io::Cursor::new(data), Broken { sent: true }));
    assert!(matches!(s.put(&broken, failing).await, Err(ObjectError::Body(_))));
    assert!(matches!(s.get(&broken).await, Err(ObjectError::NotFound(_))));
}

/// Generates one `#[tokio::test]` per object store check for a fixture expression.
#[macro_export]
macro_rules! object_store_contract_tests {
    ($fixture:expr) => {
        $crate::contract_tests!(object_store, $fixture;
            puts_gets_and_replaces,
            failed_puts_leave_no_trace,
            lists_by_prefix_and_deletes,
            presigned_links_work,
            large_objects_round_trip,
        );
    };
}
