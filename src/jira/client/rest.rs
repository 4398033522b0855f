//! Jira's REST API beyond the handshake (SPEC section 10): the status list
//! and project look-ups. Signed GETs with the access token; answers are
//! read up to [`MAX_ANSWER_BYTES`] (a huge or endless answer is refused,
//! not buffered).

use super::{Failure, JiraClient, JiraError};
use crate::domain::JiraStatus;

pub const STATUS_PATH: &str = "/rest/api/2/status";
pub const PROJECT_PATH: &str = "/rest/api/2/project/";

/// Most bytes of one REST answer read.
pub const MAX_ANSWER_BYTES: usize = 8 << 20;

impl JiraClient {
    /// A signed GET of `path` (with `query`): Jira's status and the body of
    /// its answer (any status), read up to [`MAX_ANSWER_BYTES`].
    async fn signed_get(
        &self,
        access_token: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(u16, String), Failure> {
        let mut url = self.url(path).map_err(|e| Failure {
            status: None,
            message: e.to_string(),
        })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let auth = self.auth(Some(access_token), "GET", &url, &[])?;
        let mut resp = self
            .http
            .get(url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(e))? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(Failure {
                    status: Some(status),
                    message: format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// `GET /rest/api/2/status`: every status with its category key.
    pub async fn statuses(&self, access_token: &str) -> Result<Vec<JiraStatus>, JiraError> {
        let fail = |status, message| JiraError::Rest {
            what: "read the statuses",
            status,
            message,
        };
        let (status, text) = self
            .signed_get(access_token, STATUS_PATH, &[])
            .await
            .map_err(|f| fail(f.status, f.message))?;
        if !(200..300).contains(&status) {
            return Err(fail(Some(status), super::jira_message(&text)));
        }
        parse_statuses(&text).map_err(|m| fail(Some(status), m))
    }

    /// Does Jira know the project `key`? (`GET /rest/api/2/project/{key}`:
    /// 404 is no; any other failure is an error.)
    pub async fn project_exists(&self, access_token: &str, key: &str) -> Result<bool, JiraError> {
        let fail = |status, message| JiraError::Rest {
            what: "look up the project",
            status,
            message,
        };
        let path = format!(
            "{PROJECT_PATH}{}",
            percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
        );
        let (status, text) = self
            .signed_get(access_token, &path, &[])
            .await
            .map_err(|f| fail(f.status, f.message))?;
        match status {
            200..=299 => Ok(true),
            404 => Ok(false),
            s => Err(fail(Some(s), super::jira_message(&text))),
        }
    }
}

/// Jira's status list: `[{id, name, statusCategory: {key}}]`. An entry
/// without an id is skipped; a body that is not such a list is an error.
pub fn parse_statuses(text: &str) -> Result<Vec<JiraStatus>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "the status list is not JSON".to_string())?;
    let list = v
        .as_array()
        .ok_or_else(|| "the status list is not a JSON array".to_string())?;
    let id_of = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Ok(list
        .iter()
        .filter_map(|s| {
            Some(JiraStatus {
                id: id_of(&s["id"])?,
                name: s["name"].as_str().unwrap_or_default().to_string(),
                category: s["statusCategory"]["key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_status_list_parses_with_its_categories() {
        let text = include_str!("../../../tests/fixtures/jira-rest/statuses.json");
        let list = parse_statuses(text).unwrap();
        assert!(list.len() >= 5, "{list:?}");
        let open = list.iter().find(|s| s.id == "1").unwrap();
        assert_eq!(
            (open.name.as_str(), open.category.as_str()),
            ("Open", "new")
        );
        assert!(list.iter().any(|s| s.category == "done"));
    }

    #[test]
    fn odd_status_lists_are_errors_or_skipped_entries() {
        assert!(parse_statuses("<html>").is_err());
        assert!(parse_statuses("{}").is_err());
        let list = parse_statuses(r#"[{"name": "no id"}, {"id": 3, "name": "Num"}]"#).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].id, "3");
        assert_eq!(list[0].category, "");
    }
}
