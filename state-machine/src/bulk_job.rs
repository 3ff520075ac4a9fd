//! The bulk job record (seed 001's Bulk API) and the request that creates one.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ParseError, SpecError};
use crate::ids::{Identifier, JobId, TableName, TenantId};
use crate::job::JobHeader;
use crate::options::{Compression, ContentType, Operation};

/// The states of a bulk job, spelled as in Salesforce Bulk API 2.0 and seed 001.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BulkState {
    /// Created; waiting for the producer's upload (ingest jobs only).
    Open,
    /// Ready to run: the upload is complete, or a query job was just created, or a retryable
    /// failure sent the job back for another attempt.
    UploadComplete,
    /// The attempt's statement is running in the warehouse.
    InProgress,
    /// Done; counts and results are final.
    JobComplete,
    /// Gave up; `error` says why.
    Failed,
    /// Stopped by the user.
    Aborted,
}

impl BulkState {
    /// Every state, in lifecycle order.
    pub const ALL: [Self; 6] =
        [Self::Open, Self::UploadComplete, Self::InProgress, Self::JobComplete, Self::Failed, Self::Aborted];

    /// The seed's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::UploadComplete => "UploadComplete",
            Self::InProgress => "InProgress",
            Self::JobComplete => "JobComplete",
            Self::Failed => "Failed",
            Self::Aborted => "Aborted",
        }
    }

    /// Terminal states absorb every later event.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::JobComplete | Self::Failed | Self::Aborted)
    }
}

impl fmt::Display for BulkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BulkState {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::ALL.into_iter().find(|state| state.as_str() == s).ok_or_else(|| ParseError::UnknownVariant {
            what: "state",
            value: s.to_owned(),
            expected: Self::ALL.map(Self::as_str).join(", "),
        })
    }
}

/// A bulk job as stored in the job table. Field names are seed 001's (`job_id`, `state`,
/// `number_records_processed`, ...) so the API can return the record's public part as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkJob {
    /// Id, tenant, version, attempts and error: what every kind of job has.
    #[serde(flatten)]
    pub header: JobHeader,
    /// Where the job is in its lifecycle.
    pub state: BulkState,
    /// What the job does.
    pub operation: Operation,
    /// The target table (ingest) or a label for the export (query).
    pub object: TableName,
    /// The SELECT to export (query jobs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Format of the upload (ingest) or of the results (query).
    pub content_type: ContentType,
    /// Compression of the upload or of the results.
    pub compression: Compression,
    /// Columns that match uploaded rows to table rows (upsert, update, delete).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<Identifier>,
    /// Rows written (ingest) or exported (query); final once the job completes.
    pub number_records_processed: u64,
    /// Rows rejected under MAXERROR (ingest).
    pub number_records_failed: u64,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
    /// When the first statement started running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When the job reached a terminal state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

/// A bulk job request as it arrives (strings, as in seed 001's `POST /bulk/jobs` body), before
/// validation. [`BulkJobRequest::validate`] is the only way to a [`BulkJobSpec`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkJobRequest {
    /// `query`, `insert`, `update`, `upsert` or `delete`.
    pub operation: String,
    /// The table.
    pub object: String,
    /// The SELECT, for query jobs.
    #[serde(default)]
    pub query: Option<String>,
    /// `CSV` (default), `JSON` or `PARQUET`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// `NONE` (default) or `GZIP`.
    #[serde(default)]
    pub compression: Option<String>,
    /// Key columns for upsert, update and delete.
    #[serde(default)]
    pub primary_key: Option<Vec<String>>,
}

/// A validated bulk job request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkJobSpec {
    /// What the job does.
    pub operation: Operation,
    /// The table.
    pub object: TableName,
    /// The SELECT (query jobs only; non-blank).
    pub query: Option<String>,
    /// Data format.
    pub content_type: ContentType,
    /// Compression.
    pub compression: Compression,
    /// Key columns (non-empty exactly for upsert, update and delete; no repeats).
    pub primary_key: Vec<Identifier>,
}

fn field<T>(field: &'static str, r: Result<T, ParseError>) -> Result<T, SpecError> {
    r.map_err(|source| SpecError::Field { field, source })
}

impl BulkJobRequest {
    /// Checks every field and the rules between them, naming the first thing that is wrong.
    pub fn validate(self) -> Result<BulkJobSpec, SpecError> {
        let operation: Operation = field("operation", self.operation.parse())?;
        let object = field("object", TableName::parse(&self.object).and_then(TableName::user_table))?;
        let content_type = match self.content_type {
            Some(s) => field("content_type", s.parse())?,
            None => ContentType::Csv,
        };
        let compression = match self.compression {
            Some(s) => field("compression", s.parse())?,
            None => Compression::None,
        };
        if content_type == ContentType::Parquet && compression == Compression::Gzip {
            return Err(SpecError::ParquetWithGzip);
        }
        let query = match (operation, self.query) {
            (Operation::Query, None) => return Err(SpecError::MissingQuery),
            (Operation::Query, Some(q)) if q.trim().is_empty() => return Err(SpecError::BlankSql { field: "query" }),
            (Operation::Query, Some(q)) => Some(q),
            (_, None) => None,
            (op, Some(_)) => return Err(SpecError::UnexpectedQuery { operation: op.as_str() }),
        };
        let primary_key = self
            .primary_key
            .unwrap_or_default()
            .iter()
            .map(|c| field("primary_key", Identifier::parse(c)))
            .collect::<Result<Vec<_>, _>>()?;
        match (operation.needs_primary_key(), primary_key.is_empty()) {
            (true, true) => return Err(SpecError::MissingPrimaryKey { operation: operation.as_str() }),
            (false, false) => return Err(SpecError::UnexpectedPrimaryKey { operation: operation.as_str() }),
            _ => {}
        }
        let mut seen = HashSet::new();
        if let Some(dup) = primary_key.iter().find(|c| !seen.insert(c.as_str().to_ascii_lowercase())) {
            return Err(SpecError::DuplicateKeyColumn { column: dup.to_string() });
        }
        Ok(BulkJobSpec { operation, object, query, content_type, compression, primary_key })
    }
}

impl BulkJob {
    /// A new job for `spec`: ingest jobs start `Open` (waiting for the upload), query jobs start
    /// `UploadComplete` (nothing to upload). Use [`crate::bulk::create`] to also get the
    /// effects that creation implies.
    pub fn new(tenant_id: TenantId, spec: BulkJobSpec, now: DateTime<Utc>) -> Self {
        let state = if spec.operation.is_ingest() { BulkState::Open } else { BulkState::UploadComplete };
        Self {
            header: JobHeader::new(JobId::new_bulk(), tenant_id, now),
            state,
            operation: spec.operation,
            object: spec.object,
            query: spec.query,
            content_type: spec.content_type,
            compression: spec.compression,
            primary_key: spec.primary_key,
            number_records_processed: 0,
            number_records_failed: 0,
            created_at: now,
            started_at: None,
            completed_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(operation: &str) -> BulkJobRequest {
        BulkJobRequest { operation: operation.into(), object: "public.sales".into(), ..Default::default() }
    }

    #[test]
    fn query_jobs_need_a_query_and_no_key() {
        assert_eq!(request("query").validate(), Err(SpecError::MissingQuery));
        let spec = BulkJobRequest { query: Some("SELECT 1".into()), ..request("query") }.validate().unwrap();
        assert_eq!(spec.content_type, ContentType::Csv);
        assert_eq!(spec.compression, Compression::None);
        let keyed =
            BulkJobRequest { query: Some("SELECT 1".into()), primary_key: Some(vec!["id".into()]), ..request("query") };
        assert_eq!(keyed.validate(), Err(SpecError::UnexpectedPrimaryKey { operation: "query" }));
        let blank = BulkJobRequest { query: Some("  ".into()), ..request("query") };
        assert_eq!(blank.validate(), Err(SpecError::BlankSql { field: "query" }));
    }

    #[test]
    fn keyed_operations_need_valid_unique_keys() {
        assert_eq!(request("upsert").validate(), Err(SpecError::MissingPrimaryKey { operation: "upsert" }));
        let dup = BulkJobRequest { primary_key: Some(vec!["id".into(), "ID".into()]), ..request("delete") };
        assert_eq!(dup.validate(), Err(SpecError::DuplicateKeyColumn { column: "ID".into() }));
        let bad = BulkJobRequest { primary_key: Some(vec!["id; drop".into()]), ..request("update") };
        assert!(matches!(bad.validate(), Err(SpecError::Field { field: "primary_key", .. })));
        let ok = BulkJobRequest { primary_key: Some(vec!["id".into(), "region".into()]), ..request("upsert") };
        assert_eq!(ok.validate().unwrap().primary_key.len(), 2);
    }

    #[test]
    fn bad_fields_are_named() {
        let err = BulkJobRequest { object: "sales;".into(), ..request("insert") }.validate().unwrap_err();
        assert!(err.to_string().starts_with("object: "), "{err}");
        for system in [
            "spectra_internal.statements",
            "pg_catalog.pg_class",
            "information_schema.tables",
            "stl_query",
            "Spectra_Internal.x",
            "duckdb_tables",
            "pg_class",
            "temp.t",
        ] {
            let err = BulkJobRequest { object: system.into(), ..request("insert") }.validate().unwrap_err();
            assert!(err.to_string().starts_with("object: ") && err.to_string().contains("system table"), "{err}");
        }
        let err = request("merge").validate().unwrap_err();
        assert!(matches!(err, SpecError::Field { field: "operation", .. }));
        let err = BulkJobRequest { query: Some("SELECT 1".into()), ..request("insert") }.validate().unwrap_err();
        assert_eq!(err, SpecError::UnexpectedQuery { operation: "insert" });
        let err = BulkJobRequest {
            content_type: Some("parquet".into()),
            compression: Some("gzip".into()),
            ..request("insert")
        };
        assert_eq!(err.validate(), Err(SpecError::ParquetWithGzip));
    }

    #[test]
    fn new_jobs_start_where_the_operation_says() {
        let tenant = TenantId::parse("t1").unwrap();
        let now = Utc::now();
        let ingest = BulkJob::new(tenant.clone(), request("insert").validate().unwrap(), now);
        assert_eq!(ingest.state, BulkState::Open);
        assert_eq!(
            (ingest.header.version, ingest.header.execution.attempt, ingest.header.execution.retries),
            (1, 1, 0)
        );
        let query = BulkJobRequest { query: Some("SELECT 1".into()), ..request("query") };
        assert_eq!(BulkJob::new(tenant, query.validate().unwrap(), now).state, BulkState::UploadComplete);
    }

    #[test]
    fn state_names_round_trip() {
        for state in BulkState::ALL {
            assert_eq!(state.as_str().parse::<BulkState>().unwrap(), state);
            assert_eq!(serde_json::to_string(&state).unwrap(), format!("\"{state}\""));
        }
        assert!("Done".parse::<BulkState>().is_err());
    }
}
