//! Jira's REST API beyond the handshake (SPEC sections 10-11): the status
//! list, project and user look-ups, and the outbound calls. Every request
//! goes through one signed `send` (OAuth 1.0a with the access token);
//! answers are read up to [`MAX_ANSWER_BYTES`] (a huge or endless answer is
//! refused, not buffered).

use super::{JiraClient, JiraError};
use crate::domain::JiraStatus;

pub const STATUS_PATH: &str = "/rest/api/2/status";
pub const PROJECT_PATH: &str = "/rest/api/2/project/";

/// The fields reconcile reads of an issue, and its changelog (SPEC section 11).
const RECONCILE_FIELDS: (&str, &str) = ("fields", "assignee,status,updated,project");
const WITH_CHANGELOG: (&str, &str) = ("expand", "changelog");

/// Most bytes of one REST answer read.
pub const MAX_ANSWER_BYTES: usize = 8 << 20;

impl JiraClient {
    /// `GET /rest/api/2/status`: every status with its category key.
    pub async fn statuses(&self, access_token: &str) -> Result<Vec<JiraStatus>, JiraError> {
        let fail = |status, message| JiraError::Rest {
            what: "read the statuses",
            status,
            message,
        };
        let Answer { status, text, .. } = self
            .send(access_token, reqwest::Method::GET, STATUS_PATH, &[], None)
            .await
            .map_err(|r| fail(r.status, r.message))?;
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
        let path = format!("{PROJECT_PATH}{}", enc(key));
        let Answer { status, text, .. } = self
            .send(access_token, reqwest::Method::GET, &path, &[], None)
            .await
            .map_err(|r| fail(r.status, r.message))?;
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

/// A Jira user as the assignable-user search answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraUser {
    pub name: String,
    pub email: Option<String>,
}

/// How an outbound request ended when it did not succeed: Jira's status
/// (None: no answer), its message, and its `Retry-After` (seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: Option<u16>,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "{} (Jira answered HTTP {s})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Jira's answer to a signed request: its status, `Retry-After` (seconds)
/// and body.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    text: String,
}

impl JiraClient {
    /// A signed request with an optional JSON body: a 2xx answer's body, or
    /// what went wrong.
    async fn call(
        &self,
        access_token: &str,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<String, Refusal> {
        let a = self.send(access_token, method, path, query, body).await?;
        if (200..300).contains(&a.status) {
            Ok(a.text)
        } else {
            Err(Refusal {
                status: Some(a.status),
                message: super::jira_message(&a.text),
                retry_after: a.retry_after,
            })
        }
    }

    /// A signed `GET` of `path` with `query`: a 2xx answer's body, or what
    /// went wrong.
    async fn get(
        &self,
        access_token: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<String, Refusal> {
        self.call(access_token, reqwest::Method::GET, path, query, None)
            .await
    }

    /// The one signed REST request (OAuth 1.0a with the access token): Jira's
    /// answer whatever its status, read up to [`MAX_ANSWER_BYTES`]. Err: no
    /// whole answer (status None), or one larger than that (its status).
    async fn send(
        &self,
        access_token: &str,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<Answer, Refusal> {
        let mut url = self.url(path).map_err(|e| Refusal {
            status: None,
            message: e.to_string(),
            retry_after: None,
        })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let auth = self
            .auth(Some(access_token), method.as_str(), &url, &[])
            .map_err(|f| Refusal {
                status: f.status,
                message: f.message,
                retry_after: None,
            })?;
        let mut req = self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let mut resp = req.send().await.map_err(|e| {
            let f = self.transport(e);
            Refusal {
                status: None,
                message: f.message,
                retry_after: None,
            }
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok());
        // An answer cut off midway (timeout, dropped connection) is no
        // answer: like a connect error, tried again (not judged by the
        // status line that came first).
        let text = super::read_capped(&mut resp).await.map_err(|e| match e {
            super::Capped::Transport(e) => Refusal {
                status: None,
                message: self.transport(e).message,
                retry_after,
            },
            super::Capped::TooLarge => Refusal {
                status: Some(status),
                message: super::too_large(),
                retry_after,
            },
        })?;
        Ok(Answer {
            status,
            retry_after,
            text: String::from_utf8_lossy(&text).into_owned(),
        })
    }

    /// `GET /rest/api/2/user?username=..`: the account's email, when Jira
    /// shows it (None: no such user, or no email shown).
    pub async fn user_email(
        &self,
        access_token: &str,
        username: &str,
    ) -> Result<Option<String>, Refusal> {
        let text = match self
            .get(access_token, "/rest/api/2/user", &[("username", username)])
            .await
        {
            Ok(t) => t,
            Err(r) if r.status == Some(404) => return Ok(None),
            Err(r) => return Err(r),
        };
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| unreadable("the user look-up did not answer JSON".into()))?;
        Ok(v["emailAddress"]
            .as_str()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string))
    }

    /// `GET /rest/api/2/user/assignable/search?issueKey=..&username=..`.
    pub async fn assignable_users(
        &self,
        access_token: &str,
        key: &str,
        username: &str,
    ) -> Result<Vec<JiraUser>, Refusal> {
        let text = self
            .get(
                access_token,
                "/rest/api/2/user/assignable/search",
                &[("issueKey", key), ("username", username)],
            )
            .await?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| unreadable("the assignable-user search did not answer JSON".into()))?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| {
                        Some(JiraUser {
                            name: u["name"].as_str()?.to_string(),
                            email: u["emailAddress"]
                                .as_str()
                                .filter(|e| !e.is_empty())
                                .map(str::to_string),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `GET /rest/api/2/search`: one page of the issues `jql` selects, with
    /// the fields reconcile reads and their changelogs (SPEC section 11).
    pub async fn search(
        &self,
        access_token: &str,
        jql: &str,
        start_at: u64,
        max_results: u64,
    ) -> Result<crate::domain::reconcile::SearchPage, Refusal> {
        let (start, max) = (start_at.to_string(), max_results.to_string());
        let text = self
            .get(
                access_token,
                "/rest/api/2/search",
                &[
                    ("jql", jql),
                    ("startAt", &start),
                    ("maxResults", &max),
                    RECONCILE_FIELDS,
                    WITH_CHANGELOG,
                ],
            )
            .await?;
        crate::domain::reconcile::parse_search(&text).map_err(unreadable)
    }

    /// `GET /rest/api/2/issue/{key}?expand=changelog`: the issue with its
    /// whole changelog (when a search page cut it short).
    pub async fn issue_with_changelog(
        &self,
        access_token: &str,
        key: &str,
    ) -> Result<crate::domain::reconcile::IssueDoc, Refusal> {
        let path = format!("/rest/api/2/issue/{}", enc(key));
        let text = self
            .get(access_token, &path, &[RECONCILE_FIELDS, WITH_CHANGELOG])
            .await?;
        crate::domain::reconcile::parse_issue(&text).map_err(unreadable)
    }

    /// `PUT /rest/api/2/issue/{key}/assignee` with `{"name": name}` (null unassigns).
    pub async fn set_assignee(
        &self,
        access_token: &str,
        key: &str,
        name: Option<&str>,
    ) -> Result<(), Refusal> {
        let path = format!("/rest/api/2/issue/{}/assignee", enc(key));
        self.call(
            access_token,
            reqwest::Method::PUT,
            &path,
            &[],
            Some(serde_json::json!({ "name": name })),
        )
        .await
        .map(drop)
    }

    /// `GET /rest/api/2/issue/{key}?fields=status,project`: the issue's
    /// status id and project key.
    pub async fn issue_status(
        &self,
        access_token: &str,
        key: &str,
    ) -> Result<(String, String), Refusal> {
        let path = format!("/rest/api/2/issue/{}", enc(key));
        let text = self
            .get(access_token, &path, &[("fields", "status,project")])
            .await?;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let status = match &v["fields"]["status"]["id"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let project = v["fields"]["project"]["key"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status.is_empty() || project.is_empty() {
            return Err(unreadable(format!(
                "the issue {key} came without its status or project"
            )));
        }
        Ok((status, project))
    }

    /// `GET /rest/api/2/issue/{key}/transitions`: `(transition id, to status id)`.
    pub async fn transitions(
        &self,
        access_token: &str,
        key: &str,
    ) -> Result<Vec<(String, String)>, Refusal> {
        let path = format!("/rest/api/2/issue/{}/transitions", enc(key));
        let text = self.get(access_token, &path, &[]).await?;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let id = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        Ok(v["transitions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| Some((id(&t["id"])?, id(&t["to"]["id"])?)))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `POST /rest/api/2/issue/{key}/transitions` with `{"transition": {"id": id}}`.
    pub async fn transition(&self, access_token: &str, key: &str, id: &str) -> Result<(), Refusal> {
        let path = format!("/rest/api/2/issue/{}/transitions", enc(key));
        self.call(
            access_token,
            reqwest::Method::POST,
            &path,
            &[],
            Some(serde_json::json!({"transition": {"id": id}})),
        )
        .await
        .map(drop)
    }
}

/// An answer that is not what the call expects (no status: tried again
/// like a broken connection).
fn unreadable(message: String) -> Refusal {
    Refusal {
        status: None,
        message,
        retry_after: None,
    }
}

/// Everything but RFC 3986's unreserved characters, so `APP-1` stays as it is.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn enc(s: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(s, PATH_SEGMENT)
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
