//! Redshift's pattern languages in DuckDB's: datetime format strings (`TO_CHAR`, `TO_DATE`) as
//! strftime/strptime formats (and, for what strftime cannot case or pad, expressions), and
//! `SIMILAR TO` patterns as regular expressions. An element with no exact counterpart is
//! refused by name rather than approximated.

use super::DialectError;

/// What a datetime format element becomes: a strftime/strptime directive, or (for `TO_CHAR`
/// only) an expression of the timestamp `{t}` for what strftime cannot case or pad.
#[derive(Debug, Clone, Copy)]
enum Element {
    Directive(&'static str),
    Expression(&'static str),
}

use Element::{Directive, Expression};

/// Name elements, matched with their case: Redshift writes `MON` as `JAN`, `Mon` as `Jan`, `mon`
/// as `jan`, and pads full names (`Month`, `Day`) to nine characters, as PostgreSQL does.
const NAMES: [(&str, Element); 16] = [
    ("MONTH", Expression("upper(rpad(strftime({t}, '%B'), 9, ' '))")),
    ("Month", Expression("rpad(strftime({t}, '%B'), 9, ' ')")),
    ("month", Expression("lower(rpad(strftime({t}, '%B'), 9, ' '))")),
    ("MON", Expression("upper(strftime({t}, '%b'))")),
    ("Mon", Directive("%b")),
    ("mon", Expression("lower(strftime({t}, '%b'))")),
    ("DAY", Expression("upper(rpad(strftime({t}, '%A'), 9, ' '))")),
    ("Day", Expression("rpad(strftime({t}, '%A'), 9, ' ')")),
    ("day", Expression("lower(rpad(strftime({t}, '%A'), 9, ' '))")),
    ("DY", Expression("upper(strftime({t}, '%a'))")),
    ("Dy", Directive("%a")),
    ("dy", Expression("lower(strftime({t}, '%a'))")),
    ("AM", Directive("%p")),
    ("PM", Directive("%p")),
    ("am", Expression("lower(strftime({t}, '%p'))")),
    ("pm", Expression("lower(strftime({t}, '%p'))")),
];

/// Numeric elements, matched in any case (`yyyy` is `YYYY`), longest first so that `HH24` wins
/// over `HH` and `DDD` over `DD`.
const NUMBERS: [(&str, Element); 14] = [
    ("YYYY", Directive("%Y")),
    ("HH24", Directive("%H")),
    ("HH12", Directive("%I")),
    ("DDD", Expression("lpad(CAST(dayofyear({t}) AS VARCHAR), 3, '0')")),
    ("YY", Directive("%y")),
    ("MM", Directive("%m")),
    ("DD", Directive("%d")),
    ("HH", Directive("%I")),
    ("MI", Directive("%M")),
    ("SS", Directive("%S")),
    ("MS", Directive("%g")),
    ("US", Directive("%f")),
    // Quarter, and the day of the week from Sunday = 1.
    ("Q", Expression("CAST(quarter({t}) AS VARCHAR)")),
    ("D", Expression("CAST(dayofweek({t}) + 1 AS VARCHAR)")),
];

/// A format read element by element — punctuation and quoted text stand for themselves, any
/// other letter or digit must be an element — with directives and literal text
/// (strftime-escaped) as one string per run, expressions between them.
enum Piece {
    Format(String),
    Expression(&'static str),
}

/// `reading`: for strptime, which reads names in any case, so a name element in another case
/// (`MON`, `dy`, `am`) reads as its mixed-case directive (`%b`, `%a`, `%p`).
fn pieces(format: &str, reading: bool) -> Result<Vec<Piece>, DialectError> {
    let mut out: Vec<Piece> = Vec::new();
    let push_text = |out: &mut Vec<Piece>, text: &str| match out.last_mut() {
        Some(Piece::Format(f)) => f.push_str(text),
        _ => out.push(Piece::Format(text.to_owned())),
    };
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        let upper = rest.to_ascii_uppercase();
        let found = NAMES
            .iter()
            .find(|(e, _)| rest.starts_with(e))
            .or_else(|| NUMBERS.iter().find(|(e, _)| upper.starts_with(e)));
        if let Some((element, to)) = found {
            let as_read = || NAMES.iter().find(|(e, d)| e.eq_ignore_ascii_case(element) && matches!(d, Directive(_)));
            let to = if reading { as_read().map_or(to, |(_, d)| d) } else { to };
            match to {
                Directive(d) => push_text(&mut out, d),
                Expression(e) => out.push(Piece::Expression(e)),
            }
            rest = &rest[element.len()..];
        } else if c == '"' {
            // Quoted text is literal.
            let end = rest[1..].find('"').ok_or_else(|| refused(format, "an unclosed quote"))?;
            push_text(&mut out, &rest[1..=end].replace('%', "%%"));
            rest = &rest[end + 2..];
        } else if !c.is_alphanumeric() || is_iso_t(rest) {
            push_text(&mut out, &rest[..c.len_utf8()].replace('%', "%%"));
            rest = &rest[c.len_utf8()..];
        } else {
            let element: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
            return Err(refused(format, if element.is_empty() { &rest[..c.len_utf8()] } else { &element }));
        }
    }
    Ok(out)
}

/// `TO_CHAR(t, format)` as an expression of `t` (SQL text of a timestamp).
pub(super) fn to_char(t: &str, format: &str) -> Result<String, DialectError> {
    let parts: Vec<String> = pieces(format, false)?
        .into_iter()
        .map(|piece| match piece {
            Piece::Format(f) => format!("strftime({t}, '{}')", f.replace('\'', "''")),
            Piece::Expression(e) => e.replace("{t}", t),
        })
        .collect();
    Ok(if parts.is_empty() { "''".to_owned() } else { parts.join(" || ") })
}

/// A Redshift datetime format as a strptime format, for `TO_DATE`: only elements strptime
/// reads (it reads month and day names in any case).
pub(super) fn strptime(format: &str) -> Result<String, DialectError> {
    let mut out = String::new();
    for piece in pieces(format, true)? {
        match piece {
            Piece::Format(f) => out.push_str(&f),
            Piece::Expression(_) => return Err(refused(format, "a name or number strptime cannot read")),
        }
    }
    Ok(out)
}

/// The `T` between an ISO date and time (`YYYY-MM-DDTHH24:MI:SS`): text, unless it starts the
/// `TZ` or `TH` (ordinal suffix) elements — `THH` is a `T` before an hour.
fn is_iso_t(rest: &str) -> bool {
    let upper = rest.to_ascii_uppercase();
    upper.starts_with('T') && !upper.starts_with("TZ") && (!upper.starts_with("TH") || upper.starts_with("THH"))
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
        assert_eq!(strptime("YYYY-MM-DD HH24:MI:SS").unwrap(), "%Y-%m-%d %H:%M:%S");
        assert_eq!(strptime("yyyy-mm-dd").unwrap(), "%Y-%m-%d");
        assert_eq!(strptime("DD Mon YYYY").unwrap(), "%d %b %Y");
        assert_eq!(strptime("DD-MON-YY").unwrap(), "%d-%b-%y");
        assert_eq!(strptime("MM/DD/YY HH12:MI AM").unwrap(), "%m/%d/%y %I:%M %p");
        assert_eq!(strptime(r#"YYYY"Q"MM"#).unwrap(), "%YQ%m");
        assert_eq!(strptime(r#""100%" YYYY"#).unwrap(), "100%% %Y");
        assert_eq!(strptime("YYYY-MM-DDTHH24:MI:SS|").unwrap(), "%Y-%m-%dT%H:%M:%S|");
        assert_eq!(to_char("t", "YYYY").unwrap(), "strftime(t, '%Y')");
        assert_eq!(to_char("t", "MON-YY").unwrap(), "upper(strftime(t, '%b')) || strftime(t, '-%y')");
    }

    #[test]
    fn elements_without_a_counterpart_are_refused_by_name() {
        for (format, element) in [
            ("YYYY-WW", "\"WW\""),
            ("999.99", "\"999\""),
            ("FMDay", "\"FMDay\""),
            ("J", "\"J\""),
            ("HH24 TZ", "\"TZ\""),
        ] {
            let e = to_char("t", format).unwrap_err().to_string();
            assert!(e.contains(element), "{format}: {e}");
        }
        assert!(strptime("Day DD").is_err());
    }

    #[test]
    fn similar_to_patterns_become_anchored_regular_expressions() {
        assert_eq!(similar_to_regex("%(b|d)%").unwrap(), ".*(b|d).*");
        assert_eq!(similar_to_regex("a_c").unwrap(), "a.c");
        assert_eq!(similar_to_regex("1.5\\%").unwrap(), "1\\.5\\%");
    }
}
