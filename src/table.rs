//! Plain-text tables for the terminal: a header, a rule, left-aligned text, right-aligned numbers.

use serde_json::Value;

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders text cells under a header; cells that are whole numbers align right.
pub fn render_text(header: &[String], rows: &[Vec<String>]) -> String {
    let values: Vec<Vec<Value>> = rows
        .iter()
        .map(|r| r.iter().map(|c| c.parse::<i64>().map_or_else(|_| Value::String(c.clone()), Value::from)).collect())
        .collect();
    render(header, &values)
}

/// Renders rows under a header.
pub fn render(header: &[String], rows: &[Vec<Value>]) -> String {
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(cell).collect()).collect();
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| !rows.is_empty() && rows.iter().all(|r| matches!(r.get(i), Some(Value::Number(_) | Value::Null))))
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: &[String]| {
        values
            .iter()
            .enumerate()
            .map(
                |(i, v)| if numeric[i] { format!("{v:>w$}", w = widths[i]) } else { format!("{v:<w$}", w = widths[i]) },
            )
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(header), widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-")];
    out.extend(cells.iter().map(|r| line(r)));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aligns_text_left_and_numbers_right() {
        let table = render(
            &["region".into(), "total".into()],
            &[vec![json!("APAC"), json!(1500)], vec![json!("EMEA"), json!(23)]],
        );
        assert_eq!(table, "region | total\n-------+------\nAPAC   |  1500\nEMEA   |    23");
    }
}
