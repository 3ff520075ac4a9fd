//! Redshift's pattern languages in DuckDB's: datetime format strings (`TO_CHAR`, `TO_DATE`) as
//! strftime/strptime formats, and `SIMILAR TO` patterns as regular expressions. An element with
//! no exact counterpart is refused by name rather than approximated.

use super::DialectError;

/// Datetime format elements, longest first so that `HH24` wins over `HH`. Name elements are
/// only the mixed-case abbreviations: Redshift writes `MON` as `JAN` and `Mon` as `Jan`, and
/// strftime has only the latter; full names (`Month`, `Day`) Redshift pads to nine characters,
/// which strftime does not.
const ELEMENTS: [(&str, &str); 15] = [
    ("YYYY", "%Y"),
    ("HH24", "%H"),
    ("HH12", "%I"),
    ("Mon", "%b"),
    ("Dy", "%a"),
    ("YY", "%y"),
    ("MM", "%m"),
    ("DD", "%d"),
    ("HH", "%I"),
    ("MI", "%M"),
    ("SS", "%S"),
    ("MS", "%g"),
    ("US", "%f"),
    ("AM", "%p"),
    ("PM", "%p"),
];

/// Characters that stand for themselves in a format.
const LITERAL: &str = " -/:.,;T_";

/// A Redshift datetime format as a strftime/strptime format.
pub(super) fn strftime(format: &str) -> Result<String, DialectError> {
    let mut out = String::new();
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        if let Some((element, to)) = ELEMENTS.iter().find(|(e, _)| rest.starts_with(e)) {
            out.push_str(to);
            rest = &rest[element.len()..];
        } else if c == '"' {
            // Quoted text is literal.
            let end = rest[1..].find('"').ok_or_else(|| refused(format, "an unclosed quote"))?;
            out.push_str(&rest[1..=end].replace('%', "%%"));
            rest = &rest[end + 2..];
        } else if LITERAL.contains(c) {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        } else {
            let element: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
            return Err(refused(format, if element.is_empty() { &rest[..c.len_utf8()] } else { &element }));
        }
    }
    Ok(out)
}

fn refused(format: &str, element: &str) -> DialectError {
    DialectError::Refused(format!("the datetime format element {element:?} (in {format:?})"))
}

/// A `SIMILAR TO` pattern (the whole string must match; `%` any text, `_` one character,
/// `|`, `*`, `+`, `?`, `{m,n}`, `(..)` and `[..]` as in regular expressions) as a regular
/// expression for `regexp_full_match`. Backslash escapes the next character.
pub(super) fn similar_to_regex(pattern: &str) -> Result<String, DialectError> {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '\\' => {
                let next =
                    chars.next().ok_or_else(|| DialectError::Refused("SIMILAR TO ending in a backslash".into()))?;
                out.push_str(&regex_escape(next));
            }
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' | '[' | ']' | ',' => out.push(c),
            other => out.push_str(&regex_escape(other)),
        }
    }
    Ok(out)
}

fn regex_escape(c: char) -> String {
    if c.is_ascii_alphanumeric() || c == ' ' { c.to_string() } else { format!("\\{c}") }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn datetime_formats_map_element_by_element() {
        assert_eq!(strftime("YYYY-MM-DD HH24:MI:SS").unwrap(), "%Y-%m-%d %H:%M:%S");
        assert_eq!(strftime("DD Mon YYYY").unwrap(), "%d %b %Y");
        assert_eq!(strftime("MM/DD/YY HH12:MI AM").unwrap(), "%m/%d/%y %I:%M %p");
        assert_eq!(strftime(r#"YYYY"Q"MM"#).unwrap(), "%YQ%m");
        assert_eq!(strftime(r#""100%" YYYY"#).unwrap(), "100%% %Y");
    }

    #[test]
    fn elements_without_a_counterpart_are_refused_by_name() {
        for (format, element) in [
            ("MON-YYYY", "\"MON\""),
            ("YYYY-WW", "\"WW\""),
            ("Q YYYY", "\"Q\""),
            ("999.99", "\"999\""),
            ("Day", "\"Day\""),
        ] {
            let e = strftime(format).unwrap_err().to_string();
            assert!(e.contains(element), "{format}: {e}");
        }
    }

    #[test]
    fn similar_to_patterns_become_anchored_regular_expressions() {
        assert_eq!(similar_to_regex("%(b|d)%").unwrap(), ".*(b|d).*");
        assert_eq!(similar_to_regex("a_c").unwrap(), "a.c");
        assert_eq!(similar_to_regex("1.5\\%").unwrap(), "1\\.5\\%");
    }
}
