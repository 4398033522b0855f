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

/// An aligned table of `rows` with the given columns (`(header, json field)`),
/// laid out by `comfy-table` without borders: a header line, then one line
/// per row, columns two spaces apart, no trailing spaces (easy to `awk`).
pub fn table(rows: &[Value], cols: &[(&str, &str)]) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(cols.iter().map(|(h, _)| h.to_uppercase()));
    for r in rows {
        t.add_row(cols.iter().map(|(_, f)| {
            cell(
                r.pointer(&format!("/{}", f.replace('.', "/")))
                    .unwrap_or(&Value::Null),
            )
        }));
    }
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    let mut out: String = t.lines().map(|l| format!("{}\n", l.trim_end())).collect();
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
