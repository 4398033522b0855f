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

/// Leaf size of the [`PACKED_TREES`]: entries a leaf holds before sled splits
/// it (sled's own limit, for every other tree, is 16).
const PACKED_LEAF_ENTRIES: usize = 64;

/// Trees written only when links and groups are made or removed, read by
/// point lookups and prefix scans, and as large as the link count: their
/// leaves hold [`PACKED_LEAF_ENTRIES`]. sled keeps a record in memory for
/// every page of every tree, cached or not; with 1M links these three trees
/// were most of the pages, and packing them took ~20 MiB off the resident
/// memory while the CPU per webhook delivery did not rise once the memory
/// went to sled's cache (`CACHE_CAPACITY`; bench/ANALYSIS.md, eighth round).
/// The trees written per delivery keep sled's 16: their writes cost more in
/// larger leaves.
const PACKED_TREES: [&str; 3] = ["links", "group_links", "project_groups"];

/// `db.open_tree(name)` with the tree's leaf size: the one way synclink opens
/// a tree it keeps, for the daemon's open and for `--compact`'s copy (which so
/// re-packs the leaves of a database written before).
pub(crate) fn open_tree(db: &sled::Db, name: &[u8]) -> sled::Result<sled::Tree> {
    let tree = db.open_tree(name)?;
    if PACKED_TREES.iter().any(|t| t.as_bytes() == name) {
        tree.set_max_leaf_entries(PACKED_LEAF_ENTRIES);
    }
    Ok(tree)
}

impl Trees {
    pub(super) fn open(db: &sled::Db) -> StoreResult<Trees> {
        let sync = open_tree(db, b"sync")?;
        let kind = |tag| Prefixed::new(sync.clone(), tag);
        Ok(Trees {
            meta: open_tree(db, b"meta")?,
            orgs: open_tree(db, b"orgs")?,
            org_slugs: open_tree(db, b"org_slugs")?,
            users: open_tree(db, b"users")?,
            user_emails: open_tree(db, b"user_emails")?,
            teams: open_tree(db, b"teams")?,
            team_slugs: open_tree(db, b"team_slugs")?,
            team_members: open_tree(db, b"team_members")?,
            user_teams: open_tree(db, b"user_teams")?,
            projects: open_tree(db, b"projects")?,
            project_slugs: open_tree(db, b"project_slugs")?,
            org_projects: open_tree(db, b"org_projects")?,
            team_projects: open_tree(db, b"team_projects")?,
            project_deletes: open_tree(db, b"project_deletes")?,
            notification_settings: open_tree(db, b"notification_settings")?,
            groups: open_tree(db, b"groups")?,
            project_groups: open_tree(db, b"project_groups")?,
            links: open_tree(db, b"links")?,
            group_links: open_tree(db, b"group_links")?,
            group_states: kind(TAG_GROUP_STATE),
            outbox: kind(TAG_OUTBOX),
            activities: kind(TAG_ACTIVITIES),
            delivery_state: kind(TAG_DELIVERY_STATE),
            deliveries: kind(TAG_DELIVERY_LOG),
            refused_deliveries: kind(TAG_REFUSED_LOG),
            integrations: open_tree(db, b"integrations")?,
            integration_ext: open_tree(db, b"integration_ext")?,
            installations: open_tree(db, b"installations")?,
            pending_oauth: open_tree(db, b"pending_oauth")?,
            jira_statuses: open_tree(db, b"jira_statuses")?,
            status_mappings: open_tree(db, b"status_mappings")?,
            jira_users: open_tree(db, b"jira_users")?,
            user_jira_users: open_tree(db, b"user_jira_users")?,
            reconcile: open_tree(db, b"reconcile")?,
            sync,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::groups::{group_link_key, link_key};
    use crate::store::keys::Key;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use std::collections::BTreeMap;

    fn db() -> (tempfile::TempDir, sled::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::sled_config(dir.path()).open().unwrap();
        (dir, db)
    }

    /// The same links written through `open_tree` and through sled's own
    /// `open_tree`: the packed trees' leaves take fewer pages, so the log
    /// (every page is written whole when it is made) is smaller. Fails if
    /// the trees are not packed (both the same size).
    #[test]
    fn link_trees_are_packed_and_take_less_space() {
        let written = |packed: bool| {
            let (_dir, db) = db();
            let open = |n: &str| {
                if packed {
                    open_tree(&db, n.as_bytes())
                } else {
                    db.open_tree(n)
                }
            };
            let (links, by_group) = (open("links").unwrap(), open("group_links").unwrap());
            for g in 0..4_000u64 {
                for k in 0..5u64 {
                    let key = format!("PROJ-{}", g * 5 + k);
                    links.insert(link_key(1, &key, g), &[]).unwrap();
                    by_group.insert(group_link_key(g, 1, &key), &[]).unwrap();
                }
            }
            db.flush().unwrap();
            db.size_on_disk().unwrap()
        };
        let (sled_leaves, packed) = (written(false), written(true));
        assert!(
            packed * 10 < sled_leaves * 7,
            "packed {packed} bytes, sled's leaves {sled_leaves} bytes"
        );
    }

    /// Large leaves lose nothing: random inserts and removes in a packed tree
    /// against a model, read back by point lookups, full and prefix scans,
    /// also after the database is closed and opened again.
    #[test]
    fn a_packed_tree_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut model = BTreeMap::new();
        let mut rng = StdRng::seed_from_u64(17);
        for round in 0..2 {
            let db = crate::store::sled_config(dir.path()).open().unwrap();
            let t = open_tree(&db, b"links").unwrap();
            for _ in 0..20_000 {
                let key = link_key(
                    1,
                    &format!("K-{}", rng.gen_range(0..3_000)),
                    rng.gen_range(0..4),
                );
                if rng.gen_bool(0.3) {
                    assert_eq!(
                        t.remove(&key).unwrap().is_some(),
                        model.remove(&key).is_some()
                    );
                } else {
                    let v = rng.gen::<u32>().to_be_bytes().to_vec();
                    t.insert(&key, v.clone()).unwrap();
                    model.insert(key, v);
                }
            }
            let all: Vec<_> = t
                .iter()
                .map(|kv| kv.unwrap())
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect();
            assert_eq!(
                all,
                model.clone().into_iter().collect::<Vec<_>>(),
                "round {round}"
            );
            for n in 0..3_000 {
                let prefix = Key::new().u64(1).str(&format!("K-{n}")).build();
                let got: Vec<_> = t
                    .scan_prefix(&prefix)
                    .keys()
                    .map(|k| k.unwrap().to_vec())
                    .collect();
                let want: Vec<_> = model
                    .keys()
                    .filter(|k| k.starts_with(&prefix))
                    .cloned()
                    .collect();
                assert_eq!(got, want, "prefix K-{n}, round {round}");
            }
            db.flush().unwrap();
        }
    }
}
