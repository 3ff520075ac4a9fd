//! What the producer library and the worker run on: the ports, and the settings every part of
//! the job lifecycle agrees on (bucket layout, deadlines, retries).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use spectra_state_machine::{JobId, RetryPolicy, TenantId};

use crate::ports::{EventBus, JobStore, ObjectError, ObjectKey, ObjectStore, Queue};
use crate::sql::GuardConfig;

/// A malformed `tenant=user` list (`SPECTRA_DB_USERS`, `spectra up --db-user`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{pair:?}: {problem}")]
pub struct DbUsersError {
    /// The pair at fault.
    pub pair: String,
    /// What is wrong with it.
    pub problem: String,
}

/// Parses `tenant=user,tenant=user`: the database user each tenant's statements run as. Users
/// are plain identifiers (letters, digits, `_`), since they reach SQL and the Data API's `DbUser`.
pub fn parse_db_users(text: &str) -> Result<HashMap<TenantId, String>, DbUsersError> {
    let mut users = HashMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = |problem: String| DbUsersError { pair: pair.to_owned(), problem };
        let (tenant, user) = pair.split_once('=').ok_or_else(|| bad("expected tenant=user".into()))?;
        let tenant = TenantId::parse(tenant.trim()).map_err(|e| bad(e.to_string()))?;
        let user = user.trim();
        if user.is_empty() || !user.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("a database user is letters, digits and _".into()));
        }
        if users.insert(tenant, user.to_owned()).is_some() {
            return Err(bad("tenant listed twice".into()));
        }
    }
    Ok(users)
}

/// Settings shared by producers and workers. The defaults are production's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The bucket uploads and results live in (`s3://<bucket>/<tenant>/<job>/...`).
    pub bucket: String,
    /// The role Redshift assumes for UNLOAD and COPY; `None` uses the cluster's default role.
    pub iam_role: Option<String>,
    /// Retryable statement failures a job survives.
    pub retry: RetryPolicy,
    /// Rows a COPY may reject before the ingest fails (Redshift's MAXERROR).
    pub max_error: u64,
    /// How long an ingest job may stay `Open` waiting for its upload.
    pub upload_window: Duration,
    /// How long a bulk job may take once its upload is complete.
    pub bulk_deadline: Duration,
    /// How long an async query job may take.
    pub query_deadline: Duration,
    /// How long a job may sit unchanged in a waiting or running state before the reconciler
    /// looks at it (events are best effort).
    pub reconcile_grace: Duration,
    /// How long presigned upload and download links live (at most an hour).
    pub link_expiry: Duration,
    /// Database user per tenant, so that Redshift row-level security applies.
    pub db_users: HashMap<TenantId, String>,
    /// Give a tenant missing from `db_users` the database user [`derived_db_user`]. The
    /// embedded platform does, so that every tenant statement runs confined to its grants; on
    /// Redshift the users would have to exist, so there it is off and `db_users` is explicit.
    pub derive_db_users: bool,
    /// Ask the warehouse for status-change events (`WithEvent`). Off, jobs still finish through
    /// the reconciler, only later.
    pub statement_events: bool,
    /// What the SQL guard allows in tenants' queries (export jobs, and the API's queries).
    pub guard: GuardConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bucket: "spectra".into(),
            iam_role: None,
            retry: RetryPolicy::default(),
            max_error: 1000,
            upload_window: Duration::from_secs(24 * 3600),
            bulk_deadline: Duration::from_secs(24 * 3600),
            query_deadline: Duration::from_secs(5 * 60),
            reconcile_grace: Duration::from_secs(60),
            link_expiry: Duration::from_secs(3600),
            db_users: HashMap::new(),
            derive_db_users: false,
            statement_events: true,
            guard: GuardConfig::default(),
        }
    }
}

impl Settings {
    /// The database user `tenant`'s statements run as (`DbUser`), if any.
    pub fn db_user(&self, tenant: &TenantId) -> Option<String> {
        self.db_users.get(tenant).cloned().or_else(|| self.derive_db_users.then(|| derived_db_user(tenant)))
    }
}

/// `tenant_<id>`, with `-` as `_`: a database user name (letters, digits, `_`) for a tenant id
/// (letters, digits, `-`, `_`). Two ids that differ only there share the derived name; a
/// tenant that needs grants of its own is given them by name (`--db-user` and `--grant`).
pub fn derived_db_user(tenant: &TenantId) -> String {
    format!("tenant_{}", tenant.as_str().replace('-', "_"))
}

/// The ports the job lifecycle needs, minus the warehouse (producers never talk to it).
#[derive(Clone)]
pub struct Platform {
    /// The work queue: commands and statement events.
    pub queue: Arc<dyn Queue>,
    /// The job table.
    pub store: Arc<dyn JobStore>,
    /// Uploads and results.
    pub objects: Arc<dyn ObjectStore>,
    /// Lifecycle events.
    pub bus: Arc<dyn EventBus>,
    /// Shared settings.
    pub settings: Arc<Settings>,
}

/// Where a job's objects live. Every key starts with the tenant, which is how every prefix is
/// scoped by tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLayout {
    prefix: String,
}

impl JobLayout {
    /// The layout of one job.
    pub fn new(tenant: &TenantId, job: &JobId) -> Self {
        Self { prefix: format!("{tenant}/{job}") }
    }

    /// Prefix of the uploaded parts.
    pub fn upload_prefix(&self) -> String {
        format!("{}/upload/", self.prefix)
    }

    /// Prefix of the exported parts (UNLOAD appends its part names to it).
    pub fn results_prefix(&self) -> String {
        format!("{}/results/part_", self.prefix)
    }

    /// The UNLOAD manifest (Redshift writes `<prefix>manifest`).
    pub fn manifest(&self) -> ObjectKey {
        self.key(&format!("{}manifest", self.results_prefix()))
    }

    /// The CSV of rows an ingest rejected.
    pub fn failed_records(&self) -> ObjectKey {
        self.key(&format!("{}/failed/failed_records.csv", self.prefix))
    }

    /// An upload part's key; the part name must be one plain path segment.
    pub fn upload_part(&self, name: &str) -> Result<ObjectKey, ObjectError> {
        if name.contains('/') {
            return Err(ObjectError::InvalidKey { key: name.to_owned(), reason: "a part name has no '/'".into() });
        }
        ObjectKey::parse(&format!("{}{name}", self.upload_prefix()))
    }

    /// Tenant and job ids are slugs (no `/`, `.` segments or control characters), so every key
    /// built from them and fixed names is valid.
    fn key(&self, key: &str) -> ObjectKey {
        ObjectKey::parse(key).unwrap_or_else(|_| unreachable!("keys built from validated ids are valid: {key}"))
    }

    /// `s3://<bucket>/<key or prefix>`.
    pub fn s3_url(bucket: &str, key: &str) -> String {
        format!("s3://{bucket}/{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_under_the_tenant() {
        let layout = JobLayout::new(&TenantId::parse("acme").unwrap(), &JobId::parse("bulk-1").unwrap());
        assert_eq!(layout.upload_prefix(), "acme/bulk-1/upload/");
        assert_eq!(layout.manifest().as_str(), "acme/bulk-1/results/part_manifest");
        assert_eq!(layout.failed_records().as_str(), "acme/bulk-1/failed/failed_records.csv");
        assert_eq!(layout.upload_part("part-1.csv").unwrap().as_str(), "acme/bulk-1/upload/part-1.csv");
        assert!(layout.upload_part("../x").is_err() && layout.upload_part("..").is_err());
        assert_eq!(JobLayout::s3_url("b", &layout.upload_prefix()), "s3://b/acme/bulk-1/upload/");
    }
}
