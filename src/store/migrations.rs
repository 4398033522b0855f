//! Migrations past version 1 (the list is [`super::MIGRATIONS`]). Each one
//! decodes the layout it replaces with a frozen copy of the old type, so it
//! keeps working whatever the current types become.

use super::delivery_log::{chunks, CHUNK_MAX};
use super::{decode, encode, Store, StoreResult};
use crate::domain::{Delivery, DeliveryState, RecentIds};
use serde::Deserialize;

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
    for r in store.t.delivery_state.iter() {
        let (k, v) = r?;
        let old: DeliveryStateV1 = decode("delivery state (v1)", &v)?;
        let new = DeliveryState {
            timestamp: old.timestamp,
            changelog_id: old.changelog_id,
            recent_changelog_ids: old
                .recent_changelog_ids
                .iter()
                .map(String::as_str)
                .collect::<RecentIds>(),
        };
        store
            .t
            .delivery_state
            .insert(k, encode("delivery state", &new)?)?;
    }
    Ok(())
}

/// Version 3: the delivery log moves from tree `deliveries` (one key per
/// entry) to tree `delivery_log` (chunks of up to [`CHUNK_MAX`] entries,
/// see [`super::delivery_log`]); the old tree is dropped. (`Delivery`
/// itself is unchanged since version 1.)
pub(super) fn v3_delivery_log_chunks(store: &Store) -> StoreResult<()> {
    let old = store.db.open_tree("deliveries")?;
    let mut chunk: Vec<Delivery> = Vec::with_capacity(CHUNK_MAX);
    let write = |chunk: &mut Vec<Delivery>| -> StoreResult<()> {
        for (k, v) in chunks(chunk.iter())? {
            store.t.deliveries.insert(k, v)?;
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
                let d = Delivery {
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
                s.t.delivery_state
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
}
