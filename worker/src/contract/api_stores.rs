//! The contracts of the API's shared stores: `IdempotencyStore`, `RateCounter`, `KeyStore`.
//! Their whole point is to be shared by every API instance, so the checks race many callers.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, Utc};
use spectra_state_machine::TenantId;

use crate::ports::{
    CLAIM_LEASE_SECONDS, Claim, IdempotencyStore, KeyStore, RateCounter, RateWindow, StoredResponse, hash_key, mint_key,
};

/// What the suite needs from an adapter under test.
#[async_trait]
pub trait ApiStoresFixture: Send + Sync {
    /// The idempotency adapter.
    type Idempotency: IdempotencyStore + 'static;
    /// The rate counter adapter.
    type Rates: RateCounter + 'static;
    /// The key store adapter.
    type Keys: KeyStore + 'static;
    /// Fresh, empty stores.
    async fn stores(&self) -> (Self::Idempotency, Self::Rates, Self::Keys);
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

/// The token of a fresh claim; a panic naming what the claim was otherwise.
fn token(claim: Claim) -> String {
    match claim {
        Claim::Fresh { token } => token,
        other => panic!("expected a fresh claim, got {other:?}"),
    }
}

fn is_fresh(claim: &Claim) -> bool {
    matches!(claim, Claim::Fresh { .. })
}

/// Of 16 concurrent claims of one key exactly one runs; the rest wait. The stored response is
/// replayed, another request under the key is a mismatch, other tenants are separate.
pub async fn idempotency_claims_once_and_replays<F: ApiStoresFixture>(f: &F) {
    let (store, _, _) = f.stores().await;
    let store = Arc::new(store);
    let acme = tenant("acme");
    let now = Utc::now();
    let claims = futures::future::join_all((0..16).map(|_| {
        let (store, acme) = (store.clone(), acme.clone());
        async move { store.claim(&acme, "key-1", "fp-a", now).await.unwrap() }
    }))
    .await;
    assert_eq!(claims.iter().filter(|c| is_fresh(c)).count(), 1, "{claims:?}");
    assert!(claims.iter().all(|c| is_fresh(c) || *c == Claim::InProgress));
    let response = StoredResponse { status: 201, body: r#"{"job_id":"x"}"#.into() };
    store.complete(&acme, "key-1", &response).await.unwrap();
    assert_eq!(store.claim(&acme, "key-1", "fp-a", now).await.unwrap(), Claim::Replay(response));
    assert_eq!(store.claim(&acme, "key-1", "fp-b", now).await.unwrap(), Claim::Mismatch);
    token(store.claim(&tenant("globex"), "key-1", "fp-b", now).await.unwrap());
}

/// A released claim can be claimed again; a claim older than 24 h is forgotten. Either way the
/// new claim's token is new: the request runs anew and must not find the old one's job.
pub async fn idempotency_releases_and_expires<F: ApiStoresFixture>(f: &F) {
    let (store, _, _) = f.stores().await;
    let acme = tenant("acme");
    let then = Utc::now() - Duration::hours(25);
    let first = token(store.claim(&acme, "k", "fp-a", then).await.unwrap());
    store.complete(&acme, "k", &StoredResponse { status: 200, body: "{}".into() }).await.unwrap();
    let second = token(store.claim(&acme, "k", "fp-b", Utc::now()).await.unwrap());
    assert_ne!(second, first, "expired keys are reusable, with a new token");
    store.release(&acme, "k").await.unwrap();
    let third = token(store.claim(&acme, "k", "fp-b", Utc::now()).await.unwrap());
    assert!(third != first && third != second, "a released key is claimed anew: {first} {second} {third}");
}

/// A claim whose owner never finished is a lease: held against everyone until it lapses, then
/// taken over by exactly one retry of the same request (never by another request), which gets
/// the first claim's token — so it finds what the first attempt created.
pub async fn idempotency_claims_are_leases<F: ApiStoresFixture>(f: &F) {
    let (store, _, _) = f.stores().await;
    let store = Arc::new(store);
    let acme = tenant("acme");
    let crashed = Utc::now() - Duration::seconds(CLAIM_LEASE_SECONDS + 5);
    let first = token(store.claim(&acme, "k", "fp-a", crashed).await.unwrap());
    let soon = crashed + Duration::seconds(CLAIM_LEASE_SECONDS - 10);
    assert_eq!(store.claim(&acme, "k", "fp-a", soon).await.unwrap(), Claim::InProgress, "the lease still holds");
    let now = Utc::now();
    assert_eq!(store.claim(&acme, "k", "fp-b", now).await.unwrap(), Claim::Mismatch, "only the same request");
    let retries = futures::future::join_all((0..8).map(|_| {
        let (store, acme) = (store.clone(), acme.clone());
        async move { store.claim(&acme, "k", "fp-a", now).await.unwrap() }
    }))
    .await;
    let taken: Vec<&Claim> = retries.iter().filter(|c| is_fresh(c)).collect();
    assert_eq!(taken, [&Claim::Fresh { token: first.clone() }], "one takeover, same token: {retries:?}");
    // The successor holds a new lease, and may itself be taken over after it, still bound.
    assert_eq!(store.claim(&acme, "k", "fp-a", now).await.unwrap(), Claim::InProgress);
    let again = now + Duration::seconds(CLAIM_LEASE_SECONDS + 1);
    assert_eq!(token(store.claim(&acme, "k", "fp-a", again).await.unwrap()), first);
    // A completed claim is never taken over, however old.
    let response = StoredResponse { status: 201, body: "{}".into() };
    store.complete(&acme, "k", &response).await.unwrap();
    let later = now + Duration::seconds(CLAIM_LEASE_SECONDS * 2);
    assert_eq!(store.claim(&acme, "k", "fp-a", later).await.unwrap(), Claim::Replay(response));
}

/// Concurrent adds never lose a count; batches add up; windows, groups and tenants count apart.
pub async fn rate_counters_count_every_hit<F: ApiStoresFixture>(f: &F) {
    let (_, rates, _) = f.stores().await;
    let rates = Arc::new(rates);
    let acme = tenant("acme");
    let now = Utc::now();
    let window = RateWindow::containing(now, 60);
    let next = RateWindow { start: window.end(), ..window };
    let mut counts = futures::future::join_all((0..20).map(|_| {
        let (rates, acme) = (rates.clone(), acme.clone());
        async move { rates.add(&acme, "queries", window, 1, now).await.unwrap() }
    }))
    .await;
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<u64>>());
    assert_eq!(rates.add(&acme, "queries", window, 5, now).await.unwrap(), 25);
    assert_eq!(rates.add(&acme, "queries", window, 0, now).await.unwrap(), 25, "adding nothing reads");
    assert_eq!(rates.add(&acme, "queries", next, 1, now).await.unwrap(), 1);
    assert_eq!(rates.add(&acme, "bulk_create", window, 2, now).await.unwrap(), 2);
    assert_eq!(rates.add(&tenant("globex"), "queries", window, 1, now).await.unwrap(), 1);
    // A long window is kept to its end, however far the clock has moved from its start.
    let day = RateWindow::containing(now, 86_400);
    assert_eq!(rates.add(&acme, "queries", day, 3, now).await.unwrap(), 3);
    let later = chrono::DateTime::from_timestamp(day.end() - 1, 0).unwrap();
    assert_eq!(rates.add(&acme, "new_group", RateWindow::containing(later, 60), 1, later).await.unwrap(), 1);
    assert_eq!(rates.add(&acme, "queries", day, 1, later).await.unwrap(), 4);
}

/// Keys are found by hash only, and revoked keys stay findable but marked.
pub async fn keys_are_found_by_hash_and_revoked<F: ApiStoresFixture>(f: &F) {
    let (_, _, keys) = f.stores().await;
    let minted = mint_key(&tenant("acme"));
    keys.put(&minted.record).await.unwrap();
    let found = keys.find(&hash_key(&minted.key)).await.unwrap().unwrap();
    assert_eq!(found.tenant_id, tenant("acme"));
    assert_eq!(found.key_id, minted.record.key_id);
    assert!(found.revoked_at.is_none());
    assert!(keys.find(&hash_key("sk_not_a_key")).await.unwrap().is_none());
    assert!(keys.revoke(&minted.record.key_id).await.unwrap());
    assert!(!keys.revoke("no-such-key").await.unwrap());
    assert!(keys.find(&minted.record.hash).await.unwrap().unwrap().revoked_at.is_some());
}

/// Generates one `#[tokio::test]` per API store check for a fixture expression.
#[macro_export]
macro_rules! api_stores_contract_tests {
    ($fixture:expr) => {
        $crate::contract_tests!(api_stores, $fixture;
            idempotency_claims_once_and_replays,
            idempotency_releases_and_expires,
            idempotency_claims_are_leases,
            rate_counters_count_every_hit,
            keys_are_found_by_hash_and_revoked,
        );
    };
}
