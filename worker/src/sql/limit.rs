//! The Query API's row cap (seed 001): inject `LIMIT cap + 1` when a query has none, lower a
//! larger one, keep a smaller one. One row more than the cap is fetched so that truncation is
//! detected, not guessed. The query is tokenized (never regex-matched), and only a LIMIT at the
//! outermost level is touched: one inside a subquery or CTE is the user's business.

use sqlparser::dialect::RedshiftSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::SqlError;
use super::select::{offset, parse_select, trimmed};

/// The query with the cap applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped {
    /// The SQL to run.
    pub sql: String,
    /// Whether more rows than the cap can come back (then the caller drops the extra row and
    /// reports `truncated`). False when the user's own LIMIT is within the cap.
    pub may_exceed: bool,
}

/// Applies the row cap to a query that passed the guard.
pub fn cap_rows(sql: &str, cap: u64) -> Result<Capped, SqlError> {
    let parsed = parse_select(sql)?;
    let text = trimmed(sql)?;
    let fetch = cap.saturating_add(1);
    let wrapped =
        || Capped { sql: format!("SELECT * FROM (\n{text}\n) AS spectra_capped LIMIT {fetch}"), may_exceed: true };
    let tokens = Tokenizer::new(&RedshiftSqlDialect {}, &text)
        .tokenize_with_location()
        .map_err(|e| SqlError::Parse(e.to_string()))?;
    let significant: Vec<usize> =
        (0..tokens.len()).filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_) | Token::EOF)).collect();
    let mut depth = 0i32;
    let mut limit_at = None;
    for (n, &i) in significant.iter().enumerate() {
        match &tokens[i].token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Word(w) if depth == 0 && w.keyword == Keyword::LIMIT => limit_at = Some(n),
            _ => {}
        }
    }
    let Some(n) = limit_at else {
        // FETCH FIRST cannot be followed by LIMIT; wrap such a query instead.
        return Ok(if parsed.has_limit {
            wrapped()
        } else {
            Capped { sql: format!("{text} LIMIT {fetch}"), may_exceed: true }
        });
    };
    let Some(&value) = significant.get(n + 1) else { return Ok(wrapped()) };
    let replace = |with: String| {
        let start = offset(&text, tokens[value].span.start);
        let end = tokens.get(value + 1).map_or(text.len(), |t| offset(&text, t.span.start));
        Capped { sql: format!("{}{with}{}", &text[..start], &text[end..]), may_exceed: true }
    };
    Ok(match &tokens[value].token {
        Token::Number(number, _) => match number.parse::<u64>() {
            Ok(asked) if asked <= cap => Capped { sql: text.clone(), may_exceed: false },
            Ok(_) => replace(fetch.to_string()),
            Err(_) => wrapped(),
        },
        Token::Word(w) if w.keyword == Keyword::ALL => replace(fetch.to_string()),
        _ => wrapped(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(sql: &str) -> Capped {
        cap_rows(sql, 100).unwrap()
    }

    #[test]
    fn a_query_with_top_is_wrapped_not_given_a_limit_too() {
        assert_eq!(
            cap("SELECT TOP 5 a FROM t ORDER BY a").sql,
            "SELECT * FROM (\nSELECT TOP 5 a FROM t ORDER BY a\n) AS spectra_capped LIMIT 101"
        );
    }

    #[test]
    fn a_limit_is_injected_when_there_is_none() {
        assert_eq!(cap("SELECT * FROM t").sql, "SELECT * FROM t LIMIT 101");
        assert_eq!(cap("SELECT * FROM t ORDER BY id DESC; -- done").sql, "SELECT * FROM t ORDER BY id DESC LIMIT 101");
        assert_eq!(
            cap("SELECT * FROM (SELECT * FROM t LIMIT 5) s").sql,
            "SELECT * FROM (SELECT * FROM t LIMIT 5) s LIMIT 101"
        );
        assert_eq!(
            cap("WITH a AS (SELECT * FROM t LIMIT 3) SELECT * FROM a").sql,
            "WITH a AS (SELECT * FROM t LIMIT 3) SELECT * FROM a LIMIT 101"
        );
        assert!(cap("SELECT 1").may_exceed);
    }

    #[test]
    fn a_larger_limit_is_lowered_and_a_smaller_one_kept() {
        assert_eq!(cap("SELECT * FROM t ORDER BY id LIMIT 5000").sql, "SELECT * FROM t ORDER BY id LIMIT 101");
        assert_eq!(cap("SELECT * FROM t LIMIT 5000 OFFSET 10").sql, "SELECT * FROM t LIMIT 101 OFFSET 10");
        assert_eq!(cap("select * from t limit all").sql, "select * from t limit 101");
        let kept = cap("SELECT * FROM t LIMIT 7");
        assert_eq!((kept.sql.as_str(), kept.may_exceed), ("SELECT * FROM t LIMIT 7", false));
        assert!(!cap("SELECT * FROM t LIMIT 100").may_exceed);
        assert_eq!(cap("SELECT 'LIMIT 9' AS s FROM t").sql, "SELECT 'LIMIT 9' AS s FROM t LIMIT 101");
    }

    #[test]
    fn odd_limits_are_wrapped() {
        assert_eq!(
            cap("SELECT * FROM t FETCH FIRST 5 ROWS ONLY").sql,
            "SELECT * FROM (\nSELECT * FROM t FETCH FIRST 5 ROWS ONLY\n) AS spectra_capped LIMIT 101"
        );
        assert!(cap("SELECT * FROM t LIMIT :n").sql.starts_with("SELECT * FROM (\n"));
    }
}
