//! Every kind of column the engine can produce comes back as rows or as a clean error, never a
//! hung statement: after many of the oddest, the warehouse still answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, StatusCode};
use serde_json::json;
use spectra_api::RateLimits;

use crate::common::{Stack, code};

const EXOTIC: [&str; 24] = [
    "SELECT NULL AS v",
    "SELECT NULL",
    "SELECT NULL AS a, 1 AS b, NULL AS c",
    "SELECT getvariable('x') AS v",
    "SELECT [] AS v",
    "SELECT [NULL] AS v",
    "SELECT {} AS v",
    "SELECT MAP {1: 'a', 2: 'b'} AS v",
    "SELECT union_value(k := 1) AS v",
    "SELECT [[1, 2], [3]] AS v",
    "SELECT {'a': [1, 2], 'b': {'c': NULL}} AS v",
    "SELECT [1, 2, 3]::INTEGER[3] AS v",
    "SELECT INTERVAL 1 DAY + INTERVAL 3 MONTH AS v",
    "SELECT 12345678901234567890123456789012345.123::DECIMAL(38, 3) AS v",
    "SELECT 170141183460469231731687303715884105727::HUGEINT AS v",
    "SELECT 340282366920938463463374607431768211455::UHUGEINT AS v",
    "SELECT '\\xAA\\xBB'::BLOB AS v",
    "SELECT '101'::BITSTRING AS v",
    "SELECT TIME '10:11:12.345' AS v, TIMETZ '10:11:12+02' AS w",
    "SELECT TIMESTAMP_NS '2024-01-01 00:00:00.123456789' AS v",
    "SELECT 'x'::ENUM('x', 'y') AS v",
    "SELECT gen_random_uuid() IS NOT NULL AS v",
    "SELECT 'infinity'::DOUBLE AS v, 'nan'::FLOAT AS w",
    "SELECT 1::UTINYINT AS a, 2::USMALLINT AS b, 3::UINTEGER AS c, 4::UBIGINT AS d",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_result_type_answers_and_the_warehouse_keeps_answering() {
    let limits = RateLimits {
        queries: 100_000,
        job_reads: 100_000,
        bulk_creates: 100_000,
        bulk_reads: 100_000,
        window_seconds: 60,
    };
    let s = Stack::start_with(limits).await;
    let key = s.key("acme").await;
    let query = |sql: &str| s.call(&key, "acme", Method::POST, "/v1/queries", Some(json!({"sql": sql})));
    for sql in EXOTIC {
        let (status, body) = query(sql).await;
        assert!(
            status == StatusCode::OK || (status == StatusCode::BAD_REQUEST && !code(&body).is_empty()),
            "{sql}: {status} {body}"
        );
    }
    // Nested values come back as JSON text, as the Data API returns SUPER. (Made by the
    // operator: the guard speaks Redshift, which has no literals for them.)
    s.sql(
        "CREATE TABLE nested AS SELECT [[1, 2], [3]] AS l, {'a': [1, 2], 'b': {'c': NULL}} AS s, \
         MAP {1: 'a'} AS m, union_value(k := 7) AS u, 'x'::ENUM('x', 'y') AS e",
    )
    .await;
    for (sql, want) in [
        ("SELECT l AS v FROM nested", "[[1,2],[3]]"),
        ("SELECT s AS v FROM nested", r#"{"a":[1,2],"b":{"c":null}}"#),
        ("SELECT m AS v FROM nested", r#"[{"key":1,"value":"a"}]"#),
        ("SELECT u AS v FROM nested", "7"),
        ("SELECT e AS v FROM nested", "x"),
    ] {
        let (status, body) = query(sql).await;
        assert_eq!((status, &body["data"][0]["v"]), (StatusCode::OK, &json!(want)), "{sql}: {body}");
    }
    let (status, body) = query("SELECT NULL AS v").await;
    assert_eq!((status, &body["data"]), (StatusCode::OK, &json!([{"v": null}])), "{body}");
    // More than the active-statement limit (16) of the statements that used to hang.
    for _ in 0..20 {
        let (status, body) = query("SELECT NULL AS v, [] AS w").await;
        assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{status} {body}");
    }
    let (status, body) = query("SELECT 1 AS one").await;
    assert_eq!((status, &body["data"]), (StatusCode::OK, &json!([{"one": 1}])), "{body}");
}
