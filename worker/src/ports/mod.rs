//! The ports: the only ways the worker and the API touch the world. Each trait's doc comment is
//! its contract; `crate::contract` has one generic test suite per port that every adapter
//! (embedded and AWS) must pass.
//!
//! Errors are typed per port, and each error type says which of its variants are retryable
//! (`is_retryable`), so callers never match on message text.

mod event_bus;
mod idempotency;
mod job_store;
mod key_store;
mod object_store;
mod queue;
mod rate_limit;
mod warehouse;

pub use event_bus::{BusError, EventBus, MAX_PUBLISH_BATCH};
pub use idempotency::{CLAIM_LEASE_SECONDS, Claim, IDEMPOTENCY_TTL_HOURS, IdempotencyStore, StoredResponse};
pub use job_store::{
    JobPage, JobStore, ListFilter, MAX_PAGE_SIZE, StaleCursor, StoreError, UpdateOutcome, check_page_size,
    decode_page_token, encode_page_token,
};
pub use key_store::{ApiKeyRecord, KeyStore, MintedKey, hash_key, mint_key};
pub use object_store::{
    ByteReader, MAX_KEY_BYTES, MAX_PRESIGN_EXPIRY, ObjectError, ObjectKey, ObjectMeta, ObjectStore, PresignedUrl,
};
pub use queue::{
    AckOutcome, MAX_RECEIVE_BATCH, OutgoingMessage, Queue, QueueError, ReceivedMessage, check_receive_batch,
};
pub use rate_limit::{RateCounter, RateWindow};
pub use warehouse::{
    ColumnMetadata, Field, ResultPage, STOPPED_UNDER_STATEMENT, Sql, StatementDescription, StatementRequest,
    StatementStatus, SubStatement, Warehouse, WarehouseError, deadline_after, read_rows, wait_for,
};
