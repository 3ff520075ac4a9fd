//! AWS mode's settings, from `SPECTRA_*` variables (the environment first, then a config file of
//! the same `KEY=value` lines), checked all at once at start so a misconfigured worker fails
//! before it takes a message, with the setting named.

use std::collections::HashMap;

use spectra_state_machine::TenantId;
use thiserror::Error;

use spectra_worker::platform::parse_db_users;

use super::DataApiTarget;

/// A setting that is missing, malformed or contradicts another.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// The setting(s) at fault, by variable name.
    pub setting: String,
    /// What is wrong.
    pub problem: String,
}

fn problem(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError { setting: setting.to_owned(), problem: problem.into() }
}

/// Everything AWS mode needs to find its resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// `AWS_REGION`-style override (`SPECTRA_REGION`); the SDK's default chain otherwise.
    pub region: Option<String>,
    /// One endpoint for every AWS service (`SPECTRA_AWS_ENDPOINT_URL`), for local stand-ins. The
    /// SDK's own `AWS_ENDPOINT_URL[_<SERVICE>]` work too.
    pub endpoint_url: Option<String>,
    /// `SPECTRA_S3_FORCE_PATH_STYLE=true` for stand-ins that serve every bucket on one host.
    pub s3_force_path_style: bool,
    /// `SPECTRA_QUEUE_URL`: the work queue (its DLQ comes from its redrive policy).
    pub queue_url: String,
    /// `SPECTRA_TABLE`: the job table.
    pub table: String,
    /// `SPECTRA_BUCKET`: uploads and results.
    pub bucket: String,
    /// `SPECTRA_EVENT_BUS`: where lifecycle events go.
    pub event_bus: String,
    /// `SPECTRA_IAM_ROLE`: the role Redshift assumes for UNLOAD and COPY.
    pub iam_role: Option<String>,
    /// `SPECTRA_CLUSTER_IDENTIFIER` or `SPECTRA_WORKGROUP_NAME`, with `SPECTRA_DB_USER` /
    /// `SPECTRA_SECRET_ARN`.
    pub target: DataApiTarget,
    /// `SPECTRA_DATABASE` (default `dev`).
    pub database: String,
    /// `SPECTRA_DB_USERS`: `tenant=user,tenant=user`, so each tenant's SQL runs as its own
    /// database user (clusters only).
    pub db_users: HashMap<TenantId, String>,
}

impl AwsSettings {
    /// Reads and checks every setting through `get` (which returns `None` for unset; empty
    /// values count as unset, as CloudFormation passes `""` for unused parameters).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| get(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |key: &str| get(key).ok_or_else(|| problem(key, "is not set (environment or --config file)"));
        let endpoint_url = get("SPECTRA_AWS_ENDPOINT_URL");
        if let Some(url) = &endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(problem("SPECTRA_AWS_ENDPOINT_URL", format!("{url:?} is not an http(s) URL")));
        }
        let s3_force_path_style = match get("SPECTRA_S3_FORCE_PATH_STYLE").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(problem("SPECTRA_S3_FORCE_PATH_STYLE", format!("{other:?} is not true or false")));
            }
        };
        let queue_url = required("SPECTRA_QUEUE_URL")?;
        if !queue_url.starts_with("http") {
            return Err(problem("SPECTRA_QUEUE_URL", format!("{queue_url:?} is not a queue URL")));
        }
        let (secret_arn, db_user) = (get("SPECTRA_SECRET_ARN"), get("SPECTRA_DB_USER"));
        let target = match (get("SPECTRA_CLUSTER_IDENTIFIER"), get("SPECTRA_WORKGROUP_NAME")) {
            (Some(_), Some(_)) => {
                return Err(problem(
                    "SPECTRA_CLUSTER_IDENTIFIER, SPECTRA_WORKGROUP_NAME",
                    "set one (a provisioned cluster or a Serverless workgroup), not both",
                ));
            }
            (None, None) => {
                return Err(problem("SPECTRA_CLUSTER_IDENTIFIER, SPECTRA_WORKGROUP_NAME", "set one of them"));
            }
            (Some(identifier), None) => {
                if secret_arn.is_some() == db_user.is_some() {
                    return Err(problem(
                        "SPECTRA_DB_USER, SPECTRA_SECRET_ARN",
                        "a cluster needs exactly one: a database user (temporary credentials) or a secret",
                    ));
                }
                DataApiTarget::Cluster { identifier, db_user, secret_arn }
            }
            (None, Some(workgroup)) => {
                if db_user.is_some() {
                    return Err(problem("SPECTRA_DB_USER", "Redshift Serverless takes no database user"));
                }
                DataApiTarget::Serverless { workgroup, secret_arn }
            }
        };
        let db_users = parse_db_users(get("SPECTRA_DB_USERS").as_deref().unwrap_or_default())
            .map_err(|e| problem("SPECTRA_DB_USERS", e.to_string()))?;
        if !db_users.is_empty() && matches!(target, DataApiTarget::Serverless { .. }) {
            return Err(problem("SPECTRA_DB_USERS", "per-tenant database users need a provisioned cluster"));
        }
        Ok(Self {
            region: get("SPECTRA_REGION"),
            endpoint_url,
            s3_force_path_style,
            queue_url,
            table: required("SPECTRA_TABLE")?,
            bucket: required("SPECTRA_BUCKET")?,
            event_bus: required("SPECTRA_EVENT_BUS")?,
            iam_role: get("SPECTRA_IAM_ROLE"),
            target,
            database: get("SPECTRA_DATABASE").unwrap_or_else(|| "dev".into()),
            db_users,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<AwsSettings, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AwsSettings::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 5] = [
        ("SPECTRA_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/spectra-work"),
        ("SPECTRA_TABLE", "spectra-jobs"),
        ("SPECTRA_BUCKET", "spectra-results"),
        ("SPECTRA_EVENT_BUS", "spectra-lifecycle"),
        ("SPECTRA_CLUSTER_IDENTIFIER", "analytics"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().copied().chain(extra.iter().copied()).collect()
    }

    #[test]
    fn a_complete_cluster_configuration_is_accepted() {
        let s = settings(&with(&[("SPECTRA_DB_USER", "spectra"), ("SPECTRA_DB_USERS", "acme=tenant_acme, globex=g")]))
            .unwrap();
        assert_eq!(
            s.target,
            DataApiTarget::Cluster {
                identifier: "analytics".into(),
                db_user: Some("spectra".into()),
                secret_arn: None
            }
        );
        assert_eq!(s.database, "dev");
        assert_eq!(s.db_users[&TenantId::parse("acme").unwrap()], "tenant_acme");
    }

    #[test]
    fn missing_and_contradictory_settings_are_named() {
        let e = settings(&BASE[1..]).unwrap_err();
        assert_eq!(e.setting, "SPECTRA_QUEUE_URL");
        assert_eq!(settings(&BASE).unwrap_err().setting, "SPECTRA_DB_USER, SPECTRA_SECRET_ARN");
        let both = with(&[("SPECTRA_DB_USER", "u"), ("SPECTRA_WORKGROUP_NAME", "wg")]);
        assert_eq!(settings(&both).unwrap_err().setting, "SPECTRA_CLUSTER_IDENTIFIER, SPECTRA_WORKGROUP_NAME");
        let serverless: Vec<_> = BASE[..4]
            .iter()
            .copied()
            .chain([("SPECTRA_WORKGROUP_NAME", "wg"), ("SPECTRA_DB_USERS", "acme=a")])
            .collect();
        assert_eq!(settings(&serverless).unwrap_err().setting, "SPECTRA_DB_USERS");
        let bad_users = with(&[("SPECTRA_DB_USER", "u"), ("SPECTRA_DB_USERS", "acme=x;drop")]);
        assert_eq!(settings(&bad_users).unwrap_err().setting, "SPECTRA_DB_USERS");
        let blank = with(&[("SPECTRA_DB_USER", "u"), ("SPECTRA_TABLE", "  ")]);
        assert_eq!(settings(&blank).unwrap_err().setting, "SPECTRA_TABLE");
    }
}
