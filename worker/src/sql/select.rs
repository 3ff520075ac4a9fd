//! Parsing the SELECT of an export job before it is embedded in an UNLOAD.
//!
//! The API's SQL guard (read-only statements, blocked catalogs and functions) builds on this;
//! here the worker makes sure that what it embeds is one read-only query and knows whether it
//! ends in a LIMIT, which Redshift refuses in the outer query of an UNLOAD.

use sqlparser::ast::{Query, SetExpr, Statement};
use sqlparser::dialect::RedshiftSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Token, Tokenizer};

use super::SqlError;

/// A query that passed [`parse_select`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSelect {
    /// The query exactly as written, without leading and trailing whitespace, comments and
    /// semicolons, so it can be wrapped in a subquery safely. (Not re-printed from the syntax
    /// tree: the printer does not re-escape backslashes, which Redshift reads as escapes.)
    pub text: String,
    /// Whether the outermost query has a LIMIT, OFFSET, FETCH or `SELECT TOP n`: it is then
    /// wrapped rather than given a LIMIT of its own (Redshift takes no `TOP` with a `LIMIT`, and
    /// none of them in the outer query of an UNLOAD).
    pub has_limit: bool,
}

/// Parses `sql` as exactly one read-only query (SELECT, WITH ... SELECT, VALUES, set
/// operations of those), with no `SELECT ... INTO`.
pub fn parse_select(sql: &str) -> Result<ParsedSelect, SqlError> {
    let statements = Parser::parse_sql(&RedshiftSqlDialect {}, sql).map_err(|e| SqlError::Parse(e.to_string()))?;
    let [statement] = statements.as_slice() else {
        return Err(SqlError::StatementCount(statements.len()));
    };
    let Statement::Query(query) = statement else {
        return Err(SqlError::NotReadOnly(first_words(&statement.to_string())));
    };
    check_query(query)?;
    let top = matches!(query.body.as_ref(), SetExpr::Select(select) if select.top.is_some());
    Ok(ParsedSelect { text: trimmed(sql)?, has_limit: query.limit_clause.is_some() || query.fetch.is_some() || top })
}

/// `sql` from its first to its last significant token.
pub(super) fn trimmed(sql: &str) -> Result<String, SqlError> {
    let tokens = Tokenizer::new(&RedshiftSqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| SqlError::Parse(e.to_string()))?;
    let significant = |t: &Token| !matches!(t, Token::Whitespace(_) | Token::SemiColon | Token::EOF);
    let first = tokens.iter().position(|t| significant(&t.token));
    let last = tokens.iter().rposition(|t| significant(&t.token));
    let (Some(first), Some(last)) = (first, last) else { return Ok(String::new()) };
    let start = offset(sql, tokens[first].span.start);
    let end = tokens.get(last + 1).map_or(sql.len(), |next| offset(sql, next.span.start));
    Ok(sql[start..end].to_owned())
}

/// The byte offset of a tokenizer location (1-based line and character column).
pub(super) fn offset(sql: &str, at: Location) -> usize {
    let mut line_start = 0;
    for _ in 1..at.line {
        match sql[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return sql.len(),
        }
    }
    let column = usize::try_from(at.column.saturating_sub(1)).unwrap_or(usize::MAX);
    sql[line_start..].char_indices().nth(column).map_or(sql.len(), |(i, _)| line_start + i)
}

fn check_query(query: &Query) -> Result<(), SqlError> {
    if let Some(with) = &query.with {
        for cte in &with.cte_tables {
            check_query(&cte.query)?;
        }
    }
    if !query.locks.is_empty() {
        return Err(SqlError::NotReadOnly("SELECT ... FOR UPDATE".into()));
    }
    check_body(&query.body)
}

fn check_body(body: &SetExpr) -> Result<(), SqlError> {
    match body {
        SetExpr::Select(select) if select.into.is_some() => Err(SqlError::NotReadOnly("SELECT ... INTO".into())),
        SetExpr::Select(_) | SetExpr::Values(_) | SetExpr::Table(_) => Ok(()),
        SetExpr::Query(query) => check_query(query),
        SetExpr::SetOperation { left, right, .. } => {
            check_body(left)?;
            check_body(right)
        }
        other => Err(SqlError::NotReadOnly(first_words(&other.to_string()))),
    }
}

/// The start of a statement, for an error message that says what was refused.
fn first_words(text: &str) -> String {
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_pass_and_are_normalised() {
        let p = parse_select("SELECT id, name FROM sales WHERE region = 'it''s' -- note\n;").unwrap();
        assert_eq!(p.text, "SELECT id, name FROM sales WHERE region = 'it''s'");
        assert!(!p.has_limit);
        assert!(parse_select("SELECT * FROM t ORDER BY id LIMIT 10").unwrap().has_limit);
        assert!(!parse_select("SELECT * FROM (SELECT * FROM t LIMIT 10) x").unwrap().has_limit);
        assert!(parse_select("WITH a AS (SELECT 1 AS x) SELECT x FROM a UNION ALL SELECT 2").is_ok());
        assert!(parse_select("VALUES (1), (2)").is_ok());
    }

    #[test]
    fn the_text_is_kept_as_written() {
        let sql = "  -- export\n  SELECT 'a\\b', 'é' AS x\n  FROM t /* done */ ;  ";
        assert_eq!(parse_select(sql).unwrap().text, "SELECT 'a\\b', 'é' AS x\n  FROM t");
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(parse_select("SELECT 1; SELECT 2"), Err(SqlError::StatementCount(2)));
        assert_eq!(parse_select(""), Err(SqlError::StatementCount(0)));
        assert!(matches!(parse_select("DELETE FROM t"), Err(SqlError::NotReadOnly(_))));
        assert!(matches!(parse_select("SELECT * INTO t2 FROM t"), Err(SqlError::NotReadOnly(_))));
        assert!(matches!(parse_select("SELECT * FROM t FOR UPDATE"), Err(SqlError::NotReadOnly(_))));
        assert!(matches!(parse_select("SELEC 1"), Err(SqlError::Parse(_))));
        assert!(matches!(
            parse_select("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"),
            Err(SqlError::NotReadOnly(_) | SqlError::Parse(_))
        ));
    }
}
