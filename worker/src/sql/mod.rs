//! The SQL Spectra generates, as pure functions of a job (DESIGN §5): `UNLOAD` for exports and
//! one transaction of staging, `COPY` and `INSERT` / `MERGE` / `UPDATE` / `DELETE` for ingests.
//!
//! Redshift SQL is the target dialect; the embedded warehouse accepts what these builders emit.
//! Nothing a user typed is spliced in unchecked: table and column names are validated
//! [`Identifier`](spectra_state_machine::Identifier)s, quoted; the export's SELECT is parsed
//! (and re-printed from its syntax tree) before it goes into the UNLOAD literal; every literal is
//! escaped by [`string_literal`].

mod guard;
mod ingest;
mod limit;
mod select;
mod unload;

use thiserror::Error;

pub use guard::{GuardConfig, GuardError, check};
pub use ingest::{IngestBatch, IngestSpec, STAGING_TABLE, ingest_batch};
pub use limit::{Capped, cap_rows};
pub use select::{ParsedSelect, parse_select};
pub use unload::{UnloadSpec, export_query, unload};

/// Why a job cannot be turned into SQL. Never retryable: the job fails with this message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SqlError {
    /// The text does not parse.
    #[error("the query does not parse: {0}")]
    Parse(String),
    /// Not exactly one statement.
    #[error("expected exactly one SELECT statement, found {0}")]
    StatementCount(usize),
    /// A statement that is not a read-only query.
    #[error("only a read-only SELECT can be exported: {0}")]
    NotReadOnly(String),
    /// The upload does not name a column the operation needs (a key column).
    #[error("the upload has no column {column:?}, which {operation} needs as a key column")]
    MissingKeyColumn {
        /// The missing key column.
        column: String,
        /// The operation.
        operation: &'static str,
    },
    /// An update whose upload names only key columns has nothing to set.
    #[error("the upload names only key columns, so an update has nothing to change")]
    NothingToUpdate,
    /// A column named twice in the upload.
    #[error("the upload names column {0:?} twice")]
    DuplicateColumn(String),
    /// A path or role that cannot appear in an UNLOAD or COPY.
    #[error("invalid {what}: {value:?}")]
    Invalid {
        /// What it is.
        what: &'static str,
        /// The rejected value.
        value: String,
    },
}

/// A Redshift string literal: single quotes doubled, and backslashes doubled because Redshift
/// reads `\` as an escape inside the quoted query of `UNLOAD ('...')` and in COPY options.
pub fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// Checks an `s3://bucket/prefix` URL or an IAM role ARN that Spectra's own configuration
/// supplies: no quotes, backslashes or control characters, so it needs no escaping to be read
/// back exactly.
fn plain(what: &'static str, value: &str) -> Result<(), SqlError> {
    if value.is_empty() || value.chars().any(|c| c == '\'' || c == '\\' || c.is_control()) {
        return Err(SqlError::Invalid { what, value: value.to_owned() });
    }
    Ok(())
}

/// The authorization clause of UNLOAD and COPY: the configured role, or the cluster's default.
fn iam_role(role: Option<&str>) -> Result<String, SqlError> {
    match role {
        Some(arn) => {
            plain("IAM role", arn)?;
            Ok(format!("IAM_ROLE {}", string_literal(arn)))
        }
        None => Ok("IAM_ROLE DEFAULT".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(string_literal("it's"), "'it''s'");
        assert_eq!(string_literal(r"a\b"), r"'a\\b'");
        assert_eq!(string_literal(r"\'"), r"'\\'''");
    }

    #[test]
    fn configured_values_are_checked() {
        assert_eq!(iam_role(None).unwrap(), "IAM_ROLE DEFAULT");
        assert_eq!(iam_role(Some("arn:aws:iam::123:role/Load")).unwrap(), "IAM_ROLE 'arn:aws:iam::123:role/Load'");
        assert!(iam_role(Some("x' CREDENTIALS 'y")).is_err());
        assert!(plain("path", "s3://b/k\n").is_err());
    }
}
