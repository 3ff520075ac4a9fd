//! The crate's two error families: bad input (`ParseError`, `SpecError`) and transitions the
//! machines refuse (`TransitionError`).

use thiserror::Error;

/// A value that does not parse into one of the domain's validated types.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Nothing was given.
    #[error("{what} must not be empty")]
    Empty {
        /// What was being parsed (e.g. "tenant id").
        what: &'static str,
    },
    /// A character outside the allowed alphabet, with where it is.
    #[error("{what} {value:?} has {character:?} at byte {position}; allowed: {}", allowed(what))]
    InvalidCharacter {
        /// What was being parsed.
        what: &'static str,
        /// The rejected input.
        value: String,
        /// The first offending character.
        character: char,
        /// Its byte offset.
        position: usize,
    },
    /// Longer than the limit.
    #[error("{what} is {len} bytes long; the limit is {max}")]
    TooLong {
        /// What was being parsed.
        what: &'static str,
        /// The limit in bytes.
        max: usize,
        /// The input's length in bytes.
        len: usize,
    },
    /// A table name with more than `schema.table`.
    #[error("table name {value:?} has too many parts; use `table` or `schema.table`")]
    TooManyParts {
        /// The rejected input.
        value: String,
    },
    /// A table in a system catalog or Spectra's own schema, which no job may touch.
    #[error("{value:?} is a system table (schema or name reserved: {reserved}); name a user table")]
    SystemTable {
        /// The rejected input.
        value: String,
        /// The reserved schema or name prefix it uses.
        reserved: String,
    },
    /// Not one of an enumeration's values.
    #[error("{what} {value:?} is not one of: {expected}")]
    UnknownVariant {
        /// What was being parsed.
        what: &'static str,
        /// The rejected input.
        value: String,
        /// The accepted values, comma separated.
        expected: String,
    },
}

fn allowed(what: &str) -> &'static str {
    match what {
        "tenant id" | "job id" => "ASCII letters, digits, '-' and '_'",
        _ => "ASCII letters, digits, '_' and '$', not starting with a digit or '$'",
    }
}

/// A job request that is well-formed JSON but not a job Spectra can run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    /// A field failed to parse.
    #[error("{field}: {source}")]
    Field {
        /// The request field, as named in the API (e.g. `object`).
        field: &'static str,
        /// What was wrong with it.
        source: ParseError,
    },
    /// `query` jobs need the SELECT to unload.
    #[error("`query` is required for the query operation")]
    MissingQuery,
    /// Ingest jobs take their rows from the upload, not from SQL.
    #[error("`query` is only allowed for the query operation, not {operation}")]
    UnexpectedQuery {
        /// The job's operation.
        operation: &'static str,
    },
    /// upsert, update and delete match rows by key.
    #[error("`primary_key` must name at least one column for the {operation} operation")]
    MissingPrimaryKey {
        /// The job's operation.
        operation: &'static str,
    },
    /// insert and query have no use for a key; accepting one silently would hide a mistake.
    #[error("`primary_key` is only allowed for upsert, update and delete, not {operation}")]
    UnexpectedPrimaryKey {
        /// The job's operation.
        operation: &'static str,
    },
    /// A key column named twice.
    #[error("`primary_key` names column {column:?} more than once")]
    DuplicateKeyColumn {
        /// The repeated column.
        column: String,
    },
    /// Redshift refuses GZIP with PARQUET (Parquet compresses internally) for COPY and UNLOAD.
    #[error("compression GZIP cannot be combined with content_type PARQUET; Parquet is compressed internally")]
    ParquetWithGzip,
    /// A query parameter named twice.
    #[error("parameter {name:?} is given more than once")]
    DuplicateParameter {
        /// The repeated name.
        name: String,
    },
    /// A query or statement text that is blank.
    #[error("`{field}` must not be blank")]
    BlankSql {
        /// The request field.
        field: &'static str,
    },
}

/// Why a state machine did not take an event.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransitionError {
    /// The event is not allowed in the job's state (the API answers 409 `CONFLICT`).
    #[error("cannot apply {event} to a job in state {state}")]
    Illegal {
        /// The job's state, in the seed's spelling.
        state: &'static str,
        /// The event's name.
        event: &'static str,
    },
    /// A statement outcome for the current attempt arrived before the submit was recorded. The
    /// event is genuine; the caller must retry it later rather than drop it.
    #[error("{event} for attempt {attempt} arrived before its statement was recorded; retry later")]
    EarlyEvent {
        /// The event's name.
        event: &'static str,
        /// The attempt it belongs to.
        attempt: u32,
    },
}

impl TransitionError {
    /// Whether trying the same event later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::EarlyEvent { .. })
    }
}
