//! Entity counts for `GET /v1/status`, kept in memory so that a status call
//! never walks a tree (`sled::Tree::len` is a full scan: millions of links).
//!
//! Counted once when the database opens, then adjusted by the writers after
//! each committed write, from what the write actually did (an insert that
//! replaced a value, or a remove that found nothing, counts zero). The
//! integration-side trees (integrations, installations, deletes in progress)
//! hold a handful of entries and are still counted directly.

use super::Store;
use std::sync::atomic::{AtomicI64, Ordering};

/// The counted entities, in `GET /v1/status` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Orgs,
    Users,
    Teams,
    Projects,
    Groups,
    Links,
    Assignees,
    Activities,
    NotificationSettings,
}

const ALL: [(Entity, &str); 9] = [
    (Entity::Orgs, "orgs"),
    (Entity::Users, "users"),
    (Entity::Teams, "teams"),
    (Entity::Projects, "projects"),
    (Entity::Groups, "groups"),
    (Entity::Links, "links"),
    (Entity::Assignees, "assignees"),
    (Entity::Activities, "activities"),
    (Entity::NotificationSettings, "notification_settings"),
];

#[derive(Default)]
pub struct Counts([AtomicI64; 9]);

impl Counts {
    /// Count every tree once (at open, before any writer runs).
    pub(crate) fn scan(t: &super::Trees) -> Counts {
        let c = Counts::default();
        for (e, _) in ALL {
            let tree = match e {
                Entity::Orgs => &t.orgs,
                Entity::Users => &t.users,
                Entity::Teams => &t.teams,
                Entity::Projects => &t.projects,
                Entity::Groups => &t.groups,
                Entity::Links => &t.links,
                Entity::Assignees => &t.assignees,
                Entity::Activities => &t.activities,
                Entity::NotificationSettings => &t.notification_settings,
            };
            c.0[e as usize].store(tree.len() as i64, Ordering::Relaxed);
        }
        c
    }
}

impl Store {
    /// Adjust a count after a committed write.
    pub(crate) fn count(&self, e: Entity, delta: i64) {
        if delta != 0 {
            self.counts.0[e as usize].fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// Number of entries per entity, for `GET /v1/status`: no tree scans
    /// except the three small integration-side trees.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        let mut out: Vec<(&'static str, usize)> = ALL
            .iter()
            .map(|(e, name)| {
                let n = self.counts.0[*e as usize].load(Ordering::Relaxed);
                (*name, n.max(0) as usize)
            })
            .collect();
        out.push(("pending_project_deletes", self.t.project_deletes.len()));
        out.push(("integrations", self.t.integrations.len()));
        out.push(("installations", self.t.installations.len()));
        out
    }

    /// The same numbers by walking every tree (tests: the counters must agree).
    pub fn counts_by_scan(&self) -> Vec<(&'static str, usize)> {
        let c = Counts::scan(&self.t);
        let mut out: Vec<(&'static str, usize)> = ALL
            .iter()
            .map(|(e, name)| (*name, c.0[*e as usize].load(Ordering::Relaxed) as usize))
            .collect();
        out.push(("pending_project_deletes", self.t.project_deletes.len()));
        out.push(("integrations", self.t.integrations.len()));
        out.push(("installations", self.t.installations.len()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Link, NotificationSetting, Project};
    use crate::store::sync::{Op, SyncWrite};

    fn assert_agree(s: &Store) {
        assert_eq!(s.counts(), s.counts_by_scan());
    }

    fn sync(s: &Store, ops: Vec<Op>) {
        s.apply_sync(&SyncWrite {
            ops,
            actor: None,
            state: None,
            delivery: None,
            now: 1,
        })
        .unwrap();
    }

    #[test]
    fn counters_follow_every_writer_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let o = s.create_org("o", "O").unwrap();
        assert!(s.create_org("o", "again").is_err());
        let u = s.create_user("u", &[]).unwrap();
        let t = s.create_team(o.id, "t", "T").unwrap();
        assert!(s.create_team(o.id, "t", "T").is_err());
        let p = Project {
            id: 10,
            org: o.id,
            slug: "p".into(),
            name: "P".into(),
            teams: vec![t.id],
            date_added: 1,
        };
        s.insert_project(&p).unwrap();
        assert!(s.insert_project(&p).is_err());
        let g1 = s.create_group(p.id, "g1", 1).unwrap().id;
        let g2 = s.create_group(p.id, "g2", 1).unwrap().id;
        for (g, key) in [(g1, "A-1"), (g2, "A-1"), (g1, "A-2")] {
            let l = Link {
                group: g,
                integration: 1,
                key: key.into(),
            };
            s.create_link(&l).unwrap();
        }
        assert!(s
            .create_link(&Link {
                group: g1,
                integration: 1,
                key: "A-1".into()
            })
            .is_err());
        s.delete_link(g1, 1, "A-2").unwrap();
        assert!(s.delete_link(g1, 1, "A-2").is_err());
        let assign = |g| Op::Assign {
            group: g,
            project: p.id,
            user: u.id,
            email: "u@x".into(),
        };
        sync(&s, vec![assign(g1), assign(g2)]);
        sync(&s, vec![assign(g1)]); // unchanged: nothing
        sync(
            &s,
            vec![Op::Deassign {
                group: g2,
                project: p.id,
            }],
        );
        let ns = |kind: &str| NotificationSetting {
            project: p.id,
            user: u.id,
            kind: kind.into(),
            value: "v".into(),
        };
        s.put_notification_setting(&ns("a")).unwrap();
        s.put_notification_setting(&ns("a")).unwrap(); // replaced
        s.put_notification_setting(&ns("b")).unwrap();
        let c: std::collections::HashMap<_, _> = s.counts().into_iter().collect();
        assert_eq!(c["orgs"], 1);
        assert_eq!(c["teams"], 1);
        assert_eq!(c["links"], 2);
        assert_eq!(c["assignees"], 1);
        assert_eq!(c["activities"], 3);
        assert_eq!(c["notification_settings"], 2);
        assert_agree(&s);
        s.flush().unwrap();
        drop(s);

        let s = Store::open(dir.path()).unwrap();
        assert_agree(&s);
        s.begin_project_delete(p.id).unwrap();
        s.run_project_delete(p.id, |_| {}).unwrap();
        assert_agree(&s);
        let c: std::collections::HashMap<_, _> = s.counts().into_iter().collect();
        assert_eq!(c["projects"], 0);
        assert_eq!(c["groups"], 0);
        assert_eq!(c["links"], 0);
        assert_eq!(c["activities"], 0);
        assert_eq!(c["users"], 1);
    }
}
