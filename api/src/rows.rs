//! Result rows as JSON objects in the query's column order (seed 001's `data`). A
//! `serde_json::Map` would sort the keys, so rows are serialized by hand, column by column.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use spectra_worker::ports::Field;

/// Rows under their column names.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Values, row by row.
    pub rows: Vec<Vec<Field>>,
}

struct Row<'a>(&'a [String], &'a [Field]);

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (column, value) in self.0.iter().zip(self.1) {
            map.serialize_entry(column, &value.to_json())?;
        }
        map.end()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_column_order() {
        let rows = Rows { columns: vec!["z".into(), "a".into()], rows: vec![vec![Field::Long(1), Field::IsNull]] };
        assert_eq!(serde_json::to_string(&rows).unwrap(), r#"[{"z":1,"a":null}]"#);
    }
}
