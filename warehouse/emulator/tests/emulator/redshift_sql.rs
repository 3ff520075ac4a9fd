//! Redshift SQL, unchanged, through the emulator with aws-sdk-rust: the corpus in
//! `redshift/tickit.txt` (the TICKIT schema as the Redshift docs create it, its data, and
//! queries with hand-computed answers), every entry run in order and every value checked.

use std::time::Duration;

use aws_sdk_redshiftdata::Client;
use aws_sdk_redshiftdata::types::{Field, StatusString};
use serde_json::Value;

use super::emulator_contract::{client, start_emulator};

const CORPUS: &str = include_str!("redshift/tickit.txt");

/// One entry: the statement and what must come back.
struct Entry {
    sql: String,
    expected: Expected,
}

enum Expected {
    Ok,
    Rows(Vec<Vec<Value>>),
    /// The result's column labels (`ColumnMetadata` names), as Redshift labels them.
    Columns(Vec<String>),
    Error(String),
}

/// What a statement returned: its column labels and rows.
struct Answer {
    labels: Vec<String>,
    rows: Vec<Vec<Value>>,
}

fn corpus() -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut sql = String::new();
    for line in CORPUS.lines() {
        if line.starts_with("--") || (line.trim().is_empty() && sql.is_empty()) {
            continue;
        }
        let Some(expected) = line.strip_prefix("=> ") else {
            sql.push_str(line);
            sql.push('\n');
            continue;
        };
        let expected = match expected {
            "ok" => Expected::Ok,
            e if e.starts_with("error: ") => Expected::Error(e["error: ".len()..].to_owned()),
            c if c.starts_with("columns: ") => {
                Expected::Columns(serde_json::from_str(&c["columns: ".len()..]).unwrap_or_else(|e| panic!("{c}: {e}")))
            }
            rows => Expected::Rows(serde_json::from_str(rows).unwrap_or_else(|e| panic!("{rows}: {e}"))),
        };
        entries.push(Entry { sql: std::mem::take(&mut sql).trim().trim_end_matches(';').to_owned(), expected });
    }
    entries
}

/// A field as JSON: what the Data API typed it as.
fn value(field: &Field) -> Value {
    match field {
        Field::IsNull(_) => Value::Null,
        Field::BooleanValue(b) => Value::Bool(*b),
        Field::LongValue(n) => Value::from(*n),
        Field::DoubleValue(d) => Value::from(*d),
        Field::StringValue(s) => Value::String(s.clone()),
        other => Value::String(format!("{other:?}")),
    }
}

/// Whether a returned value is the expected one: numbers numerically (a DECIMAL arrives as its
/// string, a DOUBLE as a double), everything else exactly.
fn same(got: &Value, expected: &Value) -> bool {
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    match expected {
        Value::Number(_) => number(got).zip(number(expected)).is_some_and(|(a, b)| (a - b).abs() < 1e-9),
        _ => got == expected,
    }
}

async fn run(client: &Client, sql: &str) -> Result<Answer, String> {
    let out = client.execute_statement().cluster_identifier("c").database("dev").db_user("u").sql(sql).send().await;
    let id = out.map_err(|e| format!("{e:?}"))?.id.unwrap_or_default();
    let described = loop {
        let d = client.describe_statement().id(&id).send().await.unwrap();
        if matches!(d.status(), Some(StatusString::Finished | StatusString::Failed | StatusString::Aborted)) {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    if described.status() != Some(&StatusString::Finished) {
        return Err(described.error().unwrap_or_default().to_owned());
    }
    if !described.has_result_set().unwrap_or(false) {
        return Ok(Answer { labels: Vec::new(), rows: Vec::new() });
    }
    let page = client.get_statement_result().id(&id).send().await.unwrap();
    let labels = page.column_metadata().iter().map(|c| c.name().unwrap_or_default().to_owned()).collect();
    Ok(Answer { labels, rows: page.records().iter().map(|row| row.iter().map(value).collect()).collect() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tickit_corpus_runs_with_redshifts_answers() {
    let dir = tempfile::tempdir().unwrap();
    let client = client(&start_emulator(dir.path(), 8).await).await;
    let entries = corpus();
    let mut wrong = Vec::new();
    for entry in &entries {
        let got = run(&client, &entry.sql).await;
        let fine = match (&entry.expected, &got) {
            (Expected::Ok, Ok(_)) => true,
            (Expected::Rows(rows), Ok(Answer { rows: got, .. })) => {
                got.len() == rows.len()
                    && got.iter().zip(rows).all(|(g, e)| g.len() == e.len() && g.iter().zip(e).all(|(g, e)| same(g, e)))
            }
            (Expected::Columns(labels), Ok(got)) => got.labels == *labels,
            (Expected::Error(text), Err(error)) => error.contains(text.as_str()),
            _ => false,
        };
        if !fine {
            let got = got.map(|a| format!("{:?} {:?}", a.labels, a.rows));
            wrong.push(format!("{}\n  got {got:?}", entry.sql));
        }
    }
    assert!(wrong.is_empty(), "{} of {} entries wrong:\n{}", wrong.len(), entries.len(), wrong.join("\n"));
    let count = |f: fn(&Expected) -> bool| entries.iter().filter(|e| f(&e.expected)).count();
    let rows = count(|e| matches!(e, Expected::Rows(_) | Expected::Columns(_)));
    let refused = count(|e| matches!(e, Expected::Error(_)));
    assert!(entries.len() >= 100 && rows >= 80, "a corpus of {} statements, {rows} with values", entries.len());
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "{} statements ran as expected: {rows} answers checked value by value, {refused} refused by name",
            entries.len()
        );
    }
}
