//! The SQL guard: what tenants may run. Exactly one read-only query, no system catalogs, no
//! functions that sleep, read files or touch other sessions. It parses (sqlparser, Redshift
//! dialect) and walks the syntax tree; it never pattern-matches text, so keywords inside string
//! literals or comments are not mistaken for statements, and quoting a catalog name does not
//! hide it.

use std::ops::ControlFlow;

use sqlparser::ast::{ObjectName, Statement, visit_expressions, visit_relations, visit_statements};
use sqlparser::dialect::RedshiftSqlDialect;
use sqlparser::parser::{Parser, ParserError};

use super::SqlError;
use super::select::{ParsedSelect, parse_select};

/// Prefixes of Redshift's (and PostgreSQL's) system tables and views.
const CATALOG_PREFIXES: [&str; 6] = ["pg_", "stl_", "stv_", "svl_", "svv_", "sys_"];
/// Schemas that are catalogs whatever their tables are called.
const CATALOG_SCHEMAS: [&str; 3] = ["information_schema", "pg_catalog", "spectra_internal"];
/// Functions no tenant query may call: sleeping, reading server files, ending other sessions,
/// changing settings, and the embedded engine's file and catalog readers.
const BLOCKED_FUNCTIONS: [&str; 22] = [
    "pg_sleep",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "set_config",
    "current_setting",
    "lo_import",
    "lo_export",
    "dblink",
    "read_csv",
    "read_csv_auto",
    "read_parquet",
    "parquet_scan",
    "read_json",
    "read_json_auto",
    "read_text",
    "read_blob",
    "glob",
];

/// What the guard allows beyond the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardConfig {
    /// Let queries read system catalogs (an operator's choice, off for tenants).
    pub allow_system_catalogs: bool,
}

/// Why a query is refused. The API maps `Invalid` to `400 INVALID_SQL` and `Blocked` to
/// `400 SQL_BLOCKED`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// It does not parse.
    #[error("{message}")]
    Invalid {
        /// The parser's message.
        message: String,
        /// Where, when the parser says (1-based).
        line: Option<u64>,
        /// Column, 1-based.
        column: Option<u64>,
        /// What to try.
        hint: String,
    },
    /// It parses but is not allowed.
    #[error("{reason} (found {pattern})")]
    Blocked {
        /// What was found (`DELETE`, `pg_sleep`, `stl_query`, ...).
        pattern: String,
        /// Why it is refused.
        reason: String,
    },
}

impl GuardError {
    /// A refusal of what was found, with why.
    pub fn blocked(pattern: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Blocked { pattern: pattern.into(), reason: reason.into() }
    }

    /// What was refused (`DELETE`, `read_text`, ...), or `syntax` for a query that does not parse.
    pub fn pattern(&self) -> &str {
        match self {
            Self::Blocked { pattern, .. } => pattern,
            Self::Invalid { .. } => "syntax",
        }
    }
}

fn blocked(pattern: impl Into<String>, reason: impl Into<String>) -> GuardError {
    GuardError::blocked(pattern, reason)
}

/// Checks a tenant's query; on success, the query as [`parse_select`] sees it.
pub fn check(sql: &str, config: GuardConfig) -> Result<ParsedSelect, GuardError> {
    let statements = Parser::parse_sql(&RedshiftSqlDialect {}, sql).map_err(invalid)?;
    let statement = match statements.as_slice() {
        [one] => one,
        [] => return Err(blocked("empty", "the request has no SQL statement")),
        many => {
            return Err(blocked(
                "multiple statements",
                format!("exactly one statement is allowed, found {}", many.len()),
            ));
        }
    };
    if let ControlFlow::Break(e) = visit_statements(statement, |s| match s {
        Statement::Query(_) => ControlFlow::Continue(()),
        other => ControlFlow::Break(blocked(kind(other), "only read-only queries (SELECT, WITH, VALUES) are allowed")),
    }) {
        return Err(e);
    }
    if let ControlFlow::Break(e) = visit_relations(statement, |name| relation(name, config)) {
        return Err(e);
    }
    if let ControlFlow::Break(e) = visit_expressions(statement, |expr| match expr {
        sqlparser::ast::Expr::Function(f) => function(&f.name),
        _ => ControlFlow::Continue(()),
    }) {
        return Err(e);
    }
    parse_select(sql).map_err(|e| match e {
        SqlError::NotReadOnly(what) => blocked(what, "only read-only queries are allowed"),
        other => blocked("query", other.to_string()),
    })
}

/// The name parts, lower-cased (quoted or not: Redshift folds both by default).
fn parts(name: &ObjectName) -> Vec<String> {
    name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()).collect()
}

fn relation(name: &ObjectName, config: GuardConfig) -> ControlFlow<GuardError> {
    let parts = parts(name);
    let Some(last) = parts.last() else { return ControlFlow::Continue(()) };
    if BLOCKED_FUNCTIONS.contains(&last.as_str()) {
        return ControlFlow::Break(blocked(last.clone(), "this table function reads files on the server"));
    }
    if config.allow_system_catalogs {
        return ControlFlow::Continue(());
    }
    let catalog = parts.iter().any(|p| CATALOG_SCHEMAS.contains(&p.as_str()))
        || CATALOG_PREFIXES.iter().any(|prefix| last.starts_with(prefix));
    if catalog {
        return ControlFlow::Break(blocked(parts.join("."), "system catalogs and system tables are not available"));
    }
    ControlFlow::Continue(())
}

fn function(name: &ObjectName) -> ControlFlow<GuardError> {
    match parts(name).last() {
        Some(f) if BLOCKED_FUNCTIONS.contains(&f.as_str()) => {
            ControlFlow::Break(blocked(f.clone(), "this function is not allowed in queries"))
        }
        _ => ControlFlow::Continue(()),
    }
}

/// A statement's kind, for `details.pattern`.
fn kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second] if matches!(first.to_ascii_uppercase().as_str(), "CREATE" | "DROP" | "ALTER") => {
            format!("{} {}", first.to_ascii_uppercase(), second.to_ascii_uppercase())
        }
        [first, ..] => first.chars().take_while(|c| c.is_ascii_alphabetic()).collect::<String>().to_ascii_uppercase(),
        [] => "statement".into(),
    }
}

/// A parse error with its position and a hint.
fn invalid(e: ParserError) -> GuardError {
    let message = match &e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "the query is nested too deeply".into(),
    };
    // sqlparser ends its messages with "at Line: L, Column: C".
    let position = message.rsplit_once("at Line: ").and_then(|(_, rest)| {
        let (line, column) = rest.split_once(", Column: ")?;
        Some((line.trim().parse().ok()?, column.trim().trim_end_matches(|c: char| !c.is_ascii_digit()).parse().ok()?))
    });
    let hint = if message.contains("Expected: end of statement") {
        "check for a missing comma or operator, or a stray word, near the position"
    } else if message.contains("Unterminated") {
        "close the string literal or quoted identifier"
    } else {
        "check the syntax near the position; Redshift SQL (PostgreSQL 8 dialect) is expected"
    };
    GuardError::Invalid { message, line: position.map(|p| p.0), column: position.map(|p| p.1), hint: hint.into() }
}
