//! Human output: aligned tables for lists, `key: value` lines for objects.

use serde_json::Value;

/// Render a JSON scalar for a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(_) => v.to_string(),
        other => other.to_string(),
    }
}

/// An aligned table of `rows` with the given columns (`(header, json field)`).
pub fn table(rows: &[Value], cols: &[(&str, &str)]) -> String {
    let mut grid: Vec<Vec<String>> = vec![cols.iter().map(|(h, _)| h.to_uppercase()).collect()];
    for r in rows {
        grid.push(
            cols.iter()
                .map(|(_, f)| {
                    cell(
                        r.pointer(&format!("/{}", f.replace('.', "/")))
                            .unwrap_or(&Value::Null),
                    )
                })
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..cols.len())
        .map(|i| {
            grid.iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in grid {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

/// `key: value` lines for an object (nested objects shown as JSON).
pub fn object(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let w = m.keys().map(|k| k.len()).max().unwrap_or(0);
            m.iter()
                .map(|(k, v)| format!("{k:<w$}  {}\n", cell(v)))
                .collect()
        }
        Value::Null => String::new(),
        other => format!("{}\n", cell(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_columns_and_reads_nested_fields() {
        let rows = vec![
            json!({"id": 1, "slug": "a", "x": {"y": "deep"}}),
            json!({"id": 100, "slug": "bbbb", "x": null}),
        ];
        let t = table(&rows, &[("id", "id"), ("slug", "slug"), ("y", "x.y")]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "ID   SLUG  Y");
        assert_eq!(lines[1], "1    a     deep");
        assert_eq!(lines[2], "100  bbbb  -");
    }

    #[test]
    fn empty_table_says_none() {
        assert!(table(&[], &[("id", "id")]).ends_with("(none)\n"));
    }
}
