//! The emulator's operations one by one with aws-sdk-rust, as a user's own CI would call them:
//! shapes the SDK parses, paging across pages, CSV results (V2), the catalog operations,
//! sessions, client tokens, and UNLOAD/COPY against S3 (moto).

use std::time::Duration;

use aws_sdk_redshiftdata::Client;
use aws_sdk_redshiftdata::types::{Field, ResultFormatString, StatusString};

use super::emulator_contract::{REGION, client, start_emulator};
use super::moto::{Moto, fresh, s3};

async fn emulator(max_active: usize) -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let url = start_emulator(dir.path(), max_active).await;
    (dir, client(&url).await)
}

/// Runs one statement on cluster `c` and waits for it to end; its id.
async fn run(client: &Client, sql: &str) -> String {
    let out =
        client.execute_statement().cluster_identifier("c").database("dev").db_user("u").sql(sql).send().await.unwrap();
    let id = out.id.unwrap();
    wait(client, &id).await;
    id
}

async fn wait(
    client: &Client,
    id: &str,
) -> aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput {
    for _ in 0..600 {
        let d = client.describe_statement().id(id).send().await.unwrap();
        if matches!(d.status(), Some(StatusString::Finished | StatusString::Failed | StatusString::Aborted)) {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("statement {id} never ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_page_in_json_and_csv() {
    let (_dir, client) = emulator(8).await;
    let id = run(&client, "SELECT i AS id, 'n' || i AS name FROM range(2500) t(i) ORDER BY i").await;
    let mut token = None;
    let (mut pages, mut rows) = (0, Vec::new());
    loop {
        let page = client.get_statement_result().id(&id).set_next_token(token).send().await.unwrap();
        pages += 1;
        assert_eq!(page.total_num_rows(), 2500);
        assert_eq!(page.column_metadata()[0].type_name(), Some("int8"));
        rows.extend(page.records().iter().map(|r| match &r[0] {
            Field::LongValue(v) => *v,
            other => panic!("{other:?}"),
        }));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert!(pages >= 3, "{pages} pages");
    assert_eq!(rows, (0..2500).collect::<Vec<i64>>());

    let out = client
        .execute_statement()
        .workgroup_name("wg")
        .database("dev")
        .result_format(ResultFormatString::Csv)
        .sql("SELECT 1 AS a, 'x,y' AS b UNION ALL SELECT 2, NULL ORDER BY a")
        .send()
        .await
        .unwrap();
    let id = out.id.unwrap();
    assert_eq!(wait(&client, &id).await.result_format(), Some(&ResultFormatString::Csv));
    let v1 = client.get_statement_result().id(&id).send().await.unwrap_err();
    assert_eq!(
        v1.as_service_error().and_then(|e| aws_sdk_redshiftdata::error::ProvideErrorMetadata::code(e)),
        Some("ValidationException")
    );
    let v2 = client.get_statement_result_v2().id(&id).send().await.unwrap();
    let csv = match &v2.records()[0] {
        aws_sdk_redshiftdata::types::QueryRecords::CsvRecords(text) => text.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(csv, "a,b\n1,\"x,y\"\n2,\n");
    assert_eq!(v2.total_num_rows(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_statements_filters_and_pages() {
    let (_dir, client) = emulator(8).await;
    let prefix = fresh("job");
    for n in 0..7 {
        let out = client
            .execute_statement()
            .cluster_identifier("c")
            .database("dev")
            .db_user("u")
            .statement_name(format!("{prefix}:{n}"))
            .sql(format!("SELECT {n}"))
            .send()
            .await
            .unwrap();
        wait(&client, out.id().unwrap()).await;
    }
    let (mut seen, mut token, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = client
            .list_statements()
            .statement_name(&prefix)
            .status(StatusString::All)
            .max_results(3)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.statements().iter().map(|s| s.statement_name().unwrap().to_owned()));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert_eq!(seen[0], format!("{prefix}:6"), "newest first");
    let bad = client.list_statements().max_results(101).send().await.unwrap_err();
    assert_eq!(aws_sdk_redshiftdata::error::ProvideErrorMetadata::code(&bad), Some("ValidationException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_operations_describe_the_engine() {
    let (_dir, client) = emulator(8).await;
    run(&client, "CREATE SCHEMA sales").await;
    run(&client, "CREATE TABLE sales.orders (id BIGINT NOT NULL, amount DECIMAL(12,2), note VARCHAR)").await;
    run(&client, "CREATE VIEW sales.big AS SELECT * FROM sales.orders WHERE amount > 100").await;
    let dbs = client.list_databases().cluster_identifier("c").database("dev").db_user("u").send().await.unwrap();
    assert_eq!(dbs.databases(), ["dev"]);
    let schemas =
        client.list_schemas().cluster_identifier("c").database("dev").schema_pattern("sal%").send().await.unwrap();
    assert_eq!(schemas.schemas(), ["sales"]);
    let tables =
        client.list_tables().cluster_identifier("c").database("dev").schema_pattern("sales").send().await.unwrap();
    let listed: Vec<(String, String)> =
        tables.tables().iter().map(|t| (t.name().unwrap().to_owned(), t.r#type().unwrap().to_owned())).collect();
    assert_eq!(listed, [("big".to_owned(), "VIEW".to_owned()), ("orders".to_owned(), "TABLE".to_owned())]);
    let table = client
        .describe_table()
        .cluster_identifier("c")
        .database("dev")
        .schema("sales")
        .table("orders")
        .send()
        .await
        .unwrap();
    let columns: Vec<(String, String)> =
        table.column_list().iter().map(|c| (c.name().unwrap().to_owned(), c.type_name().unwrap().to_owned())).collect();
    assert_eq!(
        columns,
        [("id".into(), "int8".into()), ("amount".into(), "numeric".into()), ("note".into(), "varchar".into())]
    );
    assert_eq!(table.column_list()[1].scale(), 2);
    assert_eq!(table.table_name(), Some("orders"));
    let missing = client.list_tables().database("dev").send().await.unwrap_err();
    assert_eq!(
        aws_sdk_redshiftdata::error::ProvideErrorMetadata::code(&missing),
        Some("ValidationException"),
        "no target"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_client_tokens_and_errors() {
    let (_dir, client) = emulator(1).await;
    let first = client
        .execute_statement()
        .cluster_identifier("c")
        .database("dev")
        .db_user("u")
        .session_keep_alive_seconds(60)
        .sql("SELECT 1")
        .send()
        .await
        .unwrap();
    let session = first.session_id().expect("a session id").to_owned();
    wait(&client, first.id().unwrap()).await;
    let again = client.execute_statement().session_id(&session).sql("SELECT 2").send().await.unwrap();
    let d = wait(&client, again.id().unwrap()).await;
    assert_eq!((d.session_id(), d.cluster_identifier(), d.db_user()), (Some(session.as_str()), Some("c"), Some("u")));
    let gone = client.execute_statement().session_id("no-such-session").sql("SELECT 3").send().await.unwrap_err();
    assert_eq!(aws_sdk_redshiftdata::error::ProvideErrorMetadata::code(&gone), Some("ValidationException"));

    let submit = |token: &str| {
        client
            .execute_statement()
            .cluster_identifier("c")
            .database("dev")
            .db_user("u")
            .client_token(token)
            .sql("SELECT 42")
            .send()
    };
    let one = submit("token-1").await.unwrap();
    wait(&client, one.id().unwrap()).await;
    assert_eq!(submit("token-1").await.unwrap().id(), one.id(), "a replayed token returns the first id");

    let long = client
        .execute_statement()
        .cluster_identifier("c")
        .database("dev")
        .db_user("u")
        .sql("SELECT count(*) FROM range(1000000000000)")
        .send()
        .await
        .unwrap();
    let busy = submit("token-2").await.unwrap_err();
    assert_eq!(
        aws_sdk_redshiftdata::error::ProvideErrorMetadata::code(&busy),
        Some("ActiveStatementsExceededException")
    );
    assert!(client.cancel_statement().id(long.id().unwrap()).send().await.unwrap().status().unwrap_or(false));
    assert_eq!(wait(&client, long.id().unwrap()).await.status(), Some(&StatusString::Aborted));
    let ended = client.cancel_statement().id(long.id().unwrap()).send().await.unwrap_err();
    assert_eq!(aws_sdk_redshiftdata::error::ProvideErrorMetadata::code(&ended), Some("ValidationException"));
    let unknown = client.describe_statement().id("00000000-0000-0000-0000-000000000000").send().await.unwrap_err();
    assert!(unknown.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()), "{unknown:?}");
}

/// UNLOAD writes to S3 (moto) and COPY reads from it: the emulator's data moves through the real
/// S3 protocol, not a local directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unload_and_copy_go_through_s3() {
    let (_dir, client) = emulator(8).await;
    let moto = Moto::in_region(REGION).await;
    let s3 = s3(&moto);
    let bucket = fresh("bucket");
    let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
        .build();
    s3.create_bucket().bucket(&bucket).create_bucket_configuration(location).send().await.unwrap();
    run(&client, "CREATE TABLE src AS SELECT i AS id, 'v' || i AS v FROM range(1000) t(i)").await;
    let unload = format!(
        "UNLOAD ('SELECT id, v FROM src') TO 's3://{bucket}/out/part_' IAM_ROLE 'arn:aws:iam::1:role/r' FORMAT AS CSV HEADER MANIFEST VERBOSE ALLOWOVERWRITE"
    );
    let d = wait(&client, &run_raw(&client, &unload).await).await;
    assert_eq!(d.status(), Some(&StatusString::Finished), "{:?}", d.error());
    let listed = s3.list_objects_v2().bucket(&bucket).prefix("out/").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(keys.contains(&"out/part_manifest"), "{keys:?}");
    run(&client, "CREATE TABLE dst (id BIGINT, v VARCHAR)").await;
    let copy = format!(
        "COPY dst (id, v) FROM 's3://{bucket}/out/part_manifest' IAM_ROLE 'arn:aws:iam::1:role/r' FORMAT AS CSV IGNOREHEADER 1 MANIFEST"
    );
    let d = wait(&client, &run_raw(&client, &copy).await).await;
    assert_eq!(d.status(), Some(&StatusString::Finished), "{:?}", d.error());
    assert_eq!(d.result_rows(), 1000);
    let missing = format!("COPY dst FROM 's3://{bucket}/nothing/' IAM_ROLE 'arn:aws:iam::1:role/r' FORMAT AS CSV");
    let d = wait(&client, &run_raw(&client, &missing).await).await;
    assert_eq!(d.status(), Some(&StatusString::Failed));
}

async fn run_raw(client: &Client, sql: &str) -> String {
    client
        .execute_statement()
        .cluster_identifier("c")
        .database("dev")
        .db_user("u")
        .sql(sql)
        .send()
        .await
        .unwrap()
        .id
        .unwrap()
}
