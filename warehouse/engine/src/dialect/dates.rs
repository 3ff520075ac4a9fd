//! Redshift's date and time functions in DuckDB's terms (rows of the table in [`super`]).
//! Arguments arrive printed; date parts and time zones, which must be literals, are read from
//! the tree.

use sqlparser::ast::{BinaryOperator, DataType, Expr, Function};

use super::DialectError;
use super::functions::literal;

/// A date part given as Redshift allows it (`day`, `'day'`, `d`, `days`), in DuckDB's name.
pub(super) fn part(expr: &Expr) -> Result<String, DialectError> {
    let raw = match expr {
        Expr::Identifier(id) => id.value.clone(),
        other => literal(other).ok_or_else(|| DialectError::Refused(format!("the date part {other}")))?,
    };
    part_name(&raw).map(str::to_owned).ok_or_else(|| DialectError::Refused(format!("the date part {raw}")))
}

/// Redshift's names and abbreviations of a date part, as DuckDB (and sqlparser) name it.
pub(super) fn part_name(raw: &str) -> Option<&'static str> {
    Some(match raw.to_ascii_lowercase().as_str() {
        "year" | "years" | "y" | "yr" | "yrs" | "yy" | "yyyy" => "year",
        "quarter" | "quarters" | "qtr" | "qtrs" | "q" => "quarter",
        "month" | "months" | "mon" | "mons" | "mm" => "month",
        "week" | "weeks" | "w" | "wk" | "wks" => "week",
        "day" | "days" | "d" | "dd" => "day",
        "hour" | "hours" | "h" | "hh" | "hr" | "hrs" => "hour",
        "minute" | "minutes" | "m" | "mi" | "min" | "mins" => "minute",
        "second" | "seconds" | "s" | "sec" | "secs" => "second",
        "dayofweek" | "dow" | "dw" | "weekday" => "dow",
        "dayofyear" | "doy" | "dy" | "yearday" => "doy",
        "epoch" => "epoch",
        "millennium" | "millennia" | "mil" | "mils" => "millennium",
        "century" | "centuries" | "c" | "cent" | "cents" => "century",
        "decade" | "decades" | "dec" | "decs" => "decade",
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "msecond" | "mseconds" | "millisec"
        | "millisecs" | "millisecon" => "millisecond",
        "microsecond" | "microseconds" | "microsec" | "microsecs" | "usecond" | "useconds" | "us" | "usec"
        | "usecs" => "microsecond",
        _ => return None,
    })
}

/// `n` units of `part` as a DuckDB interval.
pub(super) fn interval(part: &str, n: &str) -> Result<String, DialectError> {
    let n = format!("CAST({n} AS INTEGER)");
    Ok(match part {
        "year" => format!("to_years({n})"),
        "quarter" => format!("to_months(3 * {n})"),
        "month" => format!("to_months({n})"),
        "week" => format!("to_days(7 * {n})"),
        "day" => format!("to_days({n})"),
        "hour" => format!("to_hours({n})"),
        "minute" => format!("to_minutes({n})"),
        "second" => format!("to_seconds({n})"),
        "millisecond" => format!("to_milliseconds({n})"),
        "microsecond" => format!("to_microseconds({n})"),
        "decade" => format!("to_years(10 * {n})"),
        "century" => format!("to_years(100 * {n})"),
        "millennium" => format!("to_years(1000 * {n})"),
        other => return Err(DialectError::Refused(format!("DATEADD by {other}"))),
    })
}

/// Boundaries of `part` crossed from `a` to `b`, as Redshift counts them. Weeks are refused:
/// which day Redshift's week boundary falls on is not something this layer can check here.
pub(super) fn datediff(part: &str, a: &str, b: &str) -> Result<String, DialectError> {
    match part {
        "millennium" | "century" | "decade" | "year" | "quarter" | "month" | "day" | "hour" | "minute" | "second"
        | "millisecond" | "microsecond" => {
            Ok(format!("date_diff('{part}', CAST({a} AS TIMESTAMP), CAST({b} AS TIMESTAMP))"))
        }
        other => Err(DialectError::Refused(format!("DATEDIFF by {other}"))),
    }
}

/// `DATE_PART(part, d)` as a `DOUBLE`, Redshift's type. Seconds come whole with their
/// fraction (Redshift's `3.189717`, where DuckDB's part is the integer 3); the sub-second parts
/// are refused, as their Redshift meaning was not checked here.
pub(super) fn date_part(part: &str, d: &str) -> Result<String, DialectError> {
    match part {
        "second" => Ok(format!("CAST(date_part('microsecond', {d}) AS DOUBLE) / 1000000")),
        "millisecond" | "microsecond" => Err(DialectError::Refused(format!("DATE_PART by {part}"))),
        other => Ok(format!("CAST(date_part('{other}', {d}) AS DOUBLE)")),
    }
}

/// Redshift keeps a month-end a month-end (`ADD_MONTHS('2008-02-29', 1)` is March 31st) and
/// returns a timestamp.
pub(super) fn add_months(d: &str, n: &str) -> String {
    let (date, months) = (format!("CAST({d} AS DATE)"), format!("to_months(CAST({n} AS INTEGER))"));
    format!(
        "CASE WHEN {date} = last_day({date}) \
         THEN CAST(last_day({date} + {months}) AS TIMESTAMP) + (CAST({d} AS TIMESTAMP) - CAST({date} AS TIMESTAMP)) \
         ELSE CAST({d} AS TIMESTAMP) + {months} END"
    )
}

/// Months from `b` to `a` as Redshift counts them: whole when both fall on the same day of the
/// month or both on a month's last day, else with the days' difference over a 31-day month;
/// times of day ignored. A `DOUBLE`, as Redshift's `FLOAT8`.
pub(super) fn months_between(a: &str, b: &str) -> String {
    let (a, b) = (format!("CAST({a} AS DATE)"), format!("CAST({b} AS DATE)"));
    let months = format!("CAST((year({a}) - year({b})) * 12 + month({a}) - month({b}) AS DOUBLE)");
    format!(
        "CASE WHEN day({a}) = day({b}) OR ({a} = last_day({a}) AND {b} = last_day({b})) THEN {months} \
         ELSE {months} + CAST(day({a}) - day({b}) AS DOUBLE) / 31 END"
    )
}

/// `TRUNC(x)` of a date or timestamp is its date; of a number, DuckDB's `trunc`. Which one is
/// known only from the argument's form (a cast, a typed literal, a date function — already
/// rewritten, since calls are rewritten inside out); a column's type is not known here, so
/// `TRUNC(column)` stays DuckDB's, which refuses a timestamp by name rather than answer wrongly.
pub(super) fn trunc(arg: &Expr) -> Option<String> {
    is_temporal(arg).then(|| format!("CAST({arg} AS DATE)"))
}

/// Whether `expr` is a date or timestamp by its form alone.
fn is_temporal(expr: &Expr) -> bool {
    let temporal_type = |t: &DataType| {
        matches!(t, DataType::Date | DataType::Timestamp(..) | DataType::Datetime(_) | DataType::TimestampNtz(_))
    };
    match expr {
        Expr::Cast { data_type, .. } => temporal_type(data_type),
        Expr::TypedString(typed) => temporal_type(&typed.data_type),
        Expr::Nested(inner) => is_temporal(inner),
        // `DATEADD`'s form: a timestamp plus or minus an interval (not a difference of two).
        Expr::BinaryOp { left, op: BinaryOperator::Plus | BinaryOperator::Minus, right } => {
            is_temporal(left) && !is_temporal(right)
        }
        Expr::Function(f) => is_temporal_function(f),
        Expr::Case { conditions, .. } => conditions.first().is_some_and(|c| is_temporal(&c.result)),
        _ => false,
    }
}

fn is_temporal_function(f: &Function) -> bool {
    let name = f.name.to_string().to_ascii_lowercase();
    ["date_trunc", "strptime", "last_day", "make_date", "make_timestamp", "get_current_timestamp"]
        .contains(&name.as_str())
}

/// `CONVERT_TIMEZONE([from,] to, ts)`: the engine has no time zone database (no ICU), so only a
/// conversion between UTC's names (an identity) runs; any other zone is refused by name.
pub(super) fn convert_timezone(zones: &[Expr], ts: &Expr) -> Result<String, DialectError> {
    for zone in zones {
        let name = literal(zone).unwrap_or_else(|| zone.to_string());
        if !["UTC", "GMT", "ETC/UTC", "Z", "UCT"].contains(&name.to_ascii_uppercase().as_str()) {
            return Err(DialectError::Refused(format!(
                "CONVERT_TIMEZONE to or from {name} (the local warehouse has no time zone database)"
            )));
        }
    }
    Ok(format!("CAST({ts} AS TIMESTAMP)"))
}
