//! The named sled trees and their key → value layouts. The names are part
//! of the on-disk format (see the migrations in [`super::MIGRATIONS`]).

use super::prefixed::Prefixed;
use super::StoreResult;

/// Tags of the record kinds in tree `sync` (schema 4; see [`super::prefixed`]).
/// A group's [`GroupState`](crate::domain::GroupState): assignee and
/// status (schema 9).
pub const TAG_GROUP_STATE: u8 = b'G';
/// The activities one sync write recorded for a group (schema 9).
pub const TAG_ACTIVITIES: u8 = b'C';
pub const TAG_DELIVERY_STATE: u8 = b's';
pub const TAG_DELIVERY_LOG: u8 = b'l';
/// An outbox entry (SPEC section 10), written with the change it pushes.
pub const TAG_OUTBOX: u8 = b'o';
/// The delivery log's part for deliveries refused before their token was
/// verified (`bad-token`), bounded on its own.
pub const TAG_REFUSED_LOG: u8 = b'r';
/// Schema 4 to 8: a group's assignee (schema 9: in its group state).
pub const TAG_ASSIGNEE_V8: u8 = b'a';
/// Schema 7 and 8: a group's status (schema 9: in its group state).
pub const TAG_GROUP_STATUS_V8: u8 = b'g';
/// Schema 4 to 8: one activity per record (schema 9: [`TAG_ACTIVITIES`]).
pub const TAG_ACTIVITY_V8: u8 = b'c';

/// The named trees. The names are part of the on-disk format.
#[derive(Clone)]
pub struct Trees {
    /// schema version, sequences, snowflake high-water mark
    pub meta: sled::Tree,
    /// org id -> Organization
    pub orgs: sled::Tree,
    /// lowercase slug -> org id
    pub org_slugs: sled::Tree,
    /// user id -> User
    pub users: sled::Tree,
    /// (email, ASCII lower-cased, user id) -> verified (1 byte) (schema 5;
    /// Unicode lower-cased before)
    pub user_emails: sled::Tree,
    /// team id -> Team
    pub teams: sled::Tree,
    /// (org id, lowercase slug) -> team id
    pub team_slugs: sled::Tree,
    /// (team id, user id) -> ()
    pub team_members: sled::Tree,
    /// (user id, team id) -> ()
    pub user_teams: sled::Tree,
    /// project id -> Project
    pub projects: sled::Tree,
    /// (org id, lowercase slug) -> project id
    pub project_slugs: sled::Tree,
    /// (org id, project id) -> ()
    pub org_projects: sled::Tree,
    /// (team id, project id) -> ()
    pub team_projects: sled::Tree,
    /// project id -> () : deletes accepted but not finished (resumed at start)
    pub project_deletes: sled::Tree,
    /// (project id, user id, type) -> NotificationSetting
    pub notification_settings: sled::Tree,
    /// group id -> Group
    pub groups: sled::Tree,
    /// (project id, group id) -> ()
    pub project_groups: sled::Tree,
    /// (integration id, issue key upper-cased, group id) -> Link (schema 5)
    pub links: sled::Tree,
    /// (group id, integration id, issue key) -> ()
    pub group_links: sled::Tree,
    /// Everything one sync step writes, in one tree so that a batch of
    /// sync writes is one atomic `apply_batch` (schema 4). The four views
    /// below are its record kinds; schema 3 and older kept each in a tree of
    /// its own (`assignees`, `activities`, `delivery_state`, `delivery_log`).
    pub sync: sled::Tree,
    /// group id -> GroupState: assignee and status (absent: unassigned,
    /// unresolved)
    pub group_states: Prefixed,
    /// entry id -> OutboxEntry (ids grow: oldest first)
    pub outbox: Prefixed,
    /// (group id, id of its first activity) -> the activities one sync
    /// write recorded for the group, `Vec<Activity>` in id order
    pub activities: Prefixed,
    /// (integration id, issue key) -> DeliveryState
    pub delivery_state: Prefixed,
    /// id of a chunk's first entry -> chunk of Delivery (the bounded
    /// delivery log, see [`super::delivery_log`]; schema 2 and older: tree
    /// `deliveries`, delivery id -> Delivery)
    pub deliveries: Prefixed,
    /// id of a chunk's first entry -> chunk of `bad-token` Delivery (the
    /// refused part of the delivery log, bounded apart)
    pub refused_deliveries: Prefixed,
    /// integration id -> Integration
    pub integrations: sled::Tree,
    /// external id -> integration id
    pub integration_ext: sled::Tree,
    /// (integration id, org id) -> Installation
    pub installations: sled::Tree,
    /// request token -> PendingOAuth
    pub pending_oauth: sled::Tree,
    /// integration id -> StatusList (the Jira statuses, as last read)
    pub jira_statuses: sled::Tree,
    /// (integration id, Jira project key) -> StatusMapping
    pub status_mappings: sled::Tree,
    /// (integration id, lower-cased Jira user) -> JiraUserLink
    pub jira_users: sled::Tree,
    /// (integration id, user id, lower-cased Jira user) -> () (the links of a user)
    pub user_jira_users: sled::Tree,
    /// integration id -> ReconcileRecord (cursor and last run, SPEC section 11)
    pub reconcile: sled::Tree,
}

impl Trees {
    pub(super) fn open(db: &sled::Db) -> StoreResult<Trees> {
        let sync = db.open_tree("sync")?;
        let kind = |tag| Prefixed::new(sync.clone(), tag);
        Ok(Trees {
            meta: db.open_tree("meta")?,
            orgs: db.open_tree("orgs")?,
            org_slugs: db.open_tree("org_slugs")?,
            users: db.open_tree("users")?,
            user_emails: db.open_tree("user_emails")?,
            teams: db.open_tree("teams")?,
            team_slugs: db.open_tree("team_slugs")?,
            team_members: db.open_tree("team_members")?,
            user_teams: db.open_tree("user_teams")?,
            projects: db.open_tree("projects")?,
            project_slugs: db.open_tree("project_slugs")?,
            org_projects: db.open_tree("org_projects")?,
            team_projects: db.open_tree("team_projects")?,
            project_deletes: db.open_tree("project_deletes")?,
            notification_settings: db.open_tree("notification_settings")?,
            groups: db.open_tree("groups")?,
            project_groups: db.open_tree("project_groups")?,
            links: db.open_tree("links")?,
            group_links: db.open_tree("group_links")?,
            group_states: kind(TAG_GROUP_STATE),
            outbox: kind(TAG_OUTBOX),
            activities: kind(TAG_ACTIVITIES),
            delivery_state: kind(TAG_DELIVERY_STATE),
            deliveries: kind(TAG_DELIVERY_LOG),
            refused_deliveries: kind(TAG_REFUSED_LOG),
            integrations: db.open_tree("integrations")?,
            integration_ext: db.open_tree("integration_ext")?,
            installations: db.open_tree("installations")?,
            pending_oauth: db.open_tree("pending_oauth")?,
            jira_statuses: db.open_tree("jira_statuses")?,
            status_mappings: db.open_tree("status_mappings")?,
            jira_users: db.open_tree("jira_users")?,
            user_jira_users: db.open_tree("user_jira_users")?,
            reconcile: db.open_tree("reconcile")?,
            sync,
        })
    }
}
