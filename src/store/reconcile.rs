//! Reconcile state per integration (SPEC section 11): the durable cursor
//! and the outcome of the last run. Tree `reconcile`: integration id ->
//! [`ReconcileRecord`]. Also the reads reconcile needs from the links: the
//! Jira project keys of an integration's linked issues, and which of a
//! page's issues are linked here.

use super::keys::{Key, KeyReader};
use super::{encode, get, Store, StoreResult};
use crate::domain::payload::normalize_issue_key;
use crate::domain::reconcile::{project_of, ReconcileRecord};
use crate::domain::Id;
use std::collections::BTreeSet;

impl Store {
    /// The integration's reconcile record (default when it never ran).
    pub fn reconcile_record(&self, integration: Id) -> StoreResult<ReconcileRecord> {
        Ok(get(&self.t.reconcile, "reconcile record", keys_of(integration))?.unwrap_or_default())
    }

    pub fn put_reconcile_record(&self, integration: Id, r: &ReconcileRecord) -> StoreResult<()> {
        self.t
            .reconcile
            .insert(keys_of(integration), encode("reconcile record", r)?)?;
        Ok(())
    }

    /// Move the cursor (never backwards) and keep the rest of the record.
    pub fn move_reconcile_cursor(&self, integration: Id, to: i64) -> StoreResult<()> {
        let mut r = self.reconcile_record(integration)?;
        if r.cursor.is_none_or(|c| c < to) {
            r.cursor = Some(to);
            self.put_reconcile_record(integration, &r)?;
        }
        Ok(())
    }

    /// The Jira project keys of the integration's linked issues, sorted (a
    /// scan of its links: one sled prefix scan, keys only).
    pub fn linked_projects(&self, integration: Id) -> StoreResult<Vec<String>> {
        let prefix = Key::new().u64(integration).build();
        let mut out = BTreeSet::new();
        for r in self.t.links.scan_prefix(&prefix) {
            let (k, _) = r?;
            let mut rd = KeyReader::new(&k);
            rd.u64();
            if let Some(p) = rd.str().and_then(project_of) {
                if !out.contains(p) {
                    out.insert(p.to_string());
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Does the integration have any link?
    pub fn has_links(&self, integration: Id) -> StoreResult<bool> {
        self.any_link(Key::new().u64(integration))
    }

    /// Which of `keys` are linked to a group on this integration.
    pub fn linked_keys(&self, integration: Id, keys: &[String]) -> StoreResult<Vec<bool>> {
        keys.iter()
            .map(|k| self.any_link(Key::new().u64(integration).str(&normalize_issue_key(k))))
            .collect()
    }

    /// Is there a link under this key prefix?
    fn any_link(&self, prefix: Key) -> StoreResult<bool> {
        let first = self.t.links.scan_prefix(prefix.build()).next();
        Ok(first.transpose()?.is_some())
    }
}

fn keys_of(integration: Id) -> [u8; 8] {
    super::keys::id(integration)
}

#[cfg(test)]
mod tests {
    use crate::domain::reconcile::{LastRun, ReconcileRecord};
    use crate::store::Store;
    use crate::testing::project;

    #[test]
    fn the_record_round_trips_and_the_cursor_never_moves_back() {
        let s = Store::temporary().unwrap();
        assert_eq!(s.reconcile_record(4).unwrap(), ReconcileRecord::default());
        s.move_reconcile_cursor(4, 100).unwrap();
        s.move_reconcile_cursor(4, 50).unwrap();
        assert_eq!(s.reconcile_record(4).unwrap().cursor, Some(100));
        let mut r = s.reconcile_record(4).unwrap();
        r.last_run = Some(LastRun {
            started: 1,
            finished: 2,
            issues_read: 3,
            histories_applied: 4,
            outcomes: [("assigned".to_string(), 2u64)].into_iter().collect(),
            error: Some("Jira said no".into()),
        });
        s.put_reconcile_record(4, &r).unwrap();
        assert_eq!(s.reconcile_record(4).unwrap(), r);
        assert_eq!(s.reconcile_record(5).unwrap(), ReconcileRecord::default());
    }

    #[test]
    fn linked_projects_and_keys_come_from_the_links_of_the_integration() {
        let s = Store::temporary().unwrap();
        project(&s, 9);
        let g = s.create_group(9, "g", 0).unwrap();
        for (integration, k) in [
            (1, "APP-10"),
            (1, "app-2"),
            (1, "OPS-1"),
            (1, "A-B-3"),
            (2, "ZED-1"),
        ] {
            let key = crate::domain::payload::normalize_issue_key(k).into_owned();
            s.create_link(&crate::domain::Link {
                group: g.id,
                integration,
                key,
            })
            .unwrap();
        }
        assert_eq!(s.linked_projects(1).unwrap(), ["A-B", "APP", "OPS"]);
        assert_eq!(s.linked_projects(2).unwrap(), ["ZED"]);
        assert!(s.linked_projects(3).unwrap().is_empty());
        assert!(s.has_links(1).unwrap() && !s.has_links(3).unwrap());
        let keys: Vec<String> = ["APP-2", "app-10", "APP-3"].map(String::from).into();
        assert_eq!(s.linked_keys(1, &keys).unwrap(), [true, true, false]);
    }
}
