//! Result rows as JSON objects in the query's column order (seed 001's `data`). A
//! `serde_json::Map` would sort the keys, so rows are serialized by hand, column by column,
//! and each value is written straight into the response body: no `serde_json::Value` (and no
//! copy of a string) per value.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use spectra_worker::ports::Field;

use crate::error::ApiError;

/// Rows under their column names.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Values, row by row.
    pub rows: Vec<Vec<Field>>,
}

/// Column names made unique as JSON object keys: a repeated name (`SELECT a, a`, or two
/// `count(..)` that Redshift labels `count` both) gets `_1`, `_2`, .. (as DuckDB names the
/// columns of a subquery) — a parser keeps only one value of a repeated key, so the row would
/// silently lose the others.
pub fn unique_names(names: Vec<String>) -> Vec<String> {
    let given: std::collections::HashSet<String> = names.iter().cloned().collect();
    let mut taken = std::collections::HashSet::with_capacity(names.len());
    names
        .into_iter()
        .map(|name| {
            let unique = if taken.contains(&name) {
                (1..).map(|n| format!("{name}_{n}")).find(|c| !taken.contains(c) && !given.contains(c)).unwrap_or(name)
            } else {
                name
            };
            taken.insert(unique.clone());
            unique
        })
        .collect()
}

struct Row<'a>(&'a [String], &'a [Field]);

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (column, value) in self.0.iter().zip(self.1) {
            map.serialize_entry(column, &JsonField(value))?;
        }
        map.end()
    }
}

/// A value as [`Field::to_json`] renders it, without building the `Value`.
struct JsonField<'a>(&'a Field);

impl Serialize for JsonField<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Field::IsNull => serializer.serialize_unit(),
            Field::Boolean(b) => serializer.serialize_bool(*b),
            Field::Long(v) => serializer.serialize_i64(*v),
            // JSON has no NaN or infinity: `null`, as `to_json` gives.
            Field::Double(v) if !v.is_finite() => serializer.serialize_unit(),
            Field::Double(v) => serializer.serialize_f64(*v),
            Field::String(s) => serializer.serialize_str(s),
            Field::Blob(_) => self.0.to_json().serialize(serializer),
        }
    }
}

impl Serialize for Rows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.rows.len()))?;
        for row in &self.rows {
            seq.serialize_element(&Row(&self.columns, row))?;
        }
        seq.end()
    }
}

/// `{"data": [...], "metadata": {...}}`.
#[derive(Debug, Serialize)]
pub struct Page {
    /// The rows.
    pub data: Rows,
    /// Columns, counts, ids.
    pub metadata: Value,
}

impl IntoResponse for Page {
    /// The page as a JSON body, rendered into a buffer sized for it up front: a result of
    /// thousands of rows would otherwise be copied over and over as the buffer doubled.
    fn into_response(self) -> Response {
        let per_row: usize = self.data.columns.iter().map(|c| c.len() + 16).sum();
        let mut body = Vec::with_capacity(256 + self.data.rows.len() * per_row);
        match serde_json::to_writer(&mut body, &self) {
            Ok(()) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => ApiError::internal(&e).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_column_order() {
        let rows = Rows { columns: vec!["z".into(), "a".into()], rows: vec![vec![Field::Long(1), Field::IsNull]] };
        assert_eq!(serde_json::to_string(&rows).unwrap(), r#"[{"z":1,"a":null}]"#);
    }

    #[test]
    fn repeated_column_names_become_distinct_keys() {
        let names = ["count", "count", "count_2", "a", "count"].map(String::from).to_vec();
        assert_eq!(unique_names(names), ["count", "count_1", "count_2", "a", "count_3"]);
    }

    #[test]
    fn values_render_as_field_to_json_does() {
        let fields = [
            Field::IsNull,
            Field::Boolean(true),
            Field::Long(-7),
            Field::Double(2.5),
            Field::Double(f64::NAN),
            Field::Double(f64::INFINITY),
            Field::String("quote \" and \u{e9}".into()),
            Field::Blob(vec![0, 255, 16]),
        ];
        for field in fields {
            let direct = serde_json::to_string(&JsonField(&field)).unwrap();
            assert_eq!(direct, field.to_json().to_string(), "{field:?}");
        }
    }
}
