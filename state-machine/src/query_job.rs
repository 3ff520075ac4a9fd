//! The async query job record (seed 001's Job API, with seed 000's `async` and `output_format`)
//! and the request that creates one.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ParseError, SpecError};
use crate::ids::{Identifier, JobId, TenantId};
use crate::job::JobHeader;
use crate::options::{OutputFormat, ResultLocation};

/// The states of a query job, spelled as in seed 001's Job API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueryStatus {
    /// Accepted; its statement is not running yet.
    Queued,
    /// The statement is running.
    Running,
    /// Done; results are available.
    Completed,
    /// Gave up; `error` says why.
    Failed,
    /// Cancelled by the user.
    Cancelled,
}

impl QueryStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 5] = [Self::Queued, Self::Running, Self::Completed, Self::Failed, Self::Cancelled];

    /// The seed's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Terminal statuses absorb every later event.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for QueryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for QueryStatus {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| ParseError::UnknownVariant {
            what: "status",
            value: s.to_owned(),
            expected: Self::ALL.map(Self::as_str).join(", "),
        })
    }
}

/// A named SQL parameter (`:name` in the SQL), passed to the Data API as `Parameters`, never
/// spliced into the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryParameter {
    /// The name, without the colon.
    pub name: Identifier,
    /// The value as text; the warehouse casts it, as the Data API does.
    pub value: String,
}

/// An async query job as stored in the job table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryJob {
    /// Id, tenant, version, attempts and error: what every kind of job has.
    #[serde(flatten)]
    pub header: JobHeader,
    /// Where the job is in its lifecycle.
    pub status: QueryStatus,
    /// The SQL, already accepted by the API's guard.
    pub sql: String,
    /// Named parameters for the SQL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<QueryParameter>,
    /// How the result is returned.
    pub output_format: OutputFormat,
    /// When the job was accepted.
    pub submitted_at: DateTime<Utc>,
    /// When its statement started running.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal status.
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Rows in the result, once completed.
    #[serde(default)]
    pub row_count: Option<u64>,
    /// Milliseconds from start to completion.
    #[serde(default)]
    pub execution_time_ms: Option<u64>,
    /// Where the result lives, once completed.
    #[serde(default)]
    pub result_location: Option<ResultLocation>,
}

/// An async query request as it arrives, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryJobRequest {
    /// The SQL.
    pub sql: String,
    /// Named parameters.
    #[serde(default)]
    pub parameters: Vec<RawParameter>,
    /// `json` (default), `csv` or `parquet`.
    #[serde(default)]
    pub output_format: Option<String>,
}

/// A parameter as it arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawParameter {
    /// The name, without the colon.
    pub name: String,
    /// The value as text.
    pub value: String,
}

/// A validated query job request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryJobSpec {
    /// The SQL (non-blank; the read-only guard is the API's job).
    pub sql: String,
    /// Named parameters (valid, unique names).
    pub parameters: Vec<QueryParameter>,
    /// Output format.
    pub output_format: OutputFormat,
}

impl QueryJobRequest {
    /// Checks every field, naming the first thing that is wrong.
    pub fn validate(self) -> Result<QueryJobSpec, SpecError> {
        if self.sql.trim().is_empty() {
            return Err(SpecError::BlankSql { field: "sql" });
        }
        let output_format = match self.output_format {
            Some(s) => s.parse().map_err(|source| SpecError::Field { field: "output_format", source })?,
            None => OutputFormat::Json,
        };
        let mut seen = HashSet::new();
        let mut parameters = Vec::with_capacity(self.parameters.len());
        for p in self.parameters {
            let name = Identifier::parse(&p.name).map_err(|source| SpecError::Field { field: "parameters", source })?;
            if !seen.insert(name.as_str().to_owned()) {
                return Err(SpecError::DuplicateParameter { name: p.name });
            }
            parameters.push(QueryParameter { name, value: p.value });
        }
        Ok(QueryJobSpec { sql: self.sql, parameters, output_format })
    }
}

impl QueryJob {
    /// A new job, `QUEUED`. Use [`crate::query::create`] to also get the effects that creation
    /// implies.
    pub fn new(tenant_id: TenantId, spec: QueryJobSpec, now: DateTime<Utc>) -> Self {
        Self {
            header: JobHeader::new(JobId::new_query(), tenant_id, now),
            status: QueryStatus::Queued,
            sql: spec.sql,
            parameters: spec.parameters,
            output_format: spec.output_format,
            submitted_at: now,
            started_at: None,
            completed_at: None,
            row_count: None,
            execution_time_ms: None,
            result_location: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_validated() {
        let blank = QueryJobRequest { sql: " ".into(), ..Default::default() };
        assert_eq!(blank.validate(), Err(SpecError::BlankSql { field: "sql" }));
        let bad_format =
            QueryJobRequest { sql: "SELECT 1".into(), output_format: Some("xml".into()), ..Default::default() };
        assert!(matches!(bad_format.validate(), Err(SpecError::Field { field: "output_format", .. })));
        let p = |n: &str| RawParameter { name: n.into(), value: "1".into() };
        let dup = QueryJobRequest { sql: "SELECT :a".into(), parameters: vec![p("a"), p("a")], ..Default::default() };
        assert_eq!(dup.validate(), Err(SpecError::DuplicateParameter { name: "a".into() }));
        let bad = QueryJobRequest { sql: "SELECT 1".into(), parameters: vec![p("a b")], ..Default::default() };
        assert!(matches!(bad.validate(), Err(SpecError::Field { field: "parameters", .. })));
        let ok =
            QueryJobRequest { sql: "SELECT :id".into(), parameters: vec![p("id")], output_format: Some("CSV".into()) };
        let spec = ok.validate().unwrap();
        assert_eq!(spec.output_format, OutputFormat::Csv);
        assert_eq!(spec.parameters[0].name.as_str(), "id");
    }

    #[test]
    fn status_names_round_trip() {
        for status in QueryStatus::ALL {
            assert_eq!(status.as_str().parse::<QueryStatus>().unwrap(), status);
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{status}\""));
        }
    }
}
