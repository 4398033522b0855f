//! Reading Jira's answers: form-encoded bodies and error messages.

use std::collections::BTreeMap;

/// Parse a form-encoded body into a map.
pub fn parse_form(body: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body.trim().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Jira's message from an error body: `errorMessages`/`errors`/`message` of
/// a JSON body, `oauth_problem` of a form body, else the text (HTML tags
/// dropped), cut to 300 characters.
pub fn jira_message(body: &str) -> String {
    let body = body.trim();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let mut parts: Vec<String> = Vec::new();
        if let Some(a) = v["errorMessages"].as_array() {
            parts.extend(a.iter().filter_map(|m| m.as_str().map(str::to_string)));
        }
        if let Some(o) = v["errors"].as_object() {
            parts.extend(o.iter().map(|(k, m)| match m.as_str() {
                Some(s) => format!("{k}: {s}"),
                None => format!("{k}: {m}"),
            }));
        }
        if let Some(m) = v["message"].as_str() {
            parts.push(m.to_string());
        }
        if !parts.is_empty() {
            return cut(&parts.join("; "));
        }
    }
    let form = parse_form(body);
    if let Some(p) = form.get("oauth_problem") {
        return format!("oauth_problem \"{}\"", cut(p));
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    cut(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn cut(s: &str) -> String {
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s.to_string()
    }
}

pub fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_from_jira_bodies() {
        assert_eq!(
            jira_message(r#"{"errorMessages":["You are not an admin"],"errors":{}}"#),
            "You are not an admin"
        );
        assert_eq!(
            jira_message("oauth_problem=token_rejected&x=1"),
            "oauth_problem \"token_rejected\""
        );
        assert_eq!(
            jira_message("<html><body><h1>Service Unavailable</h1></body></html>"),
            "Service Unavailable"
        );
        assert_eq!(jira_message(&"x".repeat(1000)).chars().count(), 301);
    }
}
