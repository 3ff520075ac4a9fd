//! What the embedded warehouse remembers about a statement, and how that reads as
//! DescribeStatement's answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use spectra_state_machine::QueryParameter;

use super::MAX_BATCH_STATEMENTS;
use spectra_worker::ports::{
    Sql, StatementDescription, StatementRequest, StatementStatus, SubStatement, WarehouseError,
};

/// The run of one SQL statement (a single statement, or one of a batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Run {
    pub sql: String,
    pub status: StatementStatus,
    pub error: Option<String>,
    pub has_result_set: bool,
    pub result_rows: i64,
    pub redshift_query_id: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub duration_ns: i64,
}

/// A submitted statement: one run for `ExecuteStatement`, several for a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub id: String,
    pub client_token: Option<String>,
    pub statement_name: Option<String>,
    /// The database user asked for. The embedded engine has one user; it is recorded and
    /// reported, as DescribeStatement reports `DbUser`.
    #[serde(default)]
    pub db_user: Option<String>,
    /// The database asked for: what `current_database()` answers.
    #[serde(default)]
    pub database: Option<String>,
    pub parameters: Vec<QueryParameter>,
    pub is_batch: bool,
    pub with_event: bool,
    pub status: StatementStatus,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub duration_ns: i64,
    pub runs: Vec<Run>,
}

impl Record {
    /// A statement just submitted: every run `SUBMITTED`.
    pub fn submitted(request: &StatementRequest, id: &str) -> Self {
        let now = Utc::now();
        let (sqls, parameters, is_batch) = match &request.sql {
            Sql::Single { sql, parameters } => (vec![sql.clone()], parameters.clone(), false),
            Sql::Batch(sqls) => (sqls.clone(), Vec::new(), true),
        };
        Self {
            id: id.to_owned(),
            client_token: request.client_token.clone(),
            statement_name: request.statement_name.clone(),
            db_user: request.db_user.clone(),
            database: request.database.clone(),
            parameters,
            is_batch,
            with_event: request.with_event,
            status: StatementStatus::Submitted,
            error: None,
            created_at: now,
            updated_at: now,
            duration_ns: 0,
            runs: sqls
                .into_iter()
                .map(|sql| Run {
                    sql,
                    status: StatementStatus::Submitted,
                    error: None,
                    has_result_set: false,
                    result_rows: -1,
                    redshift_query_id: -1,
                    created_at: now,
                    updated_at: now,
                    duration_ns: 0,
                })
                .collect(),
        }
    }

    /// The statement's Redshift query id: the last run's that has one.
    pub fn redshift_query_id(&self) -> i64 {
        self.runs.iter().rev().map(|r| r.redshift_query_id).find(|id| *id >= 0).unwrap_or(-1)
    }

    /// Rows of a single statement; -1 for batches (their rows are per sub-statement).
    pub fn result_rows(&self) -> i64 {
        match (self.is_batch, self.runs.first()) {
            (false, Some(run)) => run.result_rows,
            _ => -1,
        }
    }

    /// Ends every run that has not ended, and the statement, with `status`.
    pub fn end_unfinished(&mut self, status: StatementStatus, error: &str, now: DateTime<Utc>) {
        for run in self.runs.iter_mut().filter(|r| !r.status.is_terminal()) {
            run.status = status;
            run.updated_at = now;
        }
        self.status = status;
        self.error = Some(error.to_owned());
        self.updated_at = now;
    }

    /// DescribeStatement of the statement, or of sub-statement `n` (from 1) of a batch.
    pub fn describe(&self, sub: Option<usize>) -> Option<StatementDescription> {
        if let Some(n) = sub {
            let run = self.runs.get(n.checked_sub(1)?).filter(|_| self.is_batch)?;
            return Some(StatementDescription {
                id: format!("{}:{n}", self.id),
                status: run.status,
                error: run.error.clone(),
                has_result_set: run.has_result_set,
                result_rows: run.result_rows,
                query_string: run.sql.clone(),
                statement_name: self.statement_name.clone(),
                db_user: self.db_user.clone(),
                query_parameters: Vec::new(),
                redshift_query_id: run.redshift_query_id,
                created_at: run.created_at,
                updated_at: run.updated_at,
                duration_ns: run.duration_ns,
                sub_statements: Vec::new(),
            });
        }
        let sub_statements = if self.is_batch {
            self.runs
                .iter()
                .enumerate()
                .map(|(i, run)| SubStatement {
                    id: format!("{}:{}", self.id, i + 1),
                    status: run.status,
                    error: run.error.clone(),
                    has_result_set: run.has_result_set,
                    result_rows: run.result_rows,
                    query_string: run.sql.clone(),
                    redshift_query_id: run.redshift_query_id,
                    created_at: run.created_at,
                    updated_at: run.updated_at,
                    duration_ns: run.duration_ns,
                })
                .collect()
        } else {
            Vec::new()
        };
        Some(StatementDescription {
            id: self.id.clone(),
            status: self.status,
            error: self.error.clone(),
            has_result_set: self.runs.iter().any(|r| r.has_result_set),
            result_rows: self.result_rows(),
            query_string: self.runs.iter().map(|r| r.sql.as_str()).collect::<Vec<_>>().join("; "),
            statement_name: self.statement_name.clone(),
            db_user: self.db_user.clone(),
            query_parameters: self.parameters.clone(),
            redshift_query_id: self.redshift_query_id(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            duration_ns: self.duration_ns,
            sub_statements,
        })
    }
}

/// Splits `uuid:n` into the statement id and the sub-statement number.
pub(crate) fn split_id(id: &str) -> (&str, Option<usize>) {
    match id.rsplit_once(':') {
        Some((base, n)) => match n.parse::<usize>() {
            Ok(n) => (base, Some(n)),
            Err(_) => (id, None),
        },
        None => (id, None),
    }
}

/// The Data API's checks of a submit, before anything is recorded.
pub(crate) fn validate(request: &StatementRequest) -> Result<(), WarehouseError> {
    let sqls: Vec<&String> = match &request.sql {
        Sql::Single { sql, .. } => vec![sql],
        Sql::Batch(sqls) if sqls.is_empty() || sqls.len() > MAX_BATCH_STATEMENTS => {
            return Err(WarehouseError::Validation(format!(
                "a batch takes 1 to {MAX_BATCH_STATEMENTS} statements, not {}",
                sqls.len()
            )));
        }
        Sql::Batch(sqls) => sqls.iter().collect(),
    };
    if sqls.iter().any(|s| s.trim().is_empty()) {
        return Err(WarehouseError::Validation("SQL must not be empty".into()));
    }
    if request.statement_name.as_ref().is_some_and(|n| n.len() > 500) {
        return Err(WarehouseError::Validation("StatementName is longer than 500 characters".into()));
    }
    if request.client_token.as_ref().is_some_and(|t| t.is_empty() || t.len() > 64) {
        return Err(WarehouseError::Validation("ClientToken must be 1 to 64 characters".into()));
    }
    Ok(())
}
