//! Redshift's string-to-number and case functions DuckDB has no counterpart for, built from
//! DuckDB's list functions and lambdas (`lambda x: ..`, which the engine's parser and the
//! tenant boundary both read) rather than engine macros, so that a confined tenant — who may
//! call built-in functions only — can use them too.

use super::DialectError;
use super::functions::quote;

/// `INITCAP(s)`: the first letter of every word upper-case and the rest lower-case, a word
/// being a run of letters and digits (as Redshift delimits them).
pub(super) fn initcap(s: &str) -> String {
    format!(
        "list_reduce(list_transform(range(1, length({s}) + 1), lambda i: \
           CASE WHEN i = 1 OR NOT regexp_full_match(substr({s}, i - 1, 1), '[[:alnum:]]') \
                THEN upper(substr({s}, i, 1)) ELSE lower(substr({s}, i, 1)) END), lambda a, b: a || b, '')"
    )
}

/// `STRTOL(s, base)`: `s` read as an integer in `base` (2 to 36), with an optional sign (and
/// `0x` for base 16), as a `BIGINT`; NULL when a character is not a digit of the base.
pub(super) fn strtol(s: &str, base: &str) -> String {
    let text = format!("lower(trim({s}))");
    let unsigned = format!("ltrim({text}, '+-')");
    let body = format!(
        "CASE WHEN CAST({base} AS BIGINT) = 16 AND {unsigned} LIKE '0x%' THEN substr({unsigned}, 3) ELSE {unsigned} END"
    );
    let digits = format!(
        "list_transform(string_split({body}, ''), lambda c: CAST(strpos('0123456789abcdefghijklmnopqrstuvwxyz', c) AS BIGINT) - 1)"
    );
    let value = format!("list_reduce({digits}, lambda acc, d: acc * CAST({base} AS BIGINT) + d)");
    format!(
        "CASE WHEN {body} = '' OR length(list_filter({digits}, lambda d: d < 0 OR d >= CAST({base} AS BIGINT))) > 0 THEN NULL \
         WHEN starts_with({text}, '-') THEN -{value} ELSE {value} END"
    )
}

/// `TO_NUMBER(s, 'format')` for the numeric format elements that only place digits: `9`, `0`,
/// the decimal point (`.`, `D`), group separators (`,`, `G`), currency (`$`, `L`) and a sign
/// (`S`, `MI`, `PR`). The string's digits are read as a `DECIMAL` with the format's precision
/// and scale; a `-` (or `<..>` for `PR`) makes it negative. Other elements are refused.
pub(super) fn to_number(s: &str, format: &str) -> Result<String, DialectError> {
    let upper = format.to_ascii_uppercase();
    let mut rest = upper.as_str();
    let (mut digits, mut scale, mut after_point) = (0u32, 0u32, false);
    while let Some(c) = rest.chars().next() {
        let width = ["MI", "PR"].iter().find(|e| rest.starts_with(*e)).map_or(c.len_utf8(), |e| e.len());
        match c {
            '9' | '0' => {
                digits += 1;
                scale += u32::from(after_point);
            }
            '.' | 'D' => after_point = true,
            ',' | 'G' | '$' | 'L' | 'S' | ' ' => {}
            'M' | 'P' if width == 2 => {}
            _ => {
                return Err(DialectError::Refused(format!("TO_NUMBER with the format element {:?}", &rest[..width])));
            }
        }
        rest = &rest[width..];
    }
    if digits == 0 || digits > 38 {
        return Err(DialectError::Refused(format!("TO_NUMBER with the format {}", quote(format))));
    }
    Ok(format!(
        "(CASE WHEN strpos({s}, '-') > 0 OR strpos({s}, '<') > 0 THEN -1 ELSE 1 END \
         * CAST(regexp_replace({s}, '[^0-9.]', '', 'g') AS DECIMAL({digits}, {scale})))"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn number_formats_give_precision_and_scale_or_are_refused() {
        assert!(to_number("s", "99G999D9S").unwrap().contains("DECIMAL(6, 1)"));
        assert!(to_number("s", "$999,999.00").unwrap().contains("DECIMAL(8, 2)"));
        assert!(to_number("s", "9999MI").unwrap().contains("DECIMAL(4, 0)"));
        assert!(to_number("s", "9.99EEEE").unwrap_err().to_string().contains("\"E\""));
        assert!(to_number("s", "RN").is_err());
        assert!(to_number("s", "").is_err());
    }
}
