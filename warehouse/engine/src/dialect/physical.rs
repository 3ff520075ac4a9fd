//! Redshift's physical clauses, which have no meaning on one machine, removed before parsing:
//! sqlparser's Redshift dialect does not parse most of them (a column's `DISTKEY`, `SORTKEY`,
//! `ENCODE`; `INTERLEAVED SORTKEY (..)`; `APPROXIMATE COUNT`), and DuckDB knows none.
//!
//! The same pass names Redshift's default schema as the engine does: `public` is DuckDB's
//! `main` (where every table created without a schema has always gone, so existing data keeps
//! its place). A word `public` followed by `.` (`public.sales`, `"public".sales`) or following
//! `SCHEMA` (`CREATE SCHEMA IF NOT EXISTS public`, `DROP SCHEMA public`) becomes `main`;
//! catalog answers say `public` back ([`super::catalog`]).
//!
//! It works on sqlparser's tokens, so a quoted identifier or a string that spells a keyword is
//! never touched, and what is kept is re-printed token by token (quotes and all).

use sqlparser::dialect::RedshiftSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::{DialectError, ENGINE_SCHEMA, identity};

/// A statement's tokens without its physical clauses, for the parser (tokenized once).
#[derive(Debug)]
pub(super) struct Stripped {
    /// What is kept.
    pub(super) tokens: Vec<Token>,
    /// Whether any clause was removed or a schema renamed.
    pub(super) removed: bool,
    /// Statements to run first: the sequences of identity columns ([`identity`]).
    pub(super) prelude: Vec<String>,
}

impl Stripped {
    /// The kept tokens printed back, quotes and all.
    pub(super) fn text(&self) -> String {
        self.tokens.iter().map(ToString::to_string).collect()
    }
}

/// `sql`'s tokens without its physical clauses; `None` when it cannot be split into tokens
/// (an unclosed quote: DuckDB's parser then says so, as for any other statement).
pub(super) fn strip(sql: &str) -> Result<Option<Stripped>, DialectError> {
    let Ok(tokens) = Tokenizer::new(&RedshiftSqlDialect {}, sql).tokenize() else { return Ok(None) };
    let first = (0..tokens.len()).find(|&i| !matches!(tokens[i], Token::Whitespace(_)));
    if first.is_some_and(|i| is_word(&tokens[i], "ANALYZE") && next_is(&tokens, i, "COMPRESSION")) {
        // Its report is Redshift's encodings per column; the engine picks its own compression.
        return Err(DialectError::Refused("ANALYZE COMPRESSION (the engine chooses its own compression)".into()));
    }
    let creates = first_word(&tokens).is_some_and(|w| w.eq_ignore_ascii_case("CREATE"));
    let (tokens, prelude) = match creates.then(|| identity::rewrite(&tokens)).transpose()?.flatten() {
        Some(identities) => (identities.tokens, identities.sequences),
        None => (tokens, Vec::new()),
    };
    let mut kept: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    let mut removed = !prelude.is_empty();
    while i < tokens.len() {
        let skip = if creates { physical_clause(&tokens, i)? } else { 0 };
        let skip =
            if skip == 0 && is_word(&tokens[i], "APPROXIMATE") && next_is(&tokens, i, "COUNT") { 1 } else { skip };
        if skip > 0 {
            removed = true;
            i += skip;
        } else if let Some(name) = extract_part(&tokens, i) {
            kept.push(Token::make_word(name, None));
            removed = true;
            i += 1;
        } else if names_public_schema(&tokens, i) {
            // `dev.public.sales`: every database name is the one local engine's.
            if let [.., Token::Word(_), Token::Period] = kept.as_slice() {
                kept.truncate(kept.len() - 2);
            }
            kept.push(Token::make_word(ENGINE_SCHEMA, None));
            removed = true;
            i += 1;
        } else {
            kept.push(tokens[i].clone());
            i += 1;
        }
    }
    Ok(Some(Stripped { tokens: kept, removed, prelude }))
}

/// The part of `EXTRACT(part FROM ..)` at `i` in its full name, when Redshift abbreviates it
/// (`sec`, `mon`, `dw`): sqlparser and DuckDB know the full names only.
fn extract_part(tokens: &[Token], i: usize) -> Option<&'static str> {
    let Token::Word(w) = &tokens[i] else { return None };
    let open = previous(tokens, i).filter(|&p| tokens[p] == Token::LParen)?;
    previous(tokens, open).filter(|&p| is_word(&tokens[p], "EXTRACT"))?;
    next_word(tokens, i).filter(|&n| is_word(&tokens[n], "FROM"))?;
    let name = super::dates::part_name(&w.value).filter(|n| !w.value.eq_ignore_ascii_case(n))?;
    w.quote_style.is_none().then_some(name)
}

/// Whether the token at `i` is the schema `public` (quoted or not: Redshift folds both): the
/// first part of a qualified name, or the name after `SCHEMA [IF [NOT] EXISTS]`.
fn names_public_schema(tokens: &[Token], i: usize) -> bool {
    let Token::Word(w) = &tokens[i] else { return false };
    if !w.value.eq_ignore_ascii_case("public") || w.quote_style.is_some_and(|q| q != '"') {
        return false;
    }
    let after = (i + 1..tokens.len()).find(|&j| !matches!(tokens[j], Token::Whitespace(_)));
    if after.is_some_and(|j| tokens[j] == Token::Period) {
        return true;
    }
    let mut p = previous(tokens, i);
    while let Some(j) = p.filter(|&j| ["IF", "NOT", "EXISTS"].iter().any(|k| is_word(&tokens[j], k))) {
        p = previous(tokens, j);
    }
    p.is_some_and(|j| is_word(&tokens[j], "SCHEMA"))
}

/// The index of the last non-whitespace token before `i`.
pub(super) fn previous(tokens: &[Token], i: usize) -> Option<usize> {
    (0..i).rev().find(|&j| !matches!(tokens[j], Token::Whitespace(_)))
}

/// How many tokens from `i` form a physical clause of a CREATE TABLE (0: none).
fn physical_clause(tokens: &[Token], i: usize) -> Result<usize, DialectError> {
    let token = &tokens[i];
    if is_word(token, "COMPOUND") || is_word(token, "INTERLEAVED") {
        return Ok(if next_is(tokens, i, "SORTKEY") {
            key_clause(tokens, next_word(tokens, i).unwrap_or(i)) - i
        } else {
            0
        });
    }
    if is_word(token, "DISTKEY") || is_word(token, "SORTKEY") {
        return Ok(key_clause(tokens, i) - i);
    }
    // The keyword and its one-word argument (`ENCODE lzo`, `DISTSTYLE KEY`, `BACKUP NO`), only
    // with an argument Redshift knows: a column may be named `encode`.
    for (keyword, arguments) in
        [("ENCODE", &ENCODINGS[..]), ("DISTSTYLE", &DISTSTYLES[..]), ("BACKUP", &["YES", "NO"][..])]
    {
        if is_word(token, keyword)
            && let Some(w) = next_word(tokens, i)
            && arguments.iter().any(|a| is_word(&tokens[w], a))
        {
            return Ok(w + 1 - i);
        }
    }
    Ok(0)
}

/// Redshift's column compression encodings.
const ENCODINGS: [&str; 14] = [
    "RAW",
    "AZ64",
    "BYTEDICT",
    "DELTA",
    "DELTA32K",
    "LZO",
    "MOSTLY8",
    "MOSTLY16",
    "MOSTLY32",
    "RUNLENGTH",
    "TEXT255",
    "TEXT32K",
    "ZSTD",
    "AUTO",
];

/// Redshift's distribution styles.
const DISTSTYLES: [&str; 4] = ["AUTO", "EVEN", "KEY", "ALL"];

/// The end (exclusive) of `DISTKEY`/`SORTKEY` at `i`, with its parenthesised column list when
/// one follows.
fn key_clause(tokens: &[Token], i: usize) -> usize {
    let mut j = i + 1;
    while matches!(tokens.get(j), Some(Token::Whitespace(_))) {
        j += 1;
    }
    if tokens.get(j) != Some(&Token::LParen) {
        return i + 1;
    }
    let mut depth = 0;
    while j < tokens.len() {
        match tokens[j] {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    j
}

pub(super) fn is_word(token: &Token, keyword: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(keyword))
}

/// The index of the next non-whitespace token after `i`, when it is an unquoted word.
pub(super) fn next_word(tokens: &[Token], i: usize) -> Option<usize> {
    let j = (i + 1..tokens.len()).find(|&j| !matches!(tokens[j], Token::Whitespace(_)))?;
    matches!(&tokens[j], Token::Word(w) if w.quote_style.is_none()).then_some(j)
}

fn next_is(tokens: &[Token], i: usize, keyword: &str) -> bool {
    next_word(tokens, i).is_some_and(|j| is_word(&tokens[j], keyword))
}

fn first_word(tokens: &[Token]) -> Option<&str> {
    match tokens.iter().find(|t| !matches!(t, Token::Whitespace(_)))? {
        Token::Word(w) => Some(w.value.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn stripped(sql: &str) -> String {
        strip(sql).unwrap().unwrap().text().split_whitespace().collect::<Vec<_>>().join(" ")
    }

    fn removed(sql: &str) -> bool {
        strip(sql).unwrap().unwrap().removed
    }

    #[test]
    fn column_and_table_attributes_are_removed() {
        assert_eq!(
            stripped("create table users(userid integer not null distkey sortkey, name varchar(30) encode lzo)"),
            "create table users(userid integer not null , name varchar(30) )"
        );
        assert_eq!(
            stripped("CREATE TABLE s (a int, b date) DISTSTYLE KEY DISTKEY(a) COMPOUND SORTKEY(a, b) BACKUP NO"),
            "CREATE TABLE s (a int, b date)"
        );
        assert_eq!(
            stripped("CREATE TABLE t INTERLEAVED SORTKEY (a, b) AS SELECT 1 AS a"),
            "CREATE TABLE t AS SELECT 1 AS a"
        );
    }

    #[test]
    fn quoted_names_and_strings_are_kept_and_other_statements_untouched() {
        assert_eq!(
            stripped(r#"CREATE TABLE t ("distkey" int, s varchar(5) DEFAULT 'sortkey')"#),
            r#"CREATE TABLE t ("distkey" int, s varchar(5) DEFAULT 'sortkey')"#
        );
        assert!(!removed("SELECT distkey FROM t"));
        assert_eq!(stripped("SELECT APPROXIMATE COUNT(DISTINCT a) FROM t"), "SELECT COUNT(DISTINCT a) FROM t");
    }

    #[test]
    fn a_column_named_like_a_clause_keyword_is_kept() {
        assert!(!removed("CREATE TABLE t (encode varchar(10), backup int, diststyle int)"));
    }

    #[test]
    fn extract_takes_redshifts_abbreviations() {
        assert_eq!(
            stripped("SELECT EXTRACT(sec FROM t), extract( mon from t)"),
            "SELECT EXTRACT(second FROM t), extract( month from t)"
        );
        assert!(!removed("SELECT EXTRACT(year FROM t), sec FROM t"));
    }

    #[test]
    fn the_public_schema_is_the_engines_main() {
        assert_eq!(
            stripped(r#"SELECT public.t.a FROM public.t JOIN "PUBLIC".u ON true JOIN dev.public.v ON true"#),
            "SELECT main.t.a FROM main.t JOIN main.u ON true JOIN main.v ON true"
        );
        assert_eq!(stripped("create schema if not exists public"), "create schema if not exists main");
        assert_eq!(stripped("DROP SCHEMA public"), "DROP SCHEMA main");
        // A column or alias named `public`, and a string, are not schemas.
        assert!(!removed("SELECT public, 'public.t' FROM t AS public_t"));
        assert!(!removed("SELECT x FROM other.public"));
    }
}
