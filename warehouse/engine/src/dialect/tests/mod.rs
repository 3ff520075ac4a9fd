//! One test per row of the translation table: the Redshift statement is translated and run on
//! the engine as `spectra up` and the emulator open it (hermetic: no extension, no ICU), and
//! the value is Redshift's. The emulator's corpus (`warehouse/emulator/tests/emulator/
//! redshift/tickit.txt`) runs the same constructs through the Data API over real tables.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use duckdb::Connection;

use super::{Session, translate};

mod catalog;

const SESSION: Session<'static> = Session { user: "analyst", database: "tickit" };

fn engine() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let (conn, _) = crate::engine::open(&dir.path().join("w.duckdb"), &dir.path().join("objects")).unwrap();
    (dir, conn)
}

/// Runs `sql` (translated when it needs to be) on `conn`.
fn run(conn: &Connection, sql: &str) {
    let sql = translate(sql, &SESSION).unwrap().unwrap_or_else(|| sql.to_owned());
    conn.execute_batch(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The one value of a one-row, one-column Redshift query, as text.
fn value(conn: &Connection, sql: &str) -> String {
    let sql = translate(sql, &SESSION).unwrap().unwrap_or_else(|| sql.to_owned());
    conn.query_row(&format!("SELECT CAST(({sql}) AS VARCHAR)"), [], |r| r.get::<_, Option<String>>(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| "NULL".into())
}

fn answer(sql: &str) -> String {
    let (_dir, conn) = engine();
    value(&conn, sql)
}

fn refusal(sql: &str) -> String {
    translate(sql, &SESSION).expect_err(sql).to_string()
}

macro_rules! values {
    ($($name:ident: $sql:expr => $want:expr;)*) => {
        $(
            #[test]
            fn $name() {
                assert_eq!(answer($sql), $want, "{}", $sql);
            }
        )*
    };
}

values! {
    approximate_count_is_an_exact_count: "SELECT APPROXIMATE COUNT(DISTINCT x) FROM (VALUES (1), (2), (2)) t(x)" => "2";
    getdate_is_now_to_the_second: "SELECT extract(microsecond FROM GETDATE()) % 1000000" => "0";
    current_date_needs_no_extension: "SELECT CURRENT_DATE = CAST(SYSDATE AS DATE)" => "true";
    sysdate_is_now: "SELECT SYSDATE > '2020-01-01'::timestamp AND SYSDATE < '2200-01-01'::timestamp" => "true";
    dateadd_adds_unquoted_parts: "SELECT DATEADD(month, 1, '2008-01-31'::date)" => "2008-02-29 00:00:00";
    datediff_counts_boundaries: "SELECT DATEDIFF(day, '2008-01-01 23:59'::timestamp, '2008-01-02 00:01'::timestamp)" => "1";
    date_part_takes_unquoted_parts: "SELECT DATE_PART(month, '2008-06-01'::date)" => "6.0";
    date_part_of_seconds_keeps_the_fraction: "SELECT DATE_PART(sec, '2009-09-21 11:10:03.189717'::timestamp)" => "3.189717";
    dateadd_and_datediff_take_every_redshift_part: "SELECT DATEDIFF(ms, '2009-01-01 00:00:00'::timestamp, DATEADD(decade, 1, '2009-01-01'::date) + INTERVAL 5 MILLISECOND) - 315532800000" => "5";
    add_months_keeps_month_ends: "SELECT ADD_MONTHS('2008-02-29'::date, 1)" => "2008-03-31 00:00:00";
    to_char_formats_with_redshift_elements: "SELECT TO_CHAR('2008-02-14 10:45:00'::timestamp, 'DD Mon YYYY HH24:MI')" => "14 Feb 2008 10:45";
    to_date_parses_with_redshift_elements: "SELECT TO_DATE('13/03/2008', 'DD/MM/YYYY')" => "2008-03-13";
    to_char_upper_cases_and_pads_names: "SELECT TO_CHAR('2008-02-14 10:45:00'::timestamp, 'MON-YY Month|Day|dy|Q|D|DDD|yyyy.mm.dd hh:mi am')" => "FEB-08 February |Thursday |thu|1|5|045|2008.02.14 10:45 am";
    to_date_reads_upper_case_month_names: "SELECT TO_DATE('14-FEB-2008', 'DD-MON-YYYY')" => "2008-02-14";
    decode_matches_nulls_too: "SELECT DECODE(NULL, 1, 'one', NULL, 'null', 'other')" => "null";
    decode_falls_back_to_its_default: "SELECT DECODE(3, 1, 'one', 2, 'two', 'other')" => "other";
    nvl_is_coalesce: "SELECT NVL(NULL, NULL, 'c')" => "c";
    nvl2_picks_by_nullness: "SELECT NVL2(NULL, 'set', 'unset')" => "unset";
    charindex_is_strpos_reversed: "SELECT CHARINDEX('Park', 'Toyota Park')" => "8";
    convert_is_a_cast: "SELECT CONVERT(integer, '42') + 1" => "43";
    listagg_is_an_ordered_string_agg: "SELECT LISTAGG(x, ',') WITHIN GROUP (ORDER BY x DESC) FROM (VALUES ('a'), ('c'), ('b')) t(x)" => "c,b,a";
    listagg_without_a_delimiter_has_none: "SELECT LISTAGG(x) WITHIN GROUP (ORDER BY x) FROM (VALUES ('a'), ('b')) t(x)" => "ab";
    regexp_replace_replaces_every_match: "SELECT REGEXP_REPLACE('a-b-c', '-', '+')" => "a+b+c";
    regexp_substr_extracts: "SELECT REGEXP_SUBSTR('rtaylor@kent.example.com', '@[^.]*')" => "@kent";
    regexp_count_counts: "SELECT REGEXP_COUNT('abcabc', 'b')" => "2";
    similar_to_translates_percent: "SELECT 'Reagan' SIMILAR TO '%(ar|ag)%'" => "true";
    similar_to_is_anchored: "SELECT 'xab' SIMILAR TO 'a_'" => "false";
    json_extract_path_text_follows_keys: "SELECT JSON_EXTRACT_PATH_TEXT('{\"f4\":{\"f6\":\"star\"}}', 'f4', 'f6')" => "star";
    json_extract_path_text_of_a_missing_key_is_empty: "SELECT JSON_EXTRACT_PATH_TEXT('{\"a\":1}', 'b')" => "";
    integers_divide_as_integers: "SELECT 7 / 2" => "3";
    months_between_counts_whole_months_on_the_same_day: "SELECT MONTHS_BETWEEN('1969-03-18', '1969-01-18')" => "2.0";
    months_between_counts_whole_months_between_month_ends: "SELECT MONTHS_BETWEEN('2008-03-31'::date, '2008-02-29'::date)" => "1.0";
    months_between_counts_days_over_31: "SELECT round(MONTHS_BETWEEN('2008-01-15'::date, '2008-03-31'::date), 6)" => "-2.516129";
    trunc_of_a_timestamp_is_its_date: "SELECT TRUNC('2008-02-14 10:45:00'::timestamp)" => "2008-02-14";
    trunc_of_sysdate_is_today: "SELECT TRUNC(SYSDATE) = CURRENT_DATE" => "true";
    trunc_of_a_number_is_a_number: "SELECT TRUNC(111.86)" => "111";
    convert_timezone_between_utc_names: "SELECT CONVERT_TIMEZONE('UTC', 'GMT', '2008-02-14 10:45:00'::timestamp)" => "2008-02-14 10:45:00";
    avg_of_integers_is_a_truncated_integer: "SELECT AVG(x) FROM (VALUES (1), (2), (2)) t(x)" => "1";
    avg_of_negative_integers_truncates_toward_zero: "SELECT AVG(x) FROM (VALUES (-1), (-2)) t(x)" => "-1";
    avg_of_doubles_is_a_double: "SELECT AVG(x) FROM (VALUES (1.0::float8), (2.0::float8)) t(x)" => "1.5";
    avg_distinct_and_over: "SELECT max(a) FROM (SELECT AVG(DISTINCT x) OVER () AS a FROM (VALUES (1), (1), (4)) t(x))" => "2";
    ratio_to_report_is_a_share_of_the_partition: "SELECT r FROM (SELECT x, RATIO_TO_REPORT(x) OVER () AS r FROM (VALUES (1), (3)) t(x)) WHERE x = 1" => "0.25";
    initcap_capitalises_each_word: "SELECT INITCAP('the SAN francisco-based o''neil')" => "The San Francisco-Based O'Neil";
    strtol_reads_a_base: "SELECT STRTOL('0xf', 16) + STRTOL('-101', 2) + STRTOL('z', 36)" => "45";
    strtol_of_a_bad_digit_is_null: "SELECT STRTOL('12', 2)" => "NULL";
    strtol_and_initcap_of_empty_and_null_strings: "SELECT concat_ws('|', coalesce(CAST(STRTOL('', 10) AS VARCHAR), 'null'), \
        coalesce(CAST(STRTOL(NULL, 10) AS VARCHAR), 'null'), '[' || INITCAP('') || ']', coalesce(INITCAP(NULL), 'null'))" => "null|null|[]|null";
    to_number_reads_digits_by_the_format: "SELECT TO_NUMBER('-12,454.8', '99G999D9S')" => "-12454.8";
    to_number_with_currency: "SELECT TO_NUMBER('$ 1,234.50', 'L9,999.99')" => "1234.50";
}

#[test]
fn physical_clauses_are_dropped_and_the_table_works() {
    let (_dir, conn) = engine();
    run(
        &conn,
        "create table s (a int not null distkey sortkey, b varchar(9) encode lzo) diststyle key compound sortkey(a, b) backup no",
    );
    run(&conn, "create table c distkey(a) interleaved sortkey(a) as select 1 as a");
    run(&conn, "insert into s values (1, 'x')");
    assert_eq!(value(&conn, "select count(*) from s join c on s.a = c.a"), "1");
}

#[test]
fn identity_columns_number_rows_from_their_seed_by_their_step() {
    let (_dir, conn) = engine();
    run(&conn, "create table public.v (venueid bigint identity(10, 5), name varchar(20) encode zstd) diststyle even");
    run(&conn, "create table w (id int generated by default as identity, name varchar(20))");
    run(&conn, "insert into v (name) values ('a'), ('b'); insert into w (name) values ('x')");
    assert_eq!(value(&conn, "select listagg(venueid, ',') within group (order by venueid) from v"), "10,15");
    assert_eq!(value(&conn, "select max(id) from w"), "1");
    // Created again, the table starts again at its seed.
    run(&conn, "drop table v");
    run(&conn, "create table v (venueid bigint identity(10, 5), name varchar(20))");
    run(&conn, "insert into v (name) values ('c')");
    assert_eq!(value(&conn, "select venueid from v"), "10");
}

#[test]
fn top_becomes_limit_and_select_into_a_table() {
    let (_dir, conn) = engine();
    run(&conn, "select x into t from (values (3), (1), (2)) v(x)");
    assert_eq!(value(&conn, "select top 1 x from t order by x desc"), "3");
    run(&conn, "vacuum delete only t to 75 percent");
}

#[test]
fn unaliased_calls_are_labelled_by_their_function() {
    let (_dir, conn) = engine();
    let sql = "SELECT count(*), sum(x), x, x::int, x + 1, 2, CASE WHEN x > 1 THEN 1 END, \
               DATE_PART(year, '2008-01-01'::date), EXTRACT(year FROM '2008-01-01'::date) FROM (VALUES (1), (2)) t(x) \
               GROUP BY x UNION SELECT max(1), 1, 1, 1, 1, 1, 1, 1, 1";
    let sql = translate(sql, &SESSION).unwrap().unwrap();
    let mut stmt = conn.prepare(&sql).unwrap();
    stmt.raw_execute().unwrap();
    assert_eq!(
        stmt.column_names(),
        ["count", "sum", "x", "x", "?column?", "?column?", "case", "pgdate_part", "date_part"]
    );
}

#[test]
fn repeated_labels_do_not_break_subqueries_inserts_or_views() {
    let (_dir, conn) = engine();
    run(&conn, "create table t (a int, b int)");
    run(&conn, "insert into t select 1 + 0, 2 * 1");
    run(&conn, "create view v as select a, b from (select a + 0, b + 0 from t) s(a, b)");
    assert_eq!(value(&conn, "select count(*) from (select 1, 2, count(*), count(a) from t) x"), "1");
    assert_eq!(value(&conn, "select sum(b) from v where exists (select 1 from t)"), "2");
}

#[test]
fn what_is_not_emulated_is_refused_by_name() {
    assert!(refusal("create table t (id bigint generated always as identity)").contains("GENERATED"));
    assert!(refusal("select datediff(week, a, b) from t").contains("DATEDIFF by week"));
    assert!(refusal("select to_char(d, 'YYYY-WW') from t").contains("\"WW\""));
    assert!(refusal("select listagg(x, ',') over () from t").contains("LISTAGG as a window function"));
    assert!(refusal("select x from t where x similar to y").contains("SIMILAR TO"));
    assert!(refusal("select convert_timezone('America/New_York', ts) from t").contains("America/New_York"));
    assert!(refusal("select to_number(s, '9.9EEEE') from t").contains("TO_NUMBER"));
    assert!(refusal("select ratio_to_report(x) from t").contains("RATIO_TO_REPORT without OVER"));
    assert!(refusal("analyze compression listing").contains("ANALYZE COMPRESSION"));
}

#[test]
fn statements_that_need_nothing_run_as_written() {
    for sql in [
        "SELECT i FROM range(3) t(i)",
        "SELECT * EXCLUDE (a) FROM t",
        "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE",
        "SELECT 'an unclosed quote",
        "CREATE TABLE t (a int distkey, b varchar(3) DEFAULT 'unclosed)",
    ] {
        assert_eq!(translate(sql, &SESSION), Ok(None), "{sql}");
    }
}
