//! The Data API's named parameters (`:name`) on DuckDB, which binds `$1, $2, ...`: placeholders
//! are renumbered outside string literals, quoted identifiers and comments, `::` casts are left
//! alone, and values are bound, never spliced.

use std::collections::HashMap;

use spectra_state_machine::QueryParameter;

use spectra_worker::ports::WarehouseError;

/// SQL with `:name` rewritten to `$n`, and the names in `$n` order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Bound {
    pub sql: String,
    pub values: Vec<String>,
}

/// Rewrites the placeholders of `sql` and orders `parameters`' values to match. Every
/// placeholder needs a value and every value a placeholder, as in the Data API.
pub(crate) fn bind(sql: &str, parameters: &[QueryParameter]) -> Result<Bound, WarehouseError> {
    let given: HashMap<&str, &str> = parameters.iter().map(|p| (p.name.as_str(), p.value.as_str())).collect();
    let (sql, names) = rewrite(sql);
    let mut values = Vec::with_capacity(names.len());
    for name in &names {
        let value = given
            .get(name.as_str())
            .ok_or_else(|| WarehouseError::Validation(format!("parameter :{name} has no value")))?;
        values.push((*value).to_owned());
    }
    if let Some(unused) = parameters.iter().find(|p| !names.iter().any(|n| n == p.name.as_str())) {
        return Err(WarehouseError::Validation(format!("parameter {} is not used in the SQL", unused.name)));
    }
    Ok(Bound { sql, values })
}

/// If a string literal, quoted identifier or comment starts at `i`, the index just past it.
fn skip_opaque(chars: &[char], i: usize) -> Option<usize> {
    let (c, next) = (chars[i], chars.get(i + 1).copied());
    match c {
        '\'' | '"' => {
            // A literal or quoted identifier, with doubled quotes as escapes.
            let mut j = i + 1;
            while j < chars.len() {
                if chars[j] == c {
                    if chars.get(j + 1) == Some(&c) {
                        j += 2;
                        continue;
                    }
                    return Some(j + 1);
                }
                j += 1;
            }
            Some(chars.len())
        }
        '-' if next == Some('-') => Some(chars[i..].iter().position(|ch| *ch == '\n').map_or(chars.len(), |p| i + p)),
        '/' if next == Some('*') => Some(
            (i + 2..chars.len())
                .find(|&j| chars[j] == '*' && chars.get(j + 1) == Some(&'/'))
                .map_or(chars.len(), |j| j + 2),
        ),
        _ => None,
    }
}

/// The rewriting itself: returns the new SQL and the distinct names in first-use order.
fn rewrite(sql: &str) -> (String, Vec<String>) {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = skip_opaque(&chars, i) {
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        let next = chars.get(i + 1).copied();
        match chars[i] {
            ':' if next == Some(':') => {
                out.push_str("::");
                i += 2;
            }
            ':' if next.is_some_and(|n| n.is_ascii_alphabetic() || n == '_') => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                let position = names.iter().position(|n| *n == name).unwrap_or_else(|| {
                    names.push(name);
                    names.len() - 1
                });
                out.push_str(&format!("${}", position + 1));
                i = end;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    (out, names)
}

/// Splits a script into statements at `;` outside literals and comments, dropping empty ones.
pub(crate) fn split_script(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let (mut statements, mut current, mut i) = (Vec::new(), String::new(), 0);
    while i < chars.len() {
        if let Some(end) = skip_opaque(&chars, i) {
            current.extend(&chars[i..end]);
            i = end;
        } else if chars[i] == ';' {
            statements.push(std::mem::take(&mut current));
            i += 1;
        } else {
            current.push(chars[i]);
            i += 1;
        }
    }
    statements.push(current);
    statements.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty() && !only_comments(s)).collect()
}

fn only_comments(sql: &str) -> bool {
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match skip_opaque(&chars, i) {
            Some(end) if matches!(chars[i], '-' | '/') => i = end,
            _ if chars[i].is_whitespace() => i += 1,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use spectra_state_machine::Identifier;

    fn p(name: &str, value: &str) -> QueryParameter {
        QueryParameter { name: Identifier::parse(name).unwrap(), value: value.into() }
    }

    #[test]
    fn placeholders_become_positions_and_repeat() {
        let b = bind("SELECT * FROM t WHERE a = :id AND b > :since OR c = :id", &[p("since", "2024"), p("id", "7")])
            .unwrap();
        assert_eq!(b.sql, "SELECT * FROM t WHERE a = $1 AND b > $2 OR c = $1");
        assert_eq!(b.values, ["7", "2024"]);
    }

    #[test]
    fn literals_comments_and_casts_are_left_alone() {
        let sql = "SELECT ':not', \"x:y\", a::int -- :c\n, /* :d */ :real FROM t WHERE s = 'it''s :e'";
        let b = bind(sql, &[p("real", "1")]).unwrap();
        assert_eq!(b.sql, "SELECT ':not', \"x:y\", a::int -- :c\n, /* :d */ $1 FROM t WHERE s = 'it''s :e'");
    }

    #[test]
    fn scripts_split_outside_literals_and_comments() {
        let parts = split_script("CREATE TABLE t (a VARCHAR); -- note; here\nINSERT INTO t VALUES ('a;b'); ; /* x; */");
        assert_eq!(parts, ["CREATE TABLE t (a VARCHAR)", "-- note; here\nINSERT INTO t VALUES ('a;b')"]);
    }

    #[test]
    fn missing_and_unused_values_are_refused() {
        assert!(matches!(bind("SELECT :a", &[]), Err(WarehouseError::Validation(m)) if m.contains(":a")));
        assert!(
            matches!(bind("SELECT 1", &[p("a", "1")]), Err(WarehouseError::Validation(m)) if m.contains("not used"))
        );
    }
}
