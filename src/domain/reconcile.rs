//! Reconcile's pure rules (SPEC section 11): the JQL and its window, the
//! shape of Jira's search answer, and how an issue's change histories
//! become deliveries for the same path as webhooks. No I/O here: the
//! `ReconcileActor` asks Jira and feeds the single writer.

use super::payload::{check_issue_key, normalize_issue_key};
use super::plan::{Change, StatusChange, SyncCommand};
use super::{Id, Source};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(test)]
mod tests;

/// Issues asked for per search page (`maxResults`).
pub const PAGE_SIZE: u64 = 100;

/// Most project keys in one query; longer lists are split.
pub const PROJECTS_PER_QUERY: usize = 50;

/// The reconcile state kept per integration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileRecord {
    /// Everything Jira changed before this (ms, Jira's `updated`) has been
    /// read and applied durably; None until a run got that far.
    pub cursor: Option<i64>,
    pub last_run: Option<LastRun>,
}

/// How the last finished run went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    pub started: i64,
    pub finished: i64,
    pub issues_read: u64,
    /// Histories that changed something here.
    pub histories_applied: u64,
    /// Per outcome (its delivery-log name), how many histories had it.
    pub outcomes: BTreeMap<String, u64>,
    /// Why the run failed (None: it finished).
    pub error: Option<String>,
}

/// The Jira project key of an issue key (`APP-12` → `APP`): what comes
/// before the last `-`. None when that is empty or absent.
pub fn project_of(key: &str) -> Option<&str> {
    let (p, n) = key.rsplit_once('-')?;
    (!p.is_empty() && !n.is_empty()).then_some(p)
}

/// A project key as a JQL string literal (quoted, `"` and `\` escaped), so
/// that no key can change the query.
fn jql_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `project in (...) AND updated >= "-<minutes>m" ORDER BY updated ASC`.
pub fn jql(projects: &[String], minutes: u64) -> String {
    let list: Vec<String> = projects.iter().map(|p| jql_literal(p)).collect();
    format!(
        "project in ({}) AND updated >= \"-{minutes}m\" ORDER BY updated ASC",
        list.join(", ")
    )
}

/// The project keys Jira says its JQL does not know (a project deleted or
/// renamed in Jira: `The value 'OLD' does not exist for the field
/// 'project'.`), from its 400 answer's message.
pub fn unknown_projects(message: &str) -> Vec<String> {
    const HEAD: &str = "The value '";
    const TAIL: &str = "' does not exist for the field 'project'";
    let mut out = Vec::new();
    let mut rest = message;
    while let Some(i) = rest.find(HEAD) {
        rest = &rest[i + HEAD.len()..];
        let Some(j) = rest.find(TAIL) else { break };
        out.push(rest[..j].to_string());
        rest = &rest[j + TAIL.len()..];
    }
    out
}

/// Whole minutes from `from` to `now` (ms), rounded up, at least 1: a
/// relative date sidesteps the Jira user's time zone.
pub fn minutes_back(from: i64, now: i64) -> u64 {
    let ms = now.saturating_sub(from).max(1) as u64;
    ms.div_ceil(60_000).max(1)
}

/// Where a run starts reading (ms): a manual `since` exactly; else the
/// cursor, or `first_lookback` before now for a first run, minus the overlap.
pub fn run_from(
    since: Option<i64>,
    cursor: Option<i64>,
    now: i64,
    overlap_secs: u64,
    first_lookback_secs: u64,
) -> i64 {
    if let Some(s) = since {
        return s;
    }
    let secs = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
    cursor
        .unwrap_or_else(|| now.saturating_sub(secs(first_lookback_secs)))
        .saturating_sub(secs(overlap_secs))
}

/// The cursor a run with several queries may move to: the least progress
/// among them, so no query's unread changes are skipped (None while one
/// has made none).
pub fn least_progress(progress: &[Option<i64>]) -> Option<i64> {
    progress
        .iter()
        .copied()
        .collect::<Option<Vec<i64>>>()?
        .into_iter()
        .min()
}

/// A date as Jira writes it (`2025-11-28T15:44:11.000+0000`, or RFC 3339)
/// in ms since the epoch.
pub fn parse_jira_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A string or a number, as Jira sends ids.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Text {
    Str(String),
    Num(serde_json::Number),
}

impl Text {
    pub fn into_string(self) -> String {
        match self {
            Text::Str(s) => s,
            Text::Num(n) => n.to_string(),
        }
    }
}

/// `GET /rest/api/2/search` (only what reconcile reads; the rest skipped).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchPage {
    pub start_at: u64,
    pub max_results: u64,
    pub total: u64,
    pub issues: Vec<IssueDoc>,
}

/// One issue of a search page (or of `GET /rest/api/2/issue/{key}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IssueDoc {
    pub key: String,
    pub fields: Fields,
    pub changelog: Option<Changelog>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Fields {
    pub assignee: Option<UserDoc>,
    pub updated: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserDoc {
    pub name: Option<String>,
    pub account_id: Option<String>,
    pub email_address: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Changelog {
    pub start_at: u64,
    pub max_results: Option<u64>,
    pub total: Option<u64>,
    pub histories: Vec<HistoryDoc>,
}

impl HistoryDoc {
    /// A `Key` item (the issue moved): its old and new key, checked and
    /// upper-cased (as a webhook's, `payload::moved_keys`). None when there
    /// is none or it is malformed.
    pub fn moved(&self) -> Option<(String, String)> {
        let item = self
            .items
            .iter()
            .rev()
            .find(|i| i.field.as_deref() == Some("Key"))?;
        let text = |s: &Option<Text>, t: &Option<Text>| {
            s.clone()
                .map(Text::into_string)
                .filter(|s| !s.is_empty())
                .or(t.clone().map(Text::into_string))
        };
        super::payload::moved_keys(Some((
            text(&item.from_string, &item.from),
            text(&item.to_string, &item.to),
        )))
        .ok()
        .flatten()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct HistoryDoc {
    pub id: Text,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub items: Vec<ItemDoc>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ItemDoc {
    pub field: Option<String>,
    pub field_id: Option<String>,
    pub from: Option<Text>,
    pub to: Option<Text>,
    pub from_string: Option<Text>,
    pub to_string: Option<Text>,
}

impl ItemDoc {
    /// Is this an item of `name` (by `field`, or in newer Jira `fieldId`)?
    fn is(&self, name: &str) -> bool {
        self.field.as_deref() == Some(name) || self.field_id.as_deref() == Some(name)
    }
}

impl IssueDoc {
    /// `fields.updated` in ms.
    pub fn updated(&self) -> Option<i64> {
        self.fields.updated.as_deref().and_then(parse_jira_time)
    }

    /// Its key and every key it had before a move its changelog shows.
    pub fn keys(&self) -> Vec<String> {
        let mut out = vec![self.key.clone()];
        for h in self.changelog.iter().flat_map(|c| &c.histories) {
            if let Some((from, _)) = h.moved() {
                if !out.contains(&from) {
                    out.push(from);
                }
            }
        }
        out
    }

    /// Was the changelog cut short (`total > maxResults`, or it starts past
    /// the first history)? Then it is read whole from the issue itself.
    pub fn changelog_cut(&self) -> bool {
        self.changelog.as_ref().is_some_and(|c| {
            c.start_at > 0 || c.total.is_some_and(|t| t > c.histories.len() as u64)
        })
    }

    /// The deliveries its histories make (SPEC section 11): each history
    /// holding an assignee or status item, oldest first (by `created`, then
    /// id), as the webhook path would see it. The assignee is the one of
    /// `fields.assignee` when that is the same Jira user (its email, when
    /// shown); otherwise the Jira account is named, for a Jira user link or
    /// a look-up to say who it is. The status's category comes only from
    /// the status list (`fields.status` is the newest state, not the
    /// history's).
    pub fn commands(&self, integration: Id, received: i64) -> Vec<SyncCommand> {
        let key = normalize_issue_key(&self.key).into_owned();
        if check_issue_key(&key).is_err() {
            return vec![];
        }
        let Some(changelog) = &self.changelog else {
            return vec![];
        };
        // Oldest first, by `created` then id (Jira's order is not trusted);
        // each history's time and move read once.
        let mut histories: Vec<(Option<i64>, u64, Option<String>, &HistoryDoc)> = changelog
            .histories
            .iter()
            .map(|h| {
                let ts = h.created.as_deref().and_then(parse_jira_time);
                let order = match &h.id {
                    Text::Num(n) => n.as_u64(),
                    Text::Str(s) => s.parse().ok(),
                };
                let from = h.moved().map(|(from, _)| from);
                (ts, order.unwrap_or(u64::MAX), from, h)
            })
            .collect();
        histories.sort_by_key(|(ts, order, _, _)| (ts.unwrap_or(i64::MIN), *order));
        // The key each history was made under: walking back from the key
        // the issue has now, a move (a `Key` item) leads to its old key.
        let mut keys = Vec::with_capacity(histories.len());
        let mut now = key;
        for (_, _, from, _) in histories.iter().rev() {
            keys.push(now.clone());
            if let Some(f) = from {
                now = f.clone();
            }
        }
        keys.reverse();
        let mut out = Vec::new();
        for ((timestamp, _, moved, h), key) in histories.into_iter().zip(keys) {
            let assignee = h.items.iter().rev().find(|i| i.is("assignee"));
            let status = h.items.iter().rev().find(|i| i.is("status"));
            if assignee.is_none() && status.is_none() && moved.is_none() {
                continue;
            }
            let id = h.id.clone().into_string();
            if id.is_empty() || id.len() > super::payload::MAX_KEY_LEN {
                continue;
            }
            out.push(SyncCommand {
                received,
                integration,
                key,
                changelog_id: Some(id),
                timestamp,
                assignee: assignee.map(|i| self.assignee_change(i)),
                status: status.map(|i| StatusChange {
                    from: i.from.clone().map(Text::into_string),
                    to: i.to.clone().map(Text::into_string),
                    to_done_now: None,
                }),
                source: Source::Reconcile,
                moved,
            });
        }
        out
    }

    /// The assignee a history's item names.
    fn assignee_change(&self, item: &ItemDoc) -> Change {
        let Some(to) = item
            .to
            .clone()
            .map(Text::into_string)
            .filter(|t| !t.is_empty())
        else {
            return Change::Unassign;
        };
        let now = self.fields.assignee.as_ref();
        let same = now.is_some_and(|u| {
            u.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&to))
                || u.account_id.as_deref() == Some(to.as_str())
        });
        match now.and_then(|u| u.email_address.as_deref()).map(str::trim) {
            Some(email) if same && !email.is_empty() => Change::Assign(email.to_string()),
            _ => Change::JiraUser {
                name: to,
                why: None,
            },
        }
    }
}

/// Parse a search answer.
pub fn parse_search(text: &str) -> Result<SearchPage, String> {
    serde_json::from_str(text).map_err(|e| format!("Jira's search answer could not be read: {e}"))
}

/// Parse `GET /rest/api/2/issue/{key}?expand=changelog`.
pub fn parse_issue(text: &str) -> Result<IssueDoc, String> {
    serde_json::from_str(text).map_err(|e| format!("Jira's issue answer could not be read: {e}"))
}
