//! Redshift's functions and operators in DuckDB's terms, one rewrite per row of the table in
//! [`super`]. Each rewrite builds its replacement as SQL text from the printed arguments
//! (sqlparser prints what it parsed, quoted as needed) and parses it back, so the result is
//! always a well-formed tree; arguments that must be literals (date parts, format strings, JSON
//! paths) are read from the tree, never from the text.

use sqlparser::ast::{
    DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Value,
};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;

use super::{DialectError, Session, dates, formats, numbers};

/// The replacement for `expr`, when it is a Redshift construct DuckDB lacks or reads otherwise.
pub(super) fn rewrite(expr: &Expr, session: &Session<'_>) -> Result<Option<Expr>, DialectError> {
    let sql = match expr {
        Expr::Function(f) => match session_function(f, session) {
            Some(sql) => Some(sql),
            None => function(f)?,
        },
        Expr::Convert { is_try: false, expr, data_type: Some(t), charset: None, styles, .. } if styles.is_empty() => {
            Some(format!("CAST({expr} AS {t})"))
        }
        Expr::SimilarTo { negated, expr, pattern, escape_char: None } => {
            let Some(pattern) = literal(pattern) else {
                return Err(DialectError::Refused("SIMILAR TO with a pattern that is not a literal".into()));
            };
            let not = if *negated { "NOT " } else { "" };
            Some(format!("{not}regexp_full_match({expr}, {})", quote(&formats::similar_to_regex(&pattern)?)))
        }
        Expr::Identifier(id) if id.quote_style.is_none() => match id.value.to_ascii_lowercase().as_str() {
            "sysdate" => Some(NOW.to_owned()),
            // Reserved words in Redshift (the Redshift dialect reads them as names).
            name if names_the_user(name) => Some(quote(session.user)),
            // `pg_table_def.notnull` is a column in Redshift, a postfix `IS NOT NULL` in DuckDB.
            "notnull" => Some("\"notnull\"".to_owned()),
            _ => None,
        },
        _ => None,
    };
    sql.map(|s| parse(&s)).transpose()
}

/// The current timestamp, as Redshift's `SYSDATE` (a timestamp without time zone, UTC): the
/// engine has no ICU, so the UTC instant is cast rather than converted.
const NOW: &str = "CAST(get_current_timestamp() AS TIMESTAMP)";

fn parse(sql: &str) -> Result<Expr, DialectError> {
    Parser::new(&DuckDbDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| DialectError::Internal(format!("{sql}: {e}")))
}

/// Whether `name` (any case) is one of Redshift's names of the session's user.
pub(super) fn names_the_user(name: &str) -> bool {
    ["current_user", "session_user", "user"].iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Redshift's session functions: the statement's user and database (the engine has one of
/// each), and `public` for the engine's default schema.
fn session_function(f: &Function, session: &Session<'_>) -> Option<String> {
    let [name] = f.name.0.as_slice() else { return None };
    let name = name.as_ident().filter(|i| i.quote_style.is_none())?.value.to_ascii_uppercase();
    if !plain_args(f).is_some_and(|args| args.is_empty()) || f.over.is_some() {
        return None;
    }
    Some(match name.as_str() {
        user if names_the_user(user) => quote(session.user),
        "CURRENT_DATABASE" => quote(session.database),
        "CURRENT_SCHEMA" => super::shown_schema("current_schema()"),
        _ => return None,
    })
}

/// A function call's replacement, by name.
fn function(f: &Function) -> Result<Option<String>, DialectError> {
    let [name] = f.name.0.as_slice() else { return Ok(None) };
    let Some(name) = name.as_ident().filter(|i| i.quote_style.is_none()).map(|i| i.value.to_ascii_uppercase()) else {
        return Ok(None);
    };
    let Some(args) = plain_args(f) else { return Ok(None) };
    let refused = |what: &str| Err(DialectError::Refused(format!("{name} {what}")));
    if f.over.is_some() && name == "LISTAGG" {
        return refused("as a window function");
    }
    let a = |i: usize| args.get(i).map(ToString::to_string).unwrap_or_default();
    Ok(Some(match (name.as_str(), args.len()) {
        ("GETDATE", 0) => format!("date_trunc('second', {NOW})"),
        // DuckDB's own needs its ICU extension, which the hermetic engine never loads.
        ("CURRENT_DATE", 0) => format!("CAST({NOW} AS DATE)"),
        ("NVL", 2..) => format!("coalesce({})", join(&args)),
        ("NVL2", 3) => format!("CASE WHEN {} IS NOT NULL THEN {} ELSE {} END", a(0), a(1), a(2)),
        ("DECODE", 3..) => decode(&args),
        ("CHARINDEX", 2) => format!("strpos({}, {})", a(1), a(0)),
        ("DATEADD", 3) => {
            format!("(CAST({} AS TIMESTAMP) + {})", a(2), dates::interval(&dates::part(&args[0])?, &a(1))?)
        }
        ("DATEDIFF", 3) => dates::datediff(&dates::part(&args[0])?, &a(1), &a(2))?,
        ("DATE_PART", 2) => dates::date_part(&dates::part(&args[0])?, &a(1))?,
        ("ADD_MONTHS", 2) => dates::add_months(&a(0), &a(1)),
        ("MONTHS_BETWEEN", 2) => dates::months_between(&a(0), &a(1)),
        ("TRUNC", 1) => match dates::trunc(&args[0]) {
            Some(sql) => sql,
            None => return Ok(None),
        },
        ("CONVERT_TIMEZONE", 2 | 3) => dates::convert_timezone(&args[..args.len() - 1], &args[args.len() - 1])?,
        ("AVG", 1) => average(f, &a(0)),
        ("RATIO_TO_REPORT", 1) => match &f.over {
            Some(window) => format!("CAST({} AS DOUBLE) / sum({}) OVER {window}", a(0), a(0)),
            None => return refused("without OVER"),
        },
        ("INITCAP", 1) => numbers::initcap(&a(0)),
        ("STRTOL", 2) => numbers::strtol(&a(0), &a(1)),
        ("TO_NUMBER", 2) => match literal(&args[1]) {
            Some(format) => numbers::to_number(&a(0), &format)?,
            None => return refused("with a format that is not a literal"),
        },
        ("LISTAGG", 1 | 2) => listagg(f, &args),
        ("REGEXP_REPLACE", 2 | 3) => {
            let replacement = if args.len() == 3 { a(2) } else { "''".into() };
            format!("regexp_replace({}, {}, {replacement}, 'g')", a(0), a(1))
        }
        ("REGEXP_REPLACE" | "REGEXP_SUBSTR" | "REGEXP_COUNT" | "REGEXP_INSTR", _) if args.len() > 3 => {
            return refused("with a position, occurrence or parameters");
        }
        ("REGEXP_SUBSTR", 2) => format!("regexp_extract({}, {})", a(0), a(1)),
        ("REGEXP_COUNT", 2) => format!("length(regexp_extract_all({}, {}))", a(0), a(1)),
        ("JSON_EXTRACT_PATH_TEXT", 2..) => json_path_text(&args)?,
        ("TO_CHAR", 2) => match literal(&args[1]) {
            Some(format) => formats::to_char(&format!("CAST({} AS TIMESTAMP)", a(0)), &format)?,
            None => return refused("with a format that is not a literal"),
        },
        ("TO_DATE", 2) => match literal(&args[1]) {
            Some(format) => format!("CAST(strptime({}, {}) AS DATE)", a(0), quote(&formats::strptime(&format)?)),
            None => return refused("with a format that is not a literal"),
        },
        _ => return Ok(None),
    }))
}

/// The arguments when they are all plain expressions with no clause (`f(a, b)`).
fn plain_args(f: &Function) -> Option<Vec<Expr>> {
    let list = match &f.args {
        FunctionArguments::None => return Some(Vec::new()),
        FunctionArguments::List(FunctionArgumentList { args, clauses, .. }) if clauses.is_empty() => args,
        _ => return None,
    };
    list.iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn join(args: &[Expr]) -> String {
    args.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// A string literal's value.
pub(super) fn literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// A SQL string literal of `s`.
pub(super) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `AVG` as Redshift types it: an integer column's average is an integer (truncated), a
/// floating one's a `DOUBLE`. `sum / count` does both, since the engine divides integers as
/// integers; `DISTINCT`, `FILTER` and `OVER` carry over to both halves.
fn average(f: &Function, x: &str) -> String {
    let distinct =
        matches!(&f.args, FunctionArguments::List(l) if l.duplicate_treatment == Some(DuplicateTreatment::Distinct));
    let distinct = if distinct { "DISTINCT " } else { "" };
    let filter = f.filter.as_ref().map(|c| format!(" FILTER (WHERE {c})")).unwrap_or_default();
    let over = f.over.as_ref().map(|w| format!(" OVER {w}")).unwrap_or_default();
    format!("(sum({distinct}{x}){filter}{over} / count({distinct}{x}){filter}{over})")
}

/// `CASE` with Redshift's NULL matching (`DECODE(NULL, NULL, 'x')` is `'x'`).
fn decode(args: &[Expr]) -> String {
    let (subject, rest) = (&args[0], &args[1..]);
    let mut sql = String::from("CASE");
    for pair in rest.chunks(2) {
        match pair {
            [search, result] => sql.push_str(&format!(" WHEN {subject} IS NOT DISTINCT FROM {search} THEN {result}")),
            [default] => sql.push_str(&format!(" ELSE {default}")),
            _ => {}
        }
    }
    sql.push_str(" END");
    sql
}

/// `LISTAGG(x[, delimiter]) [WITHIN GROUP (ORDER BY ..)]` as an ordered `string_agg`; no
/// delimiter is no delimiter (DuckDB's default is a comma).
fn listagg(f: &Function, args: &[Expr]) -> String {
    let distinct =
        matches!(&f.args, FunctionArguments::List(l) if l.duplicate_treatment == Some(DuplicateTreatment::Distinct));
    let delimiter = args.get(1).map_or_else(|| "''".to_owned(), ToString::to_string);
    let order = if f.within_group.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", f.within_group.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
    };
    let distinct = if distinct { "DISTINCT " } else { "" };
    format!("string_agg({distinct}{}, {delimiter}{order})", args[0])
}

/// `JSON_EXTRACT_PATH_TEXT(json, 'a', 'b')`: the text at the path of literal keys; an empty
/// string where the path does not exist, as Redshift answers.
fn json_path_text(args: &[Expr]) -> Result<String, DialectError> {
    let mut path = String::from("$");
    for key in &args[1..] {
        let key = literal(key)
            .ok_or_else(|| DialectError::Refused("JSON_EXTRACT_PATH_TEXT with a key that is not a literal".into()))?;
        path.push_str(&format!(".\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\"")));
    }
    let json = &args[0];
    Ok(format!(
        "CASE WHEN {json} IS NULL THEN NULL ELSE coalesce(json_extract_string({json}, {}), '') END",
        quote(&path)
    ))
}
