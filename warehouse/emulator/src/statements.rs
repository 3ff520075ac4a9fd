//! ExecuteStatement, BatchExecuteStatement, DescribeStatement, CancelStatement, ListStatements,
//! and sessions (`SessionKeepAliveSeconds` / `SessionId`).

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use spectra_state_machine::{Identifier, QueryParameter};

use super::wire::{AwsError, IdRequest, ListRequest, SubmitRequest, epoch, max_results, page_offset, page_token};
use super::{Emulator, Session, StatementMeta, lock};
use spectra_warehouse::MAX_BATCH_STATEMENTS;
use spectra_worker::ports::{Sql, StatementDescription, StatementRequest, StatementStatus, Warehouse};

/// Longest a session may be kept alive (24 hours).
const MAX_KEEP_ALIVE: i64 = 86_400;

/// Where a submit runs: its own target, or its session's.
fn target(e: &Emulator, r: &SubmitRequest) -> Result<StatementMeta, AwsError> {
    if let Some(id) = &r.session_id {
        if r.cluster_identifier.is_some() || r.workgroup_name.is_some() || r.database.is_some() {
            return Err(AwsError::validation("SessionId cannot be combined with a cluster, workgroup or database"));
        }
        let mut sessions = lock(&e.sessions);
        let now = Utc::now();
        sessions.retain(|_, s| s.expires_at > now);
        let session = sessions.get(id).ok_or_else(|| AwsError::validation(format!("Session {id} is not available")))?;
        return Ok(session.meta.clone());
    }
    let (cluster, workgroup) = (r.cluster_identifier.clone(), r.workgroup_name.clone());
    match (&cluster, &workgroup) {
        (Some(_), Some(_)) => {
            return Err(AwsError::validation("Specify either ClusterIdentifier or WorkgroupName, not both"));
        }
        (None, None) => return Err(AwsError::validation("Either ClusterIdentifier or WorkgroupName is required")),
        (None, Some(_)) if r.db_user.is_some() => {
            return Err(AwsError::validation("DbUser is not supported with WorkgroupName"));
        }
        _ => {}
    }
    let database = r.database.clone().filter(|d| !d.is_empty());
    if database.is_none() {
        return Err(AwsError::validation("Database is required"));
    }
    Ok(StatementMeta {
        cluster_identifier: cluster,
        workgroup_name: workgroup,
        database,
        db_user: r.db_user.clone(),
        secret_arn: r.secret_arn.clone(),
        session_id: None,
        csv: false,
    })
}

fn sql_of(r: &SubmitRequest, batch: bool) -> Result<Sql, AwsError> {
    if batch {
        let sqls = r.sqls.clone().unwrap_or_default();
        if sqls.is_empty() || sqls.len() > MAX_BATCH_STATEMENTS || sqls.iter().any(|s| s.trim().is_empty()) {
            return Err(AwsError::validation(format!(
                "Sqls must hold 1 to {MAX_BATCH_STATEMENTS} non-empty statements"
            )));
        }
        if r.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(AwsError::validation("BatchExecuteStatement takes no Parameters"));
        }
        return Ok(Sql::Batch(sqls));
    }
    let sql = r.sql.clone().filter(|s| !s.trim().is_empty()).ok_or_else(|| AwsError::validation("Sql is required"))?;
    let parameters = r
        .parameters
        .iter()
        .flatten()
        .map(|p| {
            Identifier::parse(&p.name)
                .map(|name| QueryParameter { name, value: p.value.clone() })
                .map_err(|e| AwsError::validation(format!("parameter {:?}: {e}", p.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Sql::Single { sql, parameters })
}

/// ExecuteStatement (`batch` false) and BatchExecuteStatement.
pub async fn execute(e: &Emulator, r: SubmitRequest, batch: bool) -> Result<Value, AwsError> {
    let operation = if batch { "BatchExecuteStatement" } else { "ExecuteStatement" };
    let mut meta = target(e, &r)?;
    let sql = sql_of(&r, batch)?;
    meta.csv = match r.result_format.as_deref() {
        None | Some("JSON") => false,
        Some("CSV") => true,
        Some(other) => return Err(AwsError::validation(format!("ResultFormat {other:?} is not JSON or CSV"))),
    };
    if r.statement_name.as_ref().is_some_and(|n| n.len() > 500) {
        return Err(AwsError::validation("StatementName is longer than 500 characters"));
    }
    if r.client_token.as_ref().is_some_and(|t| t.is_empty() || t.len() > 64) {
        return Err(AwsError::validation("ClientToken must be 1 to 64 characters"));
    }
    let keep_alive = r.session_keep_alive_seconds.unwrap_or(0);
    if !(0..=MAX_KEEP_ALIVE).contains(&keep_alive) {
        return Err(AwsError::validation(format!("SessionKeepAliveSeconds must be 0 to {MAX_KEEP_ALIVE}")));
    }
    let request = StatementRequest {
        sql,
        statement_name: r.statement_name.clone(),
        client_token: r.client_token.clone(),
        with_event: r.with_event.unwrap_or(false),
        db_user: meta.db_user.clone(),
        database: meta.database.clone(),
    };
    let id = e.warehouse.execute(request).await.map_err(|err| AwsError::from_warehouse(err, operation))?;
    if let Some(session) = &r.session_id {
        meta.session_id = Some(session.clone());
    } else if keep_alive > 0 {
        let session = uuid::Uuid::new_v4().to_string();
        meta.session_id = Some(session.clone());
        let expires_at = Utc::now() + Duration::seconds(keep_alive);
        lock(&e.sessions).insert(session, Session { meta: meta.clone(), expires_at });
    }
    let created_at = e.warehouse.describe(&id).await.map(|d| d.created_at).unwrap_or_else(|_| Utc::now());
    lock(&e.meta).entry(id.clone()).or_insert_with(|| meta.clone());
    let mut body = json!({"Id": id, "CreatedAt": epoch(created_at)});
    target_fields(&mut body, &meta, meta.db_user.as_ref());
    if batch {
        body["DbGroups"] = json!([]);
    }
    Ok(body)
}

/// Sets the fields that have a value; the Data API leaves absent ones out.
fn set_present<const N: usize>(body: &mut Value, fields: [(&str, Option<&String>); N]) {
    for (key, value) in fields {
        if let Some(value) = value {
            body[key] = value.clone().into();
        }
    }
}

/// The statement's target, as ExecuteStatement and DescribeStatement report it.
fn target_fields(body: &mut Value, meta: &StatementMeta, db_user: Option<&String>) {
    set_present(
        body,
        [
            ("ClusterIdentifier", meta.cluster_identifier.as_ref()),
            ("WorkgroupName", meta.workgroup_name.as_ref()),
            ("Database", meta.database.as_ref()),
            ("DbUser", db_user),
            ("SecretArn", meta.secret_arn.as_ref()),
            ("SessionId", meta.session_id.as_ref()),
        ],
    );
}

fn id_of(r: &IdRequest) -> Result<&str, AwsError> {
    r.id.as_deref().filter(|id| !id.is_empty()).ok_or_else(|| AwsError::validation("Id is required"))
}

fn sub_statement(s: &spectra_worker::ports::SubStatement) -> Value {
    json!({
        "Id": s.id, "Status": s.status.as_str(), "Error": s.error, "HasResultSet": s.has_result_set,
        "QueryString": s.query_string, "RedshiftQueryId": s.redshift_query_id, "ResultRows": s.result_rows,
        "ResultSize": if s.has_result_set { 0 } else { -1 }, "CreatedAt": epoch(s.created_at),
        "UpdatedAt": epoch(s.updated_at), "Duration": s.duration_ns,
    })
}

/// DescribeStatement.
pub async fn describe(e: &Emulator, r: IdRequest) -> Result<Value, AwsError> {
    let id = id_of(&r)?;
    let d = e.warehouse.describe(id).await.map_err(|err| AwsError::from_warehouse(err, "DescribeStatement"))?;
    let meta = e.meta(id);
    let mut body = json!({
        "Id": d.id,
        "Status": d.status.as_str(),
        "HasResultSet": d.has_result_set,
        "QueryString": d.query_string,
        "RedshiftPid": std::process::id(),
        "RedshiftQueryId": d.redshift_query_id,
        "ResultRows": d.result_rows,
        "ResultSize": if d.has_result_set { 0 } else { -1 },
        "CreatedAt": epoch(d.created_at),
        "UpdatedAt": epoch(d.updated_at),
        "Duration": d.duration_ns,
        "ResultFormat": if meta.csv { "CSV" } else { "JSON" },
        "QueryParameters": d.query_parameters.iter().map(|p| json!({"name": p.name.as_str(), "value": p.value})).collect::<Vec<_>>(),
    });
    if let Some(error) = &d.error {
        body["Error"] = error.clone().into();
    }
    if !d.sub_statements.is_empty() {
        body["SubStatements"] = d.sub_statements.iter().map(sub_statement).collect();
    }
    let db_user = d.db_user.clone().or(meta.db_user.clone());
    target_fields(&mut body, &meta, db_user.as_ref());
    Ok(body)
}

/// CancelStatement: `{"Status": true}`; a statement that already ended cannot be cancelled.
pub async fn cancel(e: &Emulator, r: IdRequest) -> Result<Value, AwsError> {
    let id = id_of(&r)?;
    let cancelled = e.warehouse.cancel(id).await.map_err(|err| AwsError::from_warehouse(err, "CancelStatement"))?;
    if cancelled {
        return Ok(json!({"Status": true}));
    }
    let status = e.warehouse.describe(id).await.map(|d| d.status).unwrap_or(StatementStatus::Finished);
    Err(AwsError::validation(format!("Could not cancel a query that is already in {} state.", status.as_str())))
}

fn statement_data(d: &StatementDescription, meta: &StatementMeta) -> Value {
    let is_batch = !d.sub_statements.is_empty();
    let mut item = json!({
        "Id": d.id,
        "Status": d.status.as_str(),
        "CreatedAt": epoch(d.created_at),
        "UpdatedAt": epoch(d.updated_at),
        "IsBatchStatement": is_batch,
        "ResultFormat": if meta.csv { "CSV" } else { "JSON" },
    });
    if is_batch {
        item["QueryStrings"] = d.sub_statements.iter().map(|s| s.query_string.clone()).collect();
    } else {
        item["QueryString"] = d.query_string.clone().into();
    }
    if !d.query_parameters.is_empty() {
        item["QueryParameters"] =
            d.query_parameters.iter().map(|p| json!({"name": p.name.as_str(), "value": p.value})).collect();
    }
    let names = [
        ("StatementName", d.statement_name.as_ref()),
        ("SecretArn", meta.secret_arn.as_ref()),
        ("SessionId", meta.session_id.as_ref()),
    ];
    set_present(&mut item, names);
    item
}

/// ListStatements: newest first; by default only `FINISHED` ones (as the reference says),
/// `Status: ALL` for every one; `StatementName` matches as a prefix.
pub async fn list(e: &Emulator, r: ListRequest) -> Result<Value, AwsError> {
    if r.cluster_identifier.is_some() && r.workgroup_name.is_some() {
        return Err(AwsError::validation("Specify either ClusterIdentifier or WorkgroupName, not both"));
    }
    let status = r.status.clone().unwrap_or_else(|| "FINISHED".into());
    let known = ["SUBMITTED", "PICKED", "STARTED", "FINISHED", "ABORTED", "FAILED", "ALL"];
    if !known.contains(&status.as_str()) {
        return Err(AwsError::validation(format!("Status {status:?} is not one of {known:?}")));
    }
    let limit = max_results(r.max_results, 100)?;
    let what = format!("statements/{status}/{}", r.statement_name.as_deref().unwrap_or_default());
    let offset = page_offset(r.next_token.as_deref(), &what)?;
    let matching: Vec<Value> = e
        .warehouse
        .statements()
        .into_iter()
        .filter(|d| status == "ALL" || d.status.as_str() == status)
        .filter(|d| {
            r.statement_name
                .as_ref()
                .is_none_or(|p| d.statement_name.as_ref().is_some_and(|n| n.starts_with(p.as_str())))
        })
        .filter_map(|d| {
            let meta = e.meta(&d.id);
            let same = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
            (same(&r.cluster_identifier, &meta.cluster_identifier)
                && same(&r.workgroup_name, &meta.workgroup_name)
                && same(&r.database, &meta.database))
            .then(|| statement_data(&d, &meta))
        })
        .collect();
    let page: Vec<Value> = matching.iter().skip(offset).take(limit).cloned().collect();
    let mut body = json!({"Statements": page});
    if offset + limit < matching.len() {
        body["NextToken"] = page_token(offset + limit, &what).into();
    }
    Ok(body)
}
