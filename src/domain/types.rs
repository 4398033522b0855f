//! The data model of SPEC section 3. Values are stored with bincode 2 (serde)
//! and returned by the admin API as JSON. Secrets are `#[serde(skip_serializing)]`
//! only on the API view types, never here: these are storage types.

use serde::{Deserialize, Serialize};

pub type Id = u64;
/// Milliseconds since the UNIX epoch.
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub id: Id,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub email: String,
    pub verified: bool,
}

/// The form in which emails are compared and indexed: ASCII case folding
/// only (SPEC section 4 step 5). `BOB@EXAMPLE.ORG` is `bob@example.org`, but
/// a look-alike such as the Kelvin sign (U+212A) for `K` stays a different
/// address (Unicode lower-casing would turn it into `k`).
pub fn email_key(email: &str) -> String {
    email.to_ascii_lowercase()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: Id,
    pub name: String,
    pub emails: Vec<Email>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: Id,
    pub org: Id,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: Id,
    pub org: Id,
    pub slug: String,
    pub name: String,
    pub teams: Vec<Id>,
    pub date_added: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: Id,
    pub project: Id,
    pub title: String,
    pub date_added: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationStatus {
    Pending,
    Active,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    pub id: Id,
    pub provider: String,
    pub external_id: String,
    pub name: String,
    pub base_url: String,
    pub verify_ssl: bool,
    pub consumer_key: String,
    /// Secret: PEM of the RSA private key.
    pub private_key: String,
    /// Secret.
    pub access_token: String,
    /// Secret.
    pub access_token_secret: String,
    /// Secret: hex of 32 random bytes; signs the webhook JWT.
    pub webhook_secret: String,
    pub status: IntegrationStatus,
    pub last_error: Option<String>,
    /// Result of the last webhook registration in Jira (endpoint used, Jira's answer).
    pub webhook: Option<WebhookRegistration>,
    pub date_added: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRegistration {
    pub endpoint: String,
    pub status: u16,
    /// Jira's `self` URL of the created webhook, when it sent one.
    pub jira_webhook: Option<String>,
    pub date_registered: Millis,
}

pub const PROVIDER_JIRA_SERVER: &str = "jira_server";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installation {
    pub org: Id,
    pub integration: Id,
    /// Jira assignee changes reach the groups (`sync_reverse_assignment`).
    pub sync_inbound_assignee: bool,
    /// Local assignee changes reach Jira (`sync_forward_assignment`).
    pub sync_outbound_assignee: bool,
    /// Jira status changes resolve / unresolve the groups (`sync_status_reverse`).
    pub sync_inbound_status: bool,
    /// Local status changes move the Jira issue (`sync_status_forward`).
    pub sync_outbound_status: bool,
}

/// One of an integration's Jira statuses (read from Jira, SPEC section 10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraStatus {
    /// Jira's status id (a string, as Jira sends it).
    pub id: String,
    pub name: String,
    /// `statusCategory.key`: `new`, `indeterminate` or `done`.
    pub category: String,
}

/// An integration's Jira statuses and when they were read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusList {
    pub statuses: Vec<JiraStatus>,
    pub read_at: Millis,
}

impl StatusList {
    /// Is `id` one of the statuses whose category is `done`? None when the
    /// list does not have it.
    pub fn is_done(&self, id: &str) -> Option<bool> {
        self.statuses
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.category == "done")
    }
}

/// Where outbound status sync moves an issue of a Jira project (SPEC section 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusMapping {
    pub integration: Id,
    /// The Jira project key (upper case).
    pub jira_project: String,
    /// Jira status id for a group that is resolved here.
    pub on_resolve: String,
    /// Jira status id for a group that is unresolved here.
    pub on_unresolve: String,
}

/// Which local user a Jira account is (SPEC section 11): `jira_user` is the
/// account's username (`fields.assignee.name`) or its `accountId`, matched
/// ASCII case-insensitively (Jira Server's usernames are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JiraUserLink {
    pub integration: Id,
    /// As the operator spelled it.
    pub jira_user: String,
    pub user: Id,
}

/// Check a Jira username or `accountId` given by an operator: 1 to 255
/// characters, no control characters, no leading or trailing whitespace.
pub fn check_jira_user(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.chars().count() > 255 {
        return Err("is longer than 255 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("holds a control character".into());
    }
    if name.trim() != name {
        return Err("starts or ends with whitespace".into());
    }
    Ok(())
}

/// The switches of an installation request: an omitted one keeps its value
/// (`false` for a new installation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Switches {
    pub sync_inbound_assignee: Option<bool>,
    pub sync_outbound_assignee: Option<bool>,
    pub sync_inbound_status: Option<bool>,
    pub sync_outbound_status: Option<bool>,
}

impl Switches {
    /// The installation these switches make of `current` (or of a new one).
    pub fn apply(self, org: Id, integration: Id, current: Option<Installation>) -> Installation {
        let c = current.unwrap_or(Installation {
            org,
            integration,
            sync_inbound_assignee: false,
            sync_outbound_assignee: false,
            sync_inbound_status: false,
            sync_outbound_status: false,
        });
        Installation {
            org,
            integration,
            sync_inbound_assignee: self
                .sync_inbound_assignee
                .unwrap_or(c.sync_inbound_assignee),
            sync_outbound_assignee: self
                .sync_outbound_assignee
                .unwrap_or(c.sync_outbound_assignee),
            sync_inbound_status: self.sync_inbound_status.unwrap_or(c.sync_inbound_status),
            sync_outbound_status: self.sync_outbound_status.unwrap_or(c.sync_outbound_status),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub group: Id,
    pub integration: Id,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignee {
    pub group: Id,
    pub project: Id,
    pub user: Id,
    pub date_added: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivityType {
    Assigned,
    Unassigned,
    // New variants go last: stored activities encode the variant's index.
    #[serde(rename = "set_resolved")]
    SetResolved,
    #[serde(rename = "set_unresolved")]
    SetUnresolved,
}

/// A group's resolved state (SPEC section 3); new groups are unresolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupStatus {
    #[default]
    Unresolved,
    Resolved,
}

impl GroupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Unresolved => "unresolved",
            GroupStatus::Resolved => "resolved",
        }
    }
}

/// The status of a group (unresolved by default), part of its
/// [`GroupState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatusRecord {
    pub status: GroupStatus,
    /// When it was resolved (ms), while it is.
    pub resolved_at: Option<Millis>,
}

/// What sync keeps of a group: its assignee and its status, in ONE record
/// (kind `G` of tree `sync`, schema 9), so that a delivery changing both
/// writes one record, not two. A group without one is unassigned and
/// unresolved; a record that became empty stays (an insert costs sled less
/// than a remove, and the group's delete removes it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupState {
    pub assignee: Option<Assignee>,
    pub status: StatusRecord,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub id: Id,
    pub group: Id,
    pub project: Id,
    #[serde(rename = "type")]
    pub kind: ActivityType,
    /// Acting user, or None for the integration / system.
    pub user: Option<Id>,
    /// JSON text of the activity data (bincode cannot carry `serde_json::Value`).
    pub data: String,
    pub date_added: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSetting {
    pub project: Id,
    pub user: Id,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOAuth {
    pub request_token: String,
    /// Secret.
    pub request_token_secret: String,
    pub integration: Id,
    pub expires: Millis,
}

/// Newest applied delivery for one `(integration, issue key)`, per field
/// (SPEC section 10: a newer status change must not make an older, late
/// assignee change stale, nor the other way round).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeliveryState {
    /// Jira `timestamp` (ms) of the newest applied assignee change.
    pub timestamp: Option<i64>,
    /// `changelog.id` of the newest applied delivery, if it carried one.
    pub changelog_id: Option<String>,
    /// Every changelog id applied recently for this key (bounded), for duplicate detection.
    pub recent_changelog_ids: super::RecentIds,
    /// Jira `timestamp` (ms) of the newest applied status change (schema 7).
    pub status_timestamp: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryOutcome {
    Assigned,
    Unassigned,
    Unchanged,
    Duplicate,
    Stale,
    NoAffectedGroups,
    AssigneeNotFound,
    MissingAssigneeEmail,
    MissingChangelog,
    NotAnAssigneeChange,
    BadToken,
    BadRequest,
    Failed,
    // New variants go last: stored entries encode the variant's index.
    Resolved,
    Unresolved,
    /// A delivery that did several things joins them with `+`.
    AssignedResolved,
    AssignedUnresolved,
    UnassignedResolved,
    UnassignedUnresolved,
    /// The issue moved to another key; links and delivery state followed
    /// (SPEC section 4 step 5c), alone or with the delivery's other effects.
    Moved,
    MovedAssigned,
    MovedUnassigned,
    MovedResolved,
    MovedUnresolved,
    MovedAssignedResolved,
    MovedAssignedUnresolved,
    MovedUnassignedResolved,
    MovedUnassignedUnresolved,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Assigned => "assigned",
            DeliveryOutcome::Unassigned => "unassigned",
            DeliveryOutcome::Unchanged => "unchanged",
            DeliveryOutcome::Duplicate => "duplicate",
            DeliveryOutcome::Stale => "stale",
            DeliveryOutcome::NoAffectedGroups => "no-affected-groups",
            DeliveryOutcome::AssigneeNotFound => "assignee-not-found",
            DeliveryOutcome::MissingAssigneeEmail => "missing-assignee-email",
            DeliveryOutcome::MissingChangelog => "missing-changelog",
            DeliveryOutcome::NotAnAssigneeChange => "not-an-assignee-change",
            DeliveryOutcome::BadToken => "bad-token",
            DeliveryOutcome::BadRequest => "bad-request",
            DeliveryOutcome::Failed => "failed",
            DeliveryOutcome::Resolved => "resolved",
            DeliveryOutcome::Unresolved => "unresolved",
            DeliveryOutcome::AssignedResolved => "assigned+resolved",
            DeliveryOutcome::AssignedUnresolved => "assigned+unresolved",
            DeliveryOutcome::UnassignedResolved => "unassigned+resolved",
            DeliveryOutcome::UnassignedUnresolved => "unassigned+unresolved",
            DeliveryOutcome::Moved => "moved",
            DeliveryOutcome::MovedAssigned => "moved+assigned",
            DeliveryOutcome::MovedUnassigned => "moved+unassigned",
            DeliveryOutcome::MovedResolved => "moved+resolved",
            DeliveryOutcome::MovedUnresolved => "moved+unresolved",
            DeliveryOutcome::MovedAssignedResolved => "moved+assigned+resolved",
            DeliveryOutcome::MovedAssignedUnresolved => "moved+assigned+unresolved",
            DeliveryOutcome::MovedUnassignedResolved => "moved+unassigned+resolved",
            DeliveryOutcome::MovedUnassignedUnresolved => "moved+unassigned+unresolved",
        }
    }

    /// The effects of an assignee part and a status part, joined in the
    /// fixed order (SPEC section 4, delivery log). Anything else: the first.
    pub fn join(assignee: DeliveryOutcome, status: DeliveryOutcome) -> DeliveryOutcome {
        use DeliveryOutcome::*;
        match (assignee, status) {
            (Assigned, Resolved) => AssignedResolved,
            (Assigned, Unresolved) => AssignedUnresolved,
            (Unassigned, Resolved) => UnassignedResolved,
            (Unassigned, Unresolved) => UnassignedUnresolved,
            (a, _) => a,
        }
    }

    /// A move joined with the other effects of its delivery (`rest`: the
    /// outcome without the move). A rest without an effect adds nothing.
    pub fn moved(rest: DeliveryOutcome) -> DeliveryOutcome {
        use DeliveryOutcome::*;
        match rest {
            Assigned => MovedAssigned,
            Unassigned => MovedUnassigned,
            Resolved => MovedResolved,
            Unresolved => MovedUnresolved,
            AssignedResolved => MovedAssignedResolved,
            AssignedUnresolved => MovedAssignedUnresolved,
            UnassignedResolved => MovedUnassignedResolved,
            UnassignedUnresolved => MovedUnassignedUnresolved,
            _ => Moved,
        }
    }

    /// Does this outcome have `part` (itself, or one of its `+` parts)?
    pub fn has_part(self, part: DeliveryOutcome) -> bool {
        self == part || self.as_str().split('+').any(|p| p == part.as_str())
    }

    pub const ALL: [DeliveryOutcome; 28] = [
        DeliveryOutcome::Assigned,
        DeliveryOutcome::Unassigned,
        DeliveryOutcome::Unchanged,
        DeliveryOutcome::Duplicate,
        DeliveryOutcome::Stale,
        DeliveryOutcome::NoAffectedGroups,
        DeliveryOutcome::AssigneeNotFound,
        DeliveryOutcome::MissingAssigneeEmail,
        DeliveryOutcome::MissingChangelog,
        DeliveryOutcome::NotAnAssigneeChange,
        DeliveryOutcome::BadToken,
        DeliveryOutcome::BadRequest,
        DeliveryOutcome::Failed,
        DeliveryOutcome::Resolved,
        DeliveryOutcome::Unresolved,
        DeliveryOutcome::AssignedResolved,
        DeliveryOutcome::AssignedUnresolved,
        DeliveryOutcome::UnassignedResolved,
        DeliveryOutcome::UnassignedUnresolved,
        DeliveryOutcome::Moved,
        DeliveryOutcome::MovedAssigned,
        DeliveryOutcome::MovedUnassigned,
        DeliveryOutcome::MovedResolved,
        DeliveryOutcome::MovedUnresolved,
        DeliveryOutcome::MovedAssignedResolved,
        DeliveryOutcome::MovedAssignedUnresolved,
        DeliveryOutcome::MovedUnassignedResolved,
        DeliveryOutcome::MovedUnassignedUnresolved,
    ];

    pub fn parse(s: &str) -> Option<DeliveryOutcome> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Where a delivery came from (SPEC section 4, delivery log): a webhook
/// Jira sent, or a change history read back by reconcile (section 11).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    #[default]
    Webhook,
    Reconcile,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Reconcile => "reconcile",
        }
    }
}

/// One entry of the delivery log. Never holds a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: Id,
    /// Time received (ms).
    pub received: Millis,
    pub integration: Option<Id>,
    pub key: Option<String>,
    pub changelog_id: Option<String>,
    /// Jira `timestamp` (ms).
    pub timestamp: Option<i64>,
    pub outcome: DeliveryOutcome,
    pub groups: Vec<Id>,
    pub reason: String,
    /// Webhook or reconcile (schema 8; older entries were all webhooks).
    pub source: Source,
}
