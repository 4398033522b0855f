//! Migrations past version 1 (the list is [`super::MIGRATIONS`]). Each one
//! decodes the layout it replaces with a frozen copy of the old type, so it
//! keeps working whatever the current types become.

use super::delivery_log::CHUNK_MAX;
use super::prefixed::Prefixed;
use super::trees::{TAG_ACTIVITY_V8, TAG_ASSIGNEE_V8, TAG_GROUP_STATUS_V8};
use super::{decode, encode, keys, Store, StoreResult};
use crate::domain::{
    Activity, Delivery, DeliveryOutcome, DeliveryState, GroupState, Id, RecentIds, Source,
    StatusRecord,
};
use serde::Deserialize;

/// A delivery-log entry as versions 1 to 7 stored it (no `source`: every
/// entry came from a webhook).
#[derive(serde::Serialize, Deserialize)]
struct DeliveryV7 {
    id: Id,
    received: i64,
    integration: Option<Id>,
    key: Option<String>,
    changelog_id: Option<String>,
    timestamp: Option<i64>,
    outcome: DeliveryOutcome,
    groups: Vec<Id>,
    reason: String,
}

/// Entries (increasing ids) as delivery-log chunks of the version 3-7 layout.
fn chunks_v7(entries: &[DeliveryV7]) -> StoreResult<Vec<([u8; 8], Vec<u8>)>> {
    entries
        .chunks(CHUNK_MAX)
        .map(|c| Ok((keys::id(c[0].id), encode("delivery log chunk (v7)", &c)?)))
        .collect()
}

/// `DeliveryState` as versions 2 to 6 stored it (one timestamp for the key).
#[derive(serde::Serialize, Deserialize)]
struct DeliveryStateV6 {
    timestamp: Option<i64>,
    changelog_id: Option<String>,
    recent_changelog_ids: RecentIds,
}

/// `DeliveryState` as version 1 stored it.
#[derive(Deserialize)]
struct DeliveryStateV1 {
    timestamp: Option<i64>,
    changelog_id: Option<String>,
    recent_changelog_ids: Vec<String>,
}

/// Version 2: the recent changelog ids of each `delivery_state` entry are
/// one length-prefixed byte string instead of a list of strings.
pub(super) fn v2_recent_ids(store: &Store) -> StoreResult<()> {
    let tree = store.db.open_tree("delivery_state")?; // schema 3 and older
    for r in tree.iter() {
        let (k, v) = r?;
        let old: DeliveryStateV1 = decode("delivery state (v1)", &v)?;
        let new = DeliveryStateV6 {
            timestamp: old.timestamp,
            changelog_id: old.changelog_id,
            recent_changelog_ids: old
                .recent_changelog_ids
                .iter()
                .map(String::as_str)
                .collect::<RecentIds>(),
        };
        tree.insert(k, encode("delivery state (v6)", &new)?)?;
    }
    Ok(())
}

/// Version 3: the delivery log moves from tree `deliveries` (one key per
/// entry) to tree `delivery_log` (chunks of up to [`CHUNK_MAX`] entries,
/// see [`super::delivery_log`]); the old tree is dropped. (`Delivery`
/// itself is unchanged since version 1.)
pub(super) fn v3_delivery_log_chunks(store: &Store) -> StoreResult<()> {
    let old = store.db.open_tree("deliveries")?;
    let new = store.db.open_tree("delivery_log")?; // schema 3 only
    let mut chunk: Vec<DeliveryV7> = Vec::with_capacity(CHUNK_MAX);
    let write = |chunk: &mut Vec<DeliveryV7>| -> StoreResult<()> {
        for (k, v) in chunks_v7(chunk)? {
            new.insert(k, v)?;
        }
        chunk.clear();
        Ok(())
    };
    for r in old.iter() {
        let (_, v) = r?;
        chunk.push(decode("delivery (v2)", &v)?);
        if chunk.len() == CHUNK_MAX {
            write(&mut chunk)?;
        }
    }
    write(&mut chunk)?;
    drop(old);
    store.db.drop_tree("deliveries")?;
    Ok(())
}

/// Version 4: assignees, activities, delivery state and the delivery log
/// move from a tree each into record kinds of tree `sync` (keys get the
/// kind's tag, values are unchanged; see [`super::prefixed`]), so that a
/// sync batch is one atomic `apply_batch`. Everything is copied and flushed
/// before the old trees are dropped: a crash part-way runs it again, and
/// copying again writes the same records.
pub(super) fn v4_one_sync_tree(store: &Store) -> StoreResult<()> {
    const BATCH: usize = 10_000;
    let t = &store.t;
    let kind = |tag| Prefixed::new(t.sync.clone(), tag);
    let (assignees, activities) = (kind(TAG_ASSIGNEE_V8), kind(TAG_ACTIVITY_V8));
    let moves = [
        ("assignees", &assignees),
        ("activities", &activities),
        ("delivery_state", &t.delivery_state),
        ("delivery_log", &t.deliveries),
    ];
    for (name, kind) in moves {
        let old = store.db.open_tree(name)?;
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for r in old.iter() {
            let (k, v) = r?;
            kind.batch_insert(&mut batch, k, v);
            n += 1;
            if n == BATCH {
                t.sync.apply_batch(std::mem::take(&mut batch))?;
                n = 0;
            }
        }
        t.sync.apply_batch(batch)?;
    }
    store.db.flush()?;
    for (name, _) in moves {
        store.db.drop_tree(name)?;
    }
    Ok(())
}

/// Version 5: issue keys match case-insensitively and emails by ASCII case
/// folding only (SPEC section 4 step 5).
/// - Links (`links`, `group_links`) and delivery state are keyed by the
///   upper-cased issue key; a link made as `tes-41` becomes `TES-41` (when
///   both exist, they are one link). Delivery state under a key that is not
///   upper case moves there, unless the upper-case key has its own (Jira's
///   keys are upper case, so that one is the real history).
/// - The email index is rebuilt from the users with ASCII lower-casing
///   (Unicode lower-casing made the Kelvin sign `\u{212A}` a `k`).
///
/// Each step removes the old entry and writes the new one, so a crash
/// part-way runs it again to the same result. When a merge drops a
/// duplicate link, the saved counts are voided, so the next open counts.
pub(super) fn v5_case_rules(store: &Store) -> StoreResult<()> {
    use super::keys::{Key, KeyReader};
    use crate::domain::payload::normalize_issue_key;
    use crate::domain::{email_key, Link, User};
    let t = &store.t;
    let mut merged = false;
    for r in t.links.iter() {
        let (k, v) = r?;
        let link: Link = decode("link", &v)?;
        let upper = normalize_issue_key(&link.key);
        if upper == link.key {
            continue;
        }
        let new = Link {
            key: upper.into_owned(),
            ..link.clone()
        };
        let nk = super::groups::link_key(new.integration, &new.key, new.group);
        let old_rk = Key::new()
            .u64(link.group)
            .u64(link.integration)
            .str(&link.key)
            .build();
        let new_rk = Key::new()
            .u64(new.group)
            .u64(new.integration)
            .str(&new.key)
            .build();
        merged |= t.links.contains_key(&nk)?;
        t.links.insert(nk, encode("link", &new)?)?;
        t.group_links.insert(new_rk, &[])?;
        t.links.remove(k)?;
        t.group_links.remove(old_rk)?;
    }
    let mut moves = Vec::new();
    for r in t.delivery_state.iter() {
        let (k, v) = r?;
        let mut rd = KeyReader::new(&k);
        let (Some(integration), Some(key)) = (rd.u64(), rd.str()) else {
            continue;
        };
        let upper = normalize_issue_key(key);
        if upper != key {
            let nk = super::sync::delivery_state_key(integration, &upper);
            moves.push((k.to_vec(), nk, v));
        }
    }
    for (old, new, v) in moves {
        if !t.delivery_state.contains_key(&new)? {
            t.delivery_state.insert(new, v)?;
        }
        t.delivery_state.remove(old)?;
    }
    t.user_emails.clear()?;
    for r in t.users.iter() {
        let (_, v) = r?;
        let user: User = decode("user", &v)?;
        for e in &user.emails {
            let k = Key::new().str(&email_key(&e.email)).u64(user.id).build();
            t.user_emails.insert(k, &[e.verified as u8])?;
        }
    }
    if merged {
        t.meta.remove(super::counts::META_COUNTS)?;
    }
    Ok(())
}

/// `Installation` as schema 5 and older stored it.
#[derive(Deserialize)]
struct InstallationV5 {
    org: crate::domain::Id,
    integration: crate::domain::Id,
    sync_inbound_assignee: bool,
}

/// Version 6: installations gain the switches `sync_outbound_assignee`,
/// `sync_inbound_status` and `sync_outbound_status` (`false`, as SPEC
/// section 3 says a new one starts). Rewriting a record twice gives the
/// same record, so a crash part-way runs it again safely.
pub(super) fn v6_installation_switches(store: &Store) -> StoreResult<()> {
    for r in store.t.installations.iter() {
        let (k, v) = r?;
        let old: InstallationV5 = decode("installation (v5)", &v)?;
        let new = crate::domain::Installation {
            org: old.org,
            integration: old.integration,
            sync_inbound_assignee: old.sync_inbound_assignee,
            sync_outbound_assignee: false,
            sync_inbound_status: false,
            sync_outbound_status: false,
        };
        store
            .t
            .installations
            .insert(k, encode("installation", &new)?)?;
    }
    Ok(())
}

/// Version 7: the delivery state keeps a timestamp per field. What was
/// stored is the assignee's (only assignee changes were applied before);
/// the status has none yet. A rerun after a crash reads an already
/// rewritten record as the old layout (its empty status timestamp is
/// trailing) and writes it again unchanged.
pub(super) fn v7_status_timestamp(store: &Store) -> StoreResult<()> {
    let mut moves = Vec::new();
    for r in store.t.delivery_state.iter() {
        let (k, v) = r?;
        let old: DeliveryStateV6 = decode("delivery state (v6)", &v)?;
        let new = DeliveryState {
            timestamp: old.timestamp,
            changelog_id: old.changelog_id,
            recent_changelog_ids: old.recent_changelog_ids,
            status_timestamp: None,
        };
        moves.push((k, encode("delivery state", &new)?));
    }
    for (k, v) in moves {
        store.t.delivery_state.insert(k, v)?;
    }
    Ok(())
}

/// Version 9: one record per group for its assignee and status
/// ([`GroupState`], kind [`TAG_GROUP_STATE`]) instead of one each, and one
/// record per group and sync write for its activities (kind
/// [`TAG_ACTIVITIES`], a list; each old activity becomes a list of one).
/// The new layouts have tags of their own, and each batch writes new
/// records together with the removal of the old ones they replace, so a
/// crash part-way leaves only old records still to convert: running it
/// again finishes the job.
pub(super) fn v9_group_state(store: &Store) -> StoreResult<()> {
    const BATCH: usize = 10_000;
    let t = &store.t;
    let kind = |tag| Prefixed::new(t.sync.clone(), tag);
    let (assignees, statuses, activities) = (
        kind(TAG_ASSIGNEE_V8),
        kind(TAG_GROUP_STATUS_V8),
        kind(TAG_ACTIVITY_V8),
    );
    let mut batch = sled::Batch::default();
    let mut n = 0;
    let mut step = |batch: &mut sled::Batch| -> StoreResult<()> {
        n += 1;
        if n == BATCH {
            t.sync.apply_batch(std::mem::take(batch))?;
            n = 0;
        }
        Ok(())
    };
    // Assignees, with the status of the same group when it has one.
    for r in assignees.iter() {
        let (k, v) = r?;
        let status = match statuses.get(&k)? {
            Some(s) => decode("group status (v8)", &s)?,
            None => StatusRecord::default(),
        };
        let state = GroupState {
            assignee: Some(decode("assignee (v8)", &v)?),
            status,
        };
        t.group_states
            .batch_insert(&mut batch, &k, encode("group state", &state)?);
        assignees.batch_remove(&mut batch, &k);
        statuses.batch_remove(&mut batch, &k);
        step(&mut batch)?;
    }
    t.sync.apply_batch(std::mem::take(&mut batch))?;
    // Statuses of groups without an assignee (the rest went above).
    for r in statuses.iter() {
        let (k, v) = r?;
        let state = GroupState {
            assignee: None,
            status: decode("group status (v8)", &v)?,
        };
        t.group_states
            .batch_insert(&mut batch, &k, encode("group state", &state)?);
        statuses.batch_remove(&mut batch, &k);
        step(&mut batch)?;
    }
    t.sync.apply_batch(std::mem::take(&mut batch))?;
    for r in activities.iter() {
        let (k, v) = r?;
        let one: Activity = decode("activity (v8)", &v)?;
        t.activities.batch_insert(
            &mut batch,
            &k,
            encode("activities", std::slice::from_ref(&one))?,
        );
        activities.batch_remove(&mut batch, &k);
        step(&mut batch)?;
    }
    t.sync.apply_batch(batch)?;
    Ok(())
}

/// Version 8: every delivery-log entry says where it came from (`source`:
/// webhook or reconcile); what was stored came from webhooks. Both parts
/// of the log are rewritten in ONE atomic batch, so a crash leaves either
/// the old layout or the new one, never a mix.
pub(super) fn v8_delivery_source(store: &Store) -> StoreResult<()> {
    let mut batch = sled::Batch::default();
    for part in [&store.t.deliveries, &store.t.refused_deliveries] {
        for r in part.iter() {
            let (k, v) = r?;
            let old: Vec<DeliveryV7> = decode("delivery log chunk (v7)", &v)?;
            let new: Vec<Delivery> = old
                .into_iter()
                .map(|d| Delivery {
                    id: d.id,
                    received: d.received,
                    integration: d.integration,
                    key: d.key,
                    changelog_id: d.changelog_id,
                    timestamp: d.timestamp,
                    outcome: d.outcome,
                    groups: d.groups,
                    reason: d.reason,
                    source: Source::Webhook,
                })
                .collect();
            part.batch_insert(&mut batch, k, encode("delivery log chunk", &new)?);
        }
    }
    store.t.sync.apply_batch(batch)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sync::delivery_state_key;
    use serde::Serialize;

    /// A database left at schema `version` by an older build, holding what
    /// `fill` writes; the next open migrates it.
    fn old_database(version: u32, fill: impl FnOnce(&Store)) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.t.meta
            .insert(super::super::META_SCHEMA, &version.to_be_bytes())
            .unwrap();
        fill(&s);
        s.flush().unwrap();
        dir
    }

    /// Reopen (migrating) and check the schema is current.
    fn migrated(dir: &tempfile::TempDir) -> Store {
        let s = Store::reopen(dir.path(), false).unwrap();
        assert_eq!(
            s.schema_version().unwrap(),
            Some(super::super::SCHEMA_VERSION)
        );
        s
    }

    #[derive(Serialize)]
    struct V1 {
        timestamp: Option<i64>,
        changelog_id: Option<String>,
        recent_changelog_ids: Vec<String>,
    }

    #[test]
    fn v3_moves_the_delivery_log_into_chunks_in_order() {
        use crate::domain::DeliveryOutcome;
        use crate::store::keys;
        use crate::store::sync::DeliveryFilter;
        let n = CHUNK_MAX * 2 + 7;
        let dir = old_database(2, |s| {
            let old = s.db.open_tree("deliveries").unwrap();
            for i in 0..n as u64 {
                let d = DeliveryV7 {
                    id: 1000 + i,
                    received: i as i64,
                    integration: Some(1),
                    key: Some(format!("K-{i}")),
                    changelog_id: None,
                    timestamp: None,
                    outcome: DeliveryOutcome::Assigned,
                    groups: vec![i],
                    reason: "moved".into(),
                };
                old.insert(keys::id(d.id), encode("v2", &d).unwrap())
                    .unwrap();
            }
        });
        let s = migrated(&dir);
        assert!(!s
            .db
            .tree_names()
            .iter()
            .any(|t| t.as_ref() == b"deliveries"));
        assert_eq!(s.t.deliveries.len(), 3);
        assert_eq!(s.delivery_count().unwrap(), n);
        let all = s
            .list_deliveries(&DeliveryFilter::default(), n + 10, usize::MAX)
            .unwrap();
        let ids: Vec<u64> = all.iter().map(|d| d.id).collect();
        let want: Vec<u64> = (0..n as u64).rev().map(|i| 1000 + i).collect();
        assert_eq!(ids, want);
        assert_eq!(all[0].key.as_deref(), Some(format!("K-{}", n - 1).as_str()));
    }

    #[test]
    fn v2_converts_every_delivery_state_and_keeps_its_meaning() {
        // A version-1 database holding version-1 values.
        let dir = old_database(1, |s| {
            for (i, ids) in [(1u64, vec!["10", "11"]), (2, vec![]), (3, vec!["x"; 1])] {
                let v1 = V1 {
                    timestamp: Some(i as i64 * 1000),
                    changelog_id: ids.last().map(|s| s.to_string()),
                    recent_changelog_ids: ids.iter().map(|s| s.to_string()).collect(),
                };
                s.db.open_tree("delivery_state")
                    .unwrap()
                    .insert(
                        delivery_state_key(7, &format!("K-{i}")),
                        encode("v1", &v1).unwrap(),
                    )
                    .unwrap();
            }
        });
        let s = migrated(&dir);
        let st = s.delivery_state(7, "K-1").unwrap().unwrap();
        assert_eq!(st.timestamp, Some(1000));
        assert_eq!(st.changelog_id.as_deref(), Some("11"));
        assert_eq!(
            st.recent_changelog_ids.iter().collect::<Vec<_>>(),
            ["10", "11"]
        );
        assert!(st.recent_changelog_ids.contains("10"));
        let st = s.delivery_state(7, "K-2").unwrap().unwrap();
        assert!(st.recent_changelog_ids.is_empty() && st.changelog_id.is_none());
        assert!(s
            .delivery_state(7, "K-3")
            .unwrap()
            .unwrap()
            .recent_changelog_ids
            .contains("x"));
    }

    #[test]
    fn v4_moves_sync_records_into_one_tree_unchanged() {
        use crate::domain::{Activity, ActivityType, Assignee, DeliveryOutcome};
        use crate::store::keys;
        use crate::store::sync::DeliveryFilter;
        let activity = |id: u64| Activity {
            id,
            group: 5,
            project: 2,
            kind: ActivityType::Assigned,
            user: None,
            data: "{}".into(),
            date_added: id as i64,
        };
        let delivery = |id: u64| DeliveryV7 {
            id,
            received: 1,
            integration: Some(7),
            key: Some("K-1".into()),
            changelog_id: None,
            timestamp: None,
            outcome: DeliveryOutcome::Assigned,
            groups: vec![5],
            reason: "moved".into(),
        };
        let dir = old_database(3, |s| {
            let tree = |n: &str| s.db.open_tree(n).unwrap();
            let a = Assignee {
                group: 5,
                project: 2,
                user: 9,
                date_added: 3,
            };
            tree("assignees")
                .insert(keys::id(5), encode("a", &a).unwrap())
                .unwrap();
            for id in [11, 12] {
                tree("activities")
                    .insert(keys::pair(5, id), encode("c", &activity(id)).unwrap())
                    .unwrap();
            }
            let st = DeliveryState {
                status_timestamp: None,
                timestamp: Some(40),
                changelog_id: Some("100".into()),
                recent_changelog_ids: ["100"].into_iter().collect(),
            };
            tree("delivery_state")
                .insert(delivery_state_key(7, "K-1"), encode("s", &st).unwrap())
                .unwrap();
            let entries = [delivery(21), delivery(22)];
            for (k, v) in chunks_v7(&entries).unwrap() {
                tree("delivery_log").insert(k, v).unwrap();
            }
        });
        let s = migrated(&dir);
        let names = s.db.tree_names();
        for old in ["assignees", "activities", "delivery_state", "delivery_log"] {
            assert!(!names.iter().any(|t| t.as_ref() == old.as_bytes()), "{old}");
        }
        assert_eq!(s.get_assignee(5).unwrap().map(|a| a.user), Some(9));
        let ids: Vec<u64> = s.list_activity(5).unwrap().iter().map(|a| a.id).collect();
        assert_eq!(ids, [11, 12]);
        let st = s.delivery_state(7, "K-1").unwrap().unwrap();
        assert_eq!(
            (st.timestamp, st.changelog_id.as_deref()),
            (Some(40), Some("100"))
        );
        let log = s
            .list_deliveries(&DeliveryFilter::default(), 10, usize::MAX)
            .unwrap();
        assert_eq!(log.iter().map(|d| d.id).collect::<Vec<_>>(), [22, 21]);
        // Counted where they now live.
        let counts = s.counts_by_scan();
        assert!(counts.contains(&("assignees", Some(1))), "{counts:?}");
        assert!(counts.contains(&("activities", Some(2))), "{counts:?}");
    }

    #[test]
    fn v5_upper_cases_link_keys_and_folds_emails_by_ascii_only() {
        use crate::domain::{DeliveryState, Email, Link};
        use crate::store::keys::Key;
        let link = |group: u64, key: &str| Link {
            group,
            integration: 7,
            key: key.into(),
        };
        let dir = old_database(4, |s| {
            // Links as schema 4 stored them: the key as given.
            for l in [
                link(1, "tes-41"),
                link(2, "Tes-41"),
                link(2, "TES-41"),
                link(3, "APP-1"),
            ] {
                s.t.links
                    .insert(
                        crate::store::groups::link_key(l.integration, &l.key, l.group),
                        encode("link", &l).unwrap(),
                    )
                    .unwrap();
                s.t.group_links
                    .insert(
                        Key::new().u64(l.group).u64(7).str(&l.key).build(),
                        &[] as &[u8],
                    )
                    .unwrap();
            }
            let st = |ts: i64| DeliveryState {
                timestamp: Some(ts),
                ..Default::default()
            };
            let put = |key: &str, st: DeliveryState| {
                s.t.delivery_state
                    .insert(
                        delivery_state_key(7, key),
                        encode("delivery state", &st).unwrap(),
                    )
                    .unwrap();
            };
            put("tes-41", st(1)); // moves to TES-41
            put("app-1", st(2)); // APP-1 has its own: dropped
            put("APP-1", st(3));
            // The email index as schema 4 built it: Unicode lower-casing.
            let u = s
                .create_user(
                    "Kate",
                    &[Email {
                        email: "\u{212A}ate@Example.org".into(),
                        verified: true,
                    }],
                )
                .unwrap();
            s.t.user_emails.clear().unwrap();
            s.t.user_emails
                .insert(
                    Key::new().str("kate@example.org").u64(u.id).build(),
                    &[1u8] as &[u8],
                )
                .unwrap();
        });
        let s = migrated(&dir);
        // One link per (integration, KEY, group), found in any case.
        assert_eq!(s.linked_groups(7, "TES-41").unwrap(), vec![1, 2]);
        assert_eq!(s.linked_groups(7, "tes-41").unwrap(), vec![1, 2]);
        assert_eq!(s.t.links.len(), 3);
        assert_eq!(
            s.group_links(2).unwrap(),
            vec![link(2, "TES-41")],
            "the reverse index follows"
        );
        assert_eq!(s.group_links(1).unwrap(), vec![link(1, "TES-41")]);
        assert_eq!(s.group_links(3).unwrap(), vec![link(3, "APP-1")]);
        // The counts agree with the merged links.
        let links =
            |c: Vec<(&'static str, Option<usize>)>| c.into_iter().find(|(n, _)| *n == "links");
        assert_eq!(links(s.counts()), Some(("links", Some(3))));
        assert_eq!(links(s.counts()), links(s.counts_by_scan()));
        // Delivery state under upper-case keys only; Jira's own kept.
        assert_eq!(
            s.delivery_state(7, "TES-41").unwrap().unwrap().timestamp,
            Some(1)
        );
        assert_eq!(
            s.delivery_state(7, "APP-1").unwrap().unwrap().timestamp,
            Some(3)
        );
        assert_eq!(s.t.delivery_state.iter().count(), 2);
        // The Kelvin sign is not a K any more; ASCII case still folds.
        assert!(s
            .users_with_verified_email("kate@example.org")
            .unwrap()
            .is_empty());
        assert_eq!(
            s.users_with_verified_email("\u{212A}ATE@EXAMPLE.ORG")
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn v6_gives_installations_their_switches_off() {
        #[derive(Serialize)]
        struct V5 {
            org: u64,
            integration: u64,
            sync_inbound_assignee: bool,
        }
        let dir = old_database(5, |s| {
            for (org, on) in [(1u64, true), (2, false)] {
                let v = V5 {
                    org,
                    integration: 7,
                    sync_inbound_assignee: on,
                };
                s.t.installations
                    .insert(crate::store::keys::pair(7, org), encode("v5", &v).unwrap())
                    .unwrap();
            }
        });
        let s = migrated(&dir);
        let all = s.installations(7).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0].sync_inbound_assignee && !all[1].sync_inbound_assignee);
        for i in &all {
            assert!(!i.sync_outbound_assignee && !i.sync_inbound_status && !i.sync_outbound_status);
        }
    }

    #[test]
    fn v7_keeps_the_assignee_timestamp_and_starts_the_status_one_empty() {
        let old = DeliveryStateV6 {
            timestamp: Some(42),
            changelog_id: Some("9".into()),
            recent_changelog_ids: ["8", "9"].into_iter().collect(),
        };
        let dir = old_database(6, |s| {
            s.t.delivery_state
                .insert(delivery_state_key(7, "APP-1"), encode("v6", &old).unwrap())
                .unwrap();
        });
        let s = migrated(&dir);
        let st = s.delivery_state(7, "APP-1").unwrap().unwrap();
        assert_eq!(st.timestamp, Some(42));
        assert_eq!(st.status_timestamp, None);
        assert_eq!(st.changelog_id.as_deref(), Some("9"));
        assert!(st.recent_changelog_ids.contains("8"));
    }

    #[test]
    fn v8_says_every_stored_delivery_came_from_a_webhook() {
        use crate::store::sync::DeliveryFilter;
        let entry = |id: u64, outcome| DeliveryV7 {
            id,
            received: 1,
            integration: Some(7),
            key: Some("K-1".into()),
            changelog_id: Some(format!("{id}")),
            timestamp: Some(5),
            outcome,
            groups: vec![5],
            reason: "why".into(),
        };
        let dir = old_database(7, |s| {
            let main: Vec<DeliveryV7> = (1..=300)
                .map(|i| entry(i * 2, DeliveryOutcome::Assigned))
                .collect();
            for (k, v) in chunks_v7(&main).unwrap() {
                s.t.deliveries.insert(k, v).unwrap();
            }
            for (k, v) in chunks_v7(&[entry(3, DeliveryOutcome::BadToken)]).unwrap() {
                s.t.refused_deliveries.insert(k, v).unwrap();
            }
        });
        let s = migrated(&dir);
        let all = s
            .list_deliveries(&DeliveryFilter::default(), 1000, usize::MAX)
            .unwrap();
        assert_eq!(all.len(), 301);
        assert!(all.iter().all(|d| d.source == Source::Webhook));
        let first = all.iter().find(|d| d.id == 2).unwrap();
        assert_eq!(
            (first.changelog_id.as_deref(), first.reason.as_str()),
            (Some("2"), "why")
        );
        assert!(all
            .iter()
            .any(|d| d.id == 3 && d.outcome == DeliveryOutcome::BadToken));
    }

    /// Version 9 merges each group's assignee and status into one record
    /// and makes each activity a list of one; a record converted by a run
    /// that crashed part-way is left as it is, and the counts hold.
    #[test]
    fn v9_merges_assignee_and_status_and_lists_activities() {
        use crate::domain::{ActivityType, Assignee, GroupStatus};
        let activity = |id: u64, group: Id| Activity {
            id,
            group,
            project: 2,
            kind: ActivityType::Assigned,
            user: None,
            data: "{}".into(),
            date_added: id as i64,
        };
        let assignee = |group: Id, user: Id| Assignee {
            group,
            project: 2,
            user,
            date_added: 3,
        };
        let resolved = StatusRecord {
            status: GroupStatus::Resolved,
            resolved_at: Some(7),
        };
        let dir = old_database(8, |s| {
            let kind = |tag| Prefixed::new(s.t.sync.clone(), tag);
            let (a, g, c) = (
                kind(TAG_ASSIGNEE_V8),
                kind(TAG_GROUP_STATUS_V8),
                kind(TAG_ACTIVITY_V8),
            );
            // Group 5: assignee and status; 6: assignee only; 7: status only.
            a.insert(keys::id(5), encode("a", &assignee(5, 9)).unwrap())
                .unwrap();
            g.insert(keys::id(5), encode("g", &resolved).unwrap())
                .unwrap();
            a.insert(keys::id(6), encode("a", &assignee(6, 8)).unwrap())
                .unwrap();
            g.insert(keys::id(7), encode("g", &resolved).unwrap())
                .unwrap();
            for (group, id) in [(5, 11), (5, 12), (6, 13)] {
                c.insert(
                    keys::pair(group, id),
                    encode("c", &activity(id, group)).unwrap(),
                )
                .unwrap();
            }
            // Group 8 was converted by a run that crashed part-way.
            let done = GroupState {
                assignee: Some(assignee(8, 4)),
                status: StatusRecord::default(),
            };
            s.t.group_states
                .insert(keys::id(8), encode("G", &done).unwrap())
                .unwrap();
            s.t.activities
                .insert(
                    keys::pair(8, 14),
                    encode("C", &vec![activity(14, 8), activity(15, 8)]).unwrap(),
                )
                .unwrap();
        });
        let s = migrated(&dir);
        let user = |g| s.get_assignee(g).unwrap().map(|a| a.user);
        assert_eq!(
            [user(5), user(6), user(7), user(8)],
            [Some(9), Some(8), None, Some(4)]
        );
        let status = |g| s.get_status(g).unwrap();
        assert_eq!(status(5), resolved);
        assert_eq!(status(6), StatusRecord::default());
        assert_eq!(status(7), resolved);
        let ids = |g| -> Vec<u64> { s.list_activity(g).unwrap().iter().map(|a| a.id).collect() };
        assert_eq!(ids(5), [11, 12]);
        assert_eq!(ids(6), [13]);
        assert_eq!(ids(8), [14, 15]);
        // No record of the old layouts is left.
        for tag in [TAG_ASSIGNEE_V8, TAG_GROUP_STATUS_V8, TAG_ACTIVITY_V8] {
            assert!(Prefixed::new(s.t.sync.clone(), tag).is_empty(), "{tag}");
        }
        assert!(s.wait_counted(std::time::Duration::from_secs(10)));
        let count = |name| s.counts().into_iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(count("assignees"), Some(3));
        assert_eq!(count("activities"), Some(5));
    }
}
