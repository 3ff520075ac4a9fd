//! Validated identifiers. Each type has one way in (`parse`, or `TryFrom<String>` for serde),
//! so a value that exists is a value that is safe to put in a key, an S3 prefix, a statement
//! name or (quoted) in SQL.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::options::JobKind;

/// Longest identifier Redshift accepts, in bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 127;
/// Longest tenant id: it prefixes every key and S3 object, so it stays short.
pub const MAX_TENANT_ID_BYTES: usize = 63;
/// Longest job id: job ids appear in statement names, which Redshift caps at 500 characters.
pub const MAX_JOB_ID_BYTES: usize = 128;

/// Checks the "slug" alphabet shared by tenant and job ids: ASCII letters, digits, `-` and `_`,
/// starting with a letter or digit. No `/` (S3 prefixes), no `:` (statement names), no `#`
/// (DynamoDB composite keys), no whitespace.
fn check_slug(what: &'static str, value: &str, max: usize) -> Result<(), ParseError> {
    let mut chars = value.chars();
    match chars.next() {
        None => return Err(ParseError::Empty { what }),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err(ParseError::InvalidCharacter { what, value: value.to_owned(), character: c, position: 0 });
        }
        Some(_) => {}
    }
    if let Some((position, character)) =
        value.char_indices().find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(ParseError::InvalidCharacter { what, value: value.to_owned(), character, position });
    }
    if value.len() > max {
        return Err(ParseError::TooLong { what, max, len: value.len() });
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A tenant: 1–63 ASCII letters, digits, `-` or `_`, starting with a letter or digit.
    /// Every key, S3 prefix and statement is scoped by it.
    TenantId
);

impl TenantId {
    /// Parses a tenant id, saying what is wrong with a bad one.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_slug("tenant id", s, MAX_TENANT_ID_BYTES)?;
        Ok(Self(s.to_owned()))
    }
}

string_newtype!(
    /// A job: 1–128 ASCII letters, digits, `-` or `_`. Generated ids are `bulk-<uuid>` for bulk
    /// jobs and `job-<uuid>` for query jobs, as in seed 001's examples.
    JobId
);

impl JobId {
    /// Parses a job id, saying what is wrong with a bad one.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        check_slug("job id", s, MAX_JOB_ID_BYTES)?;
        Ok(Self(s.to_owned()))
    }

    /// A fresh id for a bulk job.
    pub fn new_bulk() -> Self {
        Self(format!("bulk-{}", uuid::Uuid::new_v4()))
    }

    /// A fresh id for an async query job.
    pub fn new_query() -> Self {
        Self(format!("job-{}", uuid::Uuid::new_v4()))
    }

    /// The id of the job of `kind` that an idempotent request creates: its claim's token under
    /// the kind's prefix. Every attempt of the request computes the same id, so the job table's
    /// create-if-absent makes them create one job between them.
    pub fn bound(kind: JobKind, token: &str) -> Result<Self, ParseError> {
        let prefix = match kind {
            JobKind::Bulk => "bulk",
            JobKind::Query => "job",
        };
        Self::parse(&format!("{prefix}-{token}"))
    }
}

string_newtype!(
    /// A SQL identifier (table, schema or column name) that is safe to quote: it matches
    /// `[A-Za-z_][A-Za-z0-9_$]*` and is at most 127 bytes, Redshift's limit.
    Identifier
);

impl Identifier {
    /// Parses an identifier, saying what is wrong with a bad one.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        parse_identifier("identifier", s).map(Self)
    }

    /// Parses a schema that user tables may live in: a valid identifier that names no catalog
    /// and not Spectra's own `spectra_internal`.
    pub fn user_schema(s: &str) -> Result<Self, ParseError> {
        let schema = Self::parse(s)?;
        match reserved_schema(schema.as_str()) {
            Some(reserved) => Err(ParseError::SystemTable { value: s.to_owned(), reserved }),
            None => Ok(schema),
        }
    }

    /// The identifier in double quotes, ready for SQL. Validation guarantees there is no quote
    /// inside to escape.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

fn parse_identifier(what: &'static str, s: &str) -> Result<String, ParseError> {
    let mut chars = s.char_indices();
    match chars.next() {
        None => return Err(ParseError::Empty { what }),
        Some((_, c)) if !(c.is_ascii_alphabetic() || c == '_') => {
            return Err(ParseError::InvalidCharacter { what, value: s.to_owned(), character: c, position: 0 });
        }
        Some(_) => {}
    }
    if let Some((position, character)) = chars.find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '$')) {
        return Err(ParseError::InvalidCharacter { what, value: s.to_owned(), character, position });
    }
    if s.len() > MAX_IDENTIFIER_BYTES {
        return Err(ParseError::TooLong { what, max: MAX_IDENTIFIER_BYTES, len: s.len() });
    }
    Ok(s.to_owned())
}

/// Schemas that hold catalogs or Spectra's statement ledger, never user tables.
const RESERVED_SCHEMAS: [&str; 6] =
    ["spectra_internal", "information_schema", "pg_catalog", "pg_internal", "system", "temp"];
/// Prefixes of Redshift's (and PostgreSQL's) system tables and views, and DuckDB's catalog views.
const CATALOG_PREFIXES: [&str; 8] = ["pg_", "stl_", "stv_", "svl_", "svv_", "sys_", "duckdb_", "sqlite_"];

/// The reserved schema `schema` names, if it names one.
fn reserved_schema(schema: &str) -> Option<String> {
    let schema = schema.to_ascii_lowercase();
    RESERVED_SCHEMAS.contains(&schema.as_str()).then_some(schema)
}

/// A table, optionally qualified by its schema: `sales` or `analytics.sales`. Serialised as that
/// dotted text, the way seed 001's `object` field carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TableName {
    /// The schema, when the name was qualified; otherwise the search path decides.
    schema: Option<Identifier>,
    table: Identifier,
}

impl TableName {
    /// Parses `table` or `schema.table`; each part must be a valid [`Identifier`].
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let mut parts = s.split('.');
        let (schema, table) = match (parts.next(), parts.next(), parts.next()) {
            (Some(table), None, None) => (None, table),
            (Some(schema), Some(table), None) => (Some(schema), table),
            _ => return Err(ParseError::TooManyParts { value: s.to_owned() }),
        };
        Ok(Self {
            schema: schema.map(|s| parse_identifier("schema name", s).map(Identifier)).transpose()?,
            table: Identifier(parse_identifier("table name", table)?),
        })
    }

    /// Refuses a table in a system catalog (Redshift's, PostgreSQL's, DuckDB's) or in Spectra's
    /// own `spectra_internal`: jobs read and write user tables only.
    pub fn user_table(self) -> Result<Self, ParseError> {
        let table = self.table.as_str().to_ascii_lowercase();
        let reserved = self
            .schema
            .as_ref()
            .and_then(|s| reserved_schema(s.as_str()))
            .or_else(|| CATALOG_PREFIXES.iter().find(|p| table.starts_with(*p)).map(|p| format!("{p}*")));
        match reserved {
            Some(reserved) => Err(ParseError::SystemTable { value: self.to_string(), reserved }),
            None => Ok(self),
        }
    }

    /// The schema part, if any.
    pub fn schema(&self) -> Option<&Identifier> {
        self.schema.as_ref()
    }

    /// The table part.
    pub fn table(&self) -> &Identifier {
        &self.table
    }

    /// The name with each part double-quoted, ready for SQL.
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", schema.quoted(), self.table.quoted()),
            None => self.table.quoted(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.table),
            None => write!(f, "{}", self.table),
        }
    }
}

impl FromStr for TableName {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for TableName {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::parse(&s)
    }
}

impl From<TableName> for String {
    fn from(v: TableName) -> String {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_accept_slugs_and_reject_separators() {
        assert!(TenantId::parse("tenant-123").is_ok());
        assert!(TenantId::parse("Acme_Corp").is_ok());
        for bad in ["", "-lead", "a/b", "a:b", "a#b", "a b", "tenänt", &"t".repeat(64)] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(TenantId::parse(&"t".repeat(63)).is_ok());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = TenantId::parse("acme/../x").unwrap_err();
        assert_eq!(
            err,
            ParseError::InvalidCharacter { what: "tenant id", value: "acme/../x".into(), character: '/', position: 4 }
        );
        assert_eq!(
            err.to_string(),
            "tenant id \"acme/../x\" has '/' at byte 4; allowed: ASCII letters, digits, '-' and '_'"
        );
        assert_eq!(Identifier::parse("").unwrap_err(), ParseError::Empty { what: "identifier" });
    }

    #[test]
    fn generated_job_ids_parse() {
        let bulk = JobId::new_bulk();
        assert!(bulk.as_str().starts_with("bulk-"));
        assert_eq!(JobId::parse(bulk.as_str()).unwrap(), bulk);
        assert!(JobId::new_query().as_str().starts_with("job-"));
        assert!(JobId::parse("job:1").is_err());
    }

    #[test]
    fn identifiers_follow_redshift_rules() {
        for good in ["sales", "_tmp", "a$1", "Order_Lines", &"x".repeat(127)] {
            assert!(Identifier::parse(good).is_ok(), "{good:?}");
        }
        for bad in ["1abc", "$x", "a-b", "a\"b", "a;drop", "x y", &"x".repeat(128)] {
            assert!(Identifier::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn table_names_split_schema_and_quote() {
        let t = TableName::parse("analytics.sales").unwrap();
        assert_eq!(t.schema().map(Identifier::as_str), Some("analytics"));
        assert_eq!(t.table().as_str(), "sales");
        assert_eq!(t.quoted(), "\"analytics\".\"sales\"");
        assert_eq!(t.to_string(), "analytics.sales");
        assert_eq!(TableName::parse("sales").unwrap().quoted(), "\"sales\"");
        assert!(matches!(TableName::parse("a.b.c"), Err(ParseError::TooManyParts { .. })));
        assert!(TableName::parse("a.").is_err());
        assert!(TableName::parse("sales; drop table x").is_err());
    }

    #[test]
    fn serde_goes_through_validation() {
        let t: TableName = serde_json::from_str("\"public.orders\"").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"public.orders\"");
        assert!(serde_json::from_str::<TenantId>("\"a/b\"").is_err());
    }
}
