//! The Data API's JSON shapes (seed 004): errors, timestamps, `Field` unions, `ColumnMetadata`,
//! and the requests the emulator reads.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use spectra_worker::ports::{ColumnMetadata, Field, WarehouseError};

/// An AWS JSON 1.1 error: `{"__type": "...", "message": "..."}` with the documented status.
#[derive(Debug)]
pub struct AwsError {
    kind: &'static str,
    status: StatusCode,
    message: String,
    extra: Option<(&'static str, String)>,
}

impl AwsError {
    /// 400 `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self { kind: "ValidationException", status: StatusCode::BAD_REQUEST, message: message.into(), extra: None }
    }

    /// 400 `ResourceNotFoundException` naming the resource.
    pub fn not_found(id: &str) -> Self {
        Self {
            kind: "ResourceNotFoundException",
            status: StatusCode::BAD_REQUEST,
            message: "Query does not exist.".into(),
            extra: Some(("ResourceId", id.to_owned())),
        }
    }

    /// A warehouse failure as the operation `operation` reports it.
    pub fn from_warehouse(e: WarehouseError, operation: &str) -> Self {
        match e {
            WarehouseError::ActiveStatementsExceeded(m) => Self {
                kind: "ActiveStatementsExceededException",
                status: StatusCode::BAD_REQUEST,
                message: m,
                extra: None,
            },
            WarehouseError::Throttled(m) => {
                Self { kind: "ThrottlingException", status: StatusCode::BAD_REQUEST, message: m, extra: None }
            }
            WarehouseError::NotFound(id) => Self::not_found(&id),
            WarehouseError::Validation(m) => Self::validation(m),
            WarehouseError::Refused(e) => Self::validation(e.to_string()),
            WarehouseError::Unavailable(m) => {
                let kind = match operation {
                    "ExecuteStatement" => "ExecuteStatementException",
                    "BatchExecuteStatement" => "BatchExecuteStatementException",
                    _ => "InternalServerException",
                };
                Self { kind, status: StatusCode::INTERNAL_SERVER_ERROR, message: m, extra: None }
            }
        }
    }

    /// The error's `__type`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let mut body = json!({"__type": self.kind, "message": self.message});
        if let Some((key, value)) = self.extra {
            body[key] = value.into();
        }
        (
            self.status,
            [("content-type", "application/x-amz-json-1.1"), ("x-amzn-errortype", self.kind)],
            body.to_string(),
        )
            .into_response()
    }
}

/// Seconds since the epoch with a fraction, as the Data API's timestamps are.
pub fn epoch(t: DateTime<Utc>) -> Value {
    json!(t.timestamp_millis() as f64 / 1000.0)
}

/// A `Field` union member.
pub fn field(f: &Field) -> Value {
    match f {
        Field::IsNull => json!({"isNull": true}),
        Field::Boolean(b) => json!({"booleanValue": b}),
        Field::Long(v) => json!({"longValue": v}),
        Field::Double(v) => json!({"doubleValue": v}),
        Field::String(s) => json!({"stringValue": s}),
        Field::Blob(b) => json!({"blobValue": base64::engine::general_purpose::STANDARD.encode(b)}),
    }
}

/// A `ColumnMetadata`, with the table it comes from when known.
pub fn column(c: &ColumnMetadata, schema: &str, table: &str) -> Value {
    let numeric = matches!(c.type_name.as_str(), "int2" | "int4" | "int8" | "numeric" | "float4" | "float8");
    json!({
        "name": c.name,
        "label": c.label,
        "typeName": c.type_name,
        "nullable": c.nullable,
        "precision": c.precision,
        "scale": c.scale,
        "length": 0,
        "isSigned": numeric,
        "isCurrency": false,
        "isCaseSensitive": matches!(c.type_name.as_str(), "varchar" | "char" | "bpchar" | "text"),
        "schemaName": schema,
        "tableName": table,
    })
}

/// One value as CSV text (GetStatementResultV2): quoted only when needed, empty for NULL.
pub fn csv_value(f: &Field) -> String {
    let text = match f {
        Field::IsNull => return String::new(),
        Field::Boolean(b) => b.to_string(),
        Field::Long(v) => v.to_string(),
        Field::Double(v) => v.to_string(),
        Field::String(s) => s.clone(),
        Field::Blob(b) => base64::engine::general_purpose::STANDARD.encode(b),
    };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// The target and options common to ExecuteStatement and BatchExecuteStatement.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubmitRequest {
    pub sql: Option<String>,
    pub sqls: Option<Vec<String>>,
    pub cluster_identifier: Option<String>,
    pub workgroup_name: Option<String>,
    pub database: Option<String>,
    pub db_user: Option<String>,
    pub secret_arn: Option<String>,
    pub parameters: Option<Vec<Parameter>>,
    pub statement_name: Option<String>,
    pub with_event: Option<bool>,
    pub client_token: Option<String>,
    pub result_format: Option<String>,
    pub session_keep_alive_seconds: Option<i64>,
    pub session_id: Option<String>,
}

/// A `SqlParameter`.
#[derive(Debug, Deserialize)]
pub struct Parameter {
    pub name: String,
    pub value: String,
}

/// `{"Id": ..., "NextToken": ...}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdRequest {
    pub id: Option<String>,
    pub next_token: Option<String>,
}

/// ListStatements, ListDatabases, ListSchemas, ListTables and DescribeTable.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    pub cluster_identifier: Option<String>,
    pub workgroup_name: Option<String>,
    pub database: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    pub status: Option<String>,
    pub statement_name: Option<String>,
    pub schema_pattern: Option<String>,
    pub table_pattern: Option<String>,
    pub schema: Option<String>,
    pub table: Option<String>,
}

/// An offset page token; opaque to clients (base64 of `offset:<n>:<what>`), bound to the list
/// it came from so a token of another list is refused.
pub fn page_token(offset: usize, what: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}:{what}"))
}

/// Reads a page token of the list `what`.
pub fn page_offset(token: Option<&str>, what: &str) -> Result<usize, AwsError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(0) };
    let bad = || AwsError::validation("The NextToken is invalid.");
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let rest = text.strip_prefix("offset:").ok_or_else(bad)?;
    let (offset, list) = rest.split_once(':').ok_or_else(bad)?;
    if list != what {
        return Err(bad());
    }
    offset.parse().map_err(|_| bad())
}

/// `MaxResults` within `1..=max` (0 or absent means `max`).
pub fn max_results(requested: Option<i64>, max: usize) -> Result<usize, AwsError> {
    match requested {
        None | Some(0) => Ok(max),
        Some(n) if n > 0 && (n as usize) <= max => Ok(n as usize),
        Some(n) => Err(AwsError::validation(format!("MaxResults must be between 0 and {max}, not {n}"))),
    }
}
