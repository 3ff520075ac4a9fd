//! Ingest jobs through `spectra up`: insert, upsert, update and delete, each checked by
//! querying the table; rejected rows under MAXERROR; a bad upload.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use serde_json::json;

fn rows(data: &std::path::Path) -> serde_json::Value {
    serde_json::Value::Array(sql(data, "SELECT id, name, tier FROM customers ORDER BY id"))
}

#[test]
fn insert_upsert_update_and_delete_change_exactly_what_they_should() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _up = up(&data, &[]);
    sql(&data, "CREATE TABLE customers (id INTEGER, name VARCHAR, tier VARCHAR)");
    sql(&data, "INSERT INTO customers VALUES (1, 'Ann', 'free'), (2, 'Bob', 'free'), (3, 'Cy', 'pro')");

    // insert: the header names the columns, in any order.
    let job = create(&data, &["--operation", "insert", "--object", "customers"]);
    assert_eq!(get(&data, &job)["state"], "Open");
    let f = file(dir.path(), "new.csv", "tier,id,name\npro,4,Dee\nfree,5,\"Eve, Jr.\"\n");
    upload_and_close(&data, &job, &[&f]);
    let record = wait_done(&data, &job);
    assert_eq!((record["state"].clone(), record["number_records_processed"].clone()), (json!("JobComplete"), json!(2)));
    assert_eq!(
        rows(&data),
        json!([[1, "Ann", "free"], [2, "Bob", "free"], [3, "Cy", "pro"], [4, "Dee", "pro"], [5, "Eve, Jr.", "free"]])
    );

    // upsert: existing rows updated (only the uploaded columns), new rows inserted.
    let job = create(&data, &["--operation", "upsert", "--object", "customers", "--primary-key", "id"]);
    let f = file(dir.path(), "upsert.csv", "id,tier\n1,gold\n6,new\n");
    upload_and_close(&data, &job, &[&f]);
    let record = wait_done(&data, &job);
    assert_eq!(record["state"], "JobComplete", "{record:#}");
    assert_eq!(record["number_records_processed"], 2);
    assert_eq!(
        rows(&data),
        json!([
            [1, "Ann", "gold"],
            [2, "Bob", "free"],
            [3, "Cy", "pro"],
            [4, "Dee", "pro"],
            [5, "Eve, Jr.", "free"],
            [6, null, "new"]
        ])
    );

    // update: matching rows change, unknown keys are not inserted; two parts load together.
    let job = create(&data, &["--operation", "update", "--object", "customers", "--primary-key", "id"]);
    let a = file(dir.path(), "update-a.csv", "id,name\n2,Bobby\n");
    let b = file(dir.path(), "update-b.csv", "id,name\n99,Ghost\n6,Fay\n");
    upload_and_close(&data, &job, &[&a, &b]);
    assert_eq!(wait_done(&data, &job)["state"], "JobComplete");
    assert_eq!(
        rows(&data),
        json!([
            [1, "Ann", "gold"],
            [2, "Bobby", "free"],
            [3, "Cy", "pro"],
            [4, "Dee", "pro"],
            [5, "Eve, Jr.", "free"],
            [6, "Fay", "new"]
        ])
    );

    // delete: by key, from a JSON upload.
    let job = create(
        &data,
        &["--operation", "delete", "--object", "customers", "--primary-key", "id", "--content-type", "JSON"],
    );
    let f = file(dir.path(), "delete.json", "{\"id\": 3}\n{\"id\": 5}\n{\"id\": 42}\n");
    upload_and_close(&data, &job, &[&f]);
    let record = wait_done(&data, &job);
    assert_eq!(record["state"], "JobComplete", "{record:#}");
    assert_eq!(rows(&data), json!([[1, "Ann", "gold"], [2, "Bobby", "free"], [4, "Dee", "pro"], [6, "Fay", "new"]]));
}

#[test]
fn rejected_rows_are_counted_and_listed_in_a_failed_records_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _up = up(&data, &["--max-error", "5"]);
    sql(&data, "CREATE TABLE readings (id INTEGER, value DOUBLE)");
    let job = create(&data, &["--operation", "insert", "--object", "readings"]);
    let f = file(dir.path(), "readings.csv", "id,value\n1,1.5\ntwo,2.5\n3,3.5\n4,not-a-number\n5,5.5\n");
    upload_and_close(&data, &job, &[&f]);
    let record = wait_done(&data, &job);
    assert_eq!(record["state"], "JobComplete", "{record:#}");
    assert_eq!(record["number_records_processed"], 5);
    assert_eq!(record["number_records_failed"], 2);
    assert_eq!(scalar(&data, "SELECT count(*) FROM readings"), 3);
    let results = results(&data, &job);
    let failed = String::from_utf8(download(results["failed_records"]["download_url"].as_str().unwrap())).unwrap();
    let lines: Vec<&str> = failed.lines().collect();
    assert_eq!(lines[0], "spectra__line,spectra__error,id,value");
    assert_eq!(lines.len(), 3, "{failed}");
    assert!(lines[1].starts_with("3,") && lines[1].ends_with(",two,2.5"), "{failed}");
    assert!(lines[2].starts_with("5,") && lines[2].ends_with(",4,not-a-number"), "{failed}");

    // Past MAXERROR the whole load fails and nothing is written.
    let job = create(&data, &["--operation", "insert", "--object", "readings"]);
    let bad: String = std::iter::once("id,value\n".to_owned()).chain((0..6).map(|i| format!("x{i},1\n"))).collect();
    let f = file(dir.path(), "bad.csv", &bad);
    upload_and_close(&data, &job, &[&f]);
    let record = wait_done(&data, &job);
    assert_eq!(record["state"], "Failed");
    assert!(record["error"]["message"].as_str().unwrap().contains("MAXERROR"), "{record:#}");
    assert_eq!(scalar(&data, "SELECT count(*) FROM readings"), 3);
}

#[test]
fn uploads_that_cannot_load_fail_the_job_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _up = up(&data, &[]);
    sql(&data, "CREATE TABLE t (id INTEGER, name VARCHAR)");
    // A header that is not a column name.
    let job = create(&data, &["--operation", "upsert", "--object", "t", "--primary-key", "id"]);
    let f = file(dir.path(), "bad-header.csv", "id,\"first name\"\n1,x\n");
    upload_and_close(&data, &job, &[&f]);
    let record = wait_done(&data, &job);
    assert_eq!(
        (record["state"].as_str(), record["error"]["code"].as_str()),
        (Some("Failed"), Some("STATEMENT_REJECTED"))
    );
    assert!(record["error"]["message"].as_str().unwrap().contains("first name"), "{record:#}");
    // Nothing uploaded.
    let job = create(&data, &["--operation", "insert", "--object", "t"]);
    bulk(&data, &["close", &job]);
    let record = wait_done(&data, &job);
    assert!(record["error"]["message"].as_str().unwrap().contains("nothing was uploaded"), "{record:#}");
    // A column the table does not have: the warehouse refuses the load.
    let job = create(&data, &["--operation", "insert", "--object", "t"]);
    let f = file(dir.path(), "extra.csv", "id,nickname\n1,x\n");
    upload_and_close(&data, &job, &[&f]);
    let record = wait_done(&data, &job);
    assert_eq!(record["error"]["code"], "STATEMENT_FAILED", "{record:#}");
    assert_eq!(scalar(&data, "SELECT count(*) FROM t"), 0);
}
