//! The "Redshift Data Statement Status Change" event that the Data API sends to EventBridge when
//! a statement submitted with `WithEvent=true` ends, and that an EventBridge rule delivers to the
//! work queue (`schemas/redshift-statement-status-change.schema.json`).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use spectra_state_machine::{JobId, TenantId};

/// `source` of Data API events.
pub const REDSHIFT_DATA_SOURCE: &str = "aws.redshift-data";
/// `detail-type` of statement status changes.
pub const STATEMENT_STATUS_CHANGE: &str = "Redshift Data Statement Status Change";

/// The EventBridge envelope, field for field as AWS sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementStatusChange {
    /// EventBridge envelope version (`"0"`).
    pub version: String,
    /// EventBridge's event id.
    pub id: String,
    /// Always [`STATEMENT_STATUS_CHANGE`].
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// Always [`REDSHIFT_DATA_SOURCE`].
    pub source: String,
    /// The account; AWS sends it, moto's EventBridge omits it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// When the event was emitted.
    pub time: DateTime<Utc>,
    /// The region.
    pub region: String,
    /// The cluster or workgroup ARN.
    pub resources: Vec<String>,
    /// The statement's news.
    pub detail: StatementDetail,
}

/// The `detail` of a statement status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementDetail {
    /// The IAM principal that ran the statement.
    pub principal: String,
    /// The `StatementName` given at submit; Spectra's names correlate the event with a job.
    /// Optional on input: an unnamed statement is simply not ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_name: Option<String>,
    /// The Data API statement id (for a batch, the parent id).
    pub statement_id: String,
    /// Redshift's query id (-1 when there is none).
    pub redshift_query_id: i64,
    /// How the statement ended.
    pub state: StatementEndState,
    /// Rows affected or returned (-1 when unknown).
    pub rows: i64,
    /// When the statement's results expire, in seconds since the epoch.
    pub expire_at: i64,
}

/// The end states an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatementEndState {
    /// Finished running.
    Finished,
    /// Failed; DescribeStatement has the error.
    Failed,
    /// Stopped by CancelStatement.
    Aborted,
}

impl StatementStatusChange {
    /// The job and attempt the statement belongs to, or `None` when it is not Spectra's.
    pub fn statement_name(&self) -> Option<StatementName> {
        self.detail.statement_name.as_deref().and_then(StatementName::parse)
    }
}

/// The `StatementName` Spectra gives every statement: `spectra:<tenant_id>:<job_id>:<attempt>`.
///
/// DESIGN §4 says `spectra:<job_id>:<attempt>`; the tenant is added because the job table is
/// keyed by tenant, and a status-change event carries nothing else to find the job by. Tenant
/// and job ids cannot contain `:`, so the name splits unambiguously.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatementName {
    /// The job's tenant.
    pub tenant_id: TenantId,
    /// The job.
    pub job_id: JobId,
    /// The attempt (from 1).
    pub attempt: u32,
}

impl StatementName {
    const PREFIX: &'static str = "spectra";

    /// Parses a statement name; `None` when it is not one of Spectra's.
    pub fn parse(name: &str) -> Option<Self> {
        let mut parts = name.split(':');
        let (Some(Self::PREFIX), Some(tenant), Some(job), Some(attempt), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let attempt: u32 = attempt.parse().ok().filter(|a| *a >= 1)?;
        Some(Self { tenant_id: TenantId::parse(tenant).ok()?, job_id: JobId::parse(job).ok()?, attempt })
    }
}

impl fmt::Display for StatementName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}:{}", Self::PREFIX, self.tenant_id, self.job_id, self.attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_names_round_trip_and_foreign_names_are_not_ours() {
        let name = StatementName {
            tenant_id: TenantId::parse("tenant-123").unwrap(),
            job_id: JobId::parse("bulk-abc").unwrap(),
            attempt: 3,
        };
        assert_eq!(name.to_string(), "spectra:tenant-123:bulk-abc:3");
        assert_eq!(StatementName::parse(&name.to_string()), Some(name));
        for foreign in [
            "test.testtable",
            "spectra:t:j",
            "spectra:t:j:0",
            "spectra:t:j:x",
            "spectra:t:j:1:extra",
            "other:t:j:1",
            "spectra:t/x:j:1",
            "",
        ] {
            assert_eq!(StatementName::parse(foreign), None, "{foreign:?}");
        }
    }
}
