//! GetStatementResult (JSON `Field` records) and GetStatementResultV2 (CSV records), paged by the
//! engine's own page tokens. A statement submitted with `ResultFormat: CSV` is read with V2
//! only, and a JSON one with V1 only, as on AWS.

use serde_json::{Value, json};

use super::Emulator;
use super::wire::{AwsError, IdRequest, column, csv_value, field};
use spectra_worker::ports::Warehouse;

/// GetStatementResult (`v2` false) and GetStatementResultV2.
pub async fn get(e: &Emulator, r: IdRequest, v2: bool) -> Result<Value, AwsError> {
    let id = r.id.as_deref().filter(|id| !id.is_empty()).ok_or_else(|| AwsError::validation("Id is required"))?;
    let operation = if v2 { "GetStatementResultV2" } else { "GetStatementResult" };
    let meta = e.meta(id);
    if meta.csv != v2 {
        let (format, other) = if meta.csv { ("CSV", "GetStatementResultV2") } else { ("JSON", "GetStatementResult") };
        return Err(AwsError::validation(format!("The statement's ResultFormat is {format}; use {other}")));
    }
    let first_page = r.next_token.as_deref().is_none_or(str::is_empty);
    let page = e
        .warehouse
        .results(id, r.next_token.as_deref().filter(|t| !t.is_empty()))
        .await
        .map_err(|err| AwsError::from_warehouse(err, operation))?;
    let columns: Vec<Value> = page.columns.iter().map(|c| column(c, "", "")).collect();
    let mut body = if v2 {
        let mut csv = String::new();
        if first_page {
            let names: Vec<String> =
                page.columns.iter().map(|c| csv_value(&spectra_worker::ports::Field::String(c.name.clone()))).collect();
            csv.push_str(&names.join(","));
            csv.push('\n');
        }
        for row in &page.records {
            csv.push_str(&row.iter().map(csv_value).collect::<Vec<_>>().join(","));
            csv.push('\n');
        }
        json!({"Records": [{"CSVRecords": csv}], "ColumnMetadata": columns, "TotalNumRows": page.total_rows, "ResultFormat": "CSV"})
    } else {
        let records: Vec<Vec<Value>> = page.records.iter().map(|row| row.iter().map(field).collect()).collect();
        json!({"Records": records, "ColumnMetadata": columns, "TotalNumRows": page.total_rows})
    };
    if let Some(token) = page.next_token {
        body["NextToken"] = token.into();
    }
    Ok(body)
}
