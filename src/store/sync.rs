//! Sync writes: assignee + activity + delivery state + delivery-log entry in
//! one atomic write of tree `sync`, and the bounded delivery log.

use super::keys::Key;
use super::{get, Store, StoreError, StoreResult};
use crate::domain::plan::Op;
use crate::domain::{ActivityType, Assignee, Delivery, DeliveryOutcome, DeliveryState, Id};

mod batch;
pub use batch::{BatchApplied, LogBound};

/// Everything one sync step writes, atomically: a plan of
/// [`crate::domain::plan`], persisted as planned.
#[derive(Debug, Clone, Default)]
pub struct SyncWrite {
    /// Assignee changes, each one a change (the planner kept only those).
    pub ops: Vec<Op>,
    /// Acting user recorded in the activities (None: the integration).
    pub actor: Option<Id>,
    /// New delivery state for `(integration, key)`.
    pub state: Option<(Id, String, DeliveryState)>,
    /// The delivery-log entry (its `id` is assigned here when 0).
    pub delivery: Option<Delivery>,
    pub now: i64,
    /// Who caused the ops (recorded in their activities).
    pub cause: crate::domain::plan::Cause,
    /// Outbox entries of the ops (their ids and times are set here).
    pub outbox: Vec<crate::domain::outbox::OutboxEntry>,
    /// `(integration, from, to)`: an issue moved (SPEC section 4 step 5c):
    /// every link to `from` becomes a link to `to` and `from`'s delivery
    /// state goes, in the same atomic write as the rest.
    pub moved: Option<(Id, String, String)>,
}

/// What a [`SyncWrite`] changed: the groups whose assignee changed, with
/// the kind of change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncApplied {
    pub changed: Vec<(Id, ActivityType)>,
    pub delivery_id: Option<Id>,
    /// The outbox entries written (ids and times set).
    pub outbox: Vec<crate::domain::outbox::OutboxEntry>,
}

/// Filter of `GET /v1/deliveries`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub integration: Option<Id>,
    pub key: Option<String>,
    pub outcome: Option<DeliveryOutcome>,
}

impl DeliveryFilter {
    pub(crate) fn matches(&self, d: &Delivery) -> bool {
        self.integration.is_none_or(|i| d.integration == Some(i))
            && self.key.as_ref().is_none_or(|k| {
                d.key
                    .as_deref()
                    .is_some_and(|dk| dk.eq_ignore_ascii_case(k))
            })
            && self.outcome.is_none_or(|o| d.outcome.has_part(o))
    }
}

/// Key of the `delivery_state` tree: `(integration, issue key)`.
pub fn delivery_state_key(integration: Id, key: &str) -> Vec<u8> {
    Key::new().u64(integration).str(key).build()
}

impl Store {
    /// Newest applied delivery for `(integration, key)`.
    pub fn delivery_state(&self, integration: Id, key: &str) -> StoreResult<Option<DeliveryState>> {
        get(
            &self.t.delivery_state,
            "delivery state",
            delivery_state_key(integration, key),
        )
    }

    /// Apply a [`SyncWrite`] in one atomic write of assignees, activities,
    /// delivery state and the delivery log. An op whose group is gone (or
    /// whose project is being deleted) is skipped. (A batch of one: see
    /// [`Store::apply_sync_batch`].)
    pub fn apply_sync(&self, w: &SyncWrite) -> StoreResult<SyncApplied> {
        let mut one = [w.clone()];
        let never = batch::LogBound {
            count: 0,
            keep: usize::MAX,
            refused: 0,
        };
        let mut r = self.apply_sync_batch(&mut one, never, None)?;
        Ok(r.applied.pop().unwrap_or_default())
    }

    /// The assignee of a group together with the email shown for the user.
    pub fn assignee_with_email(
        &self,
        group: Id,
    ) -> StoreResult<Option<(Assignee, Option<String>)>> {
        let Some(a) = self.get_assignee(group)? else {
            return Ok(None);
        };
        let email = self
            .get_user(a.user)?
            .and_then(|u| crate::domain::plan::display_email(&u).map(str::to_string));
        Ok(Some((a, email)))
    }

    /// Fail with NotFound unless the group exists.
    pub fn require_group(&self, id: Id) -> StoreResult<crate::domain::Group> {
        self.get_group(id)?
            .ok_or_else(|| StoreError::NotFound(format!("group {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Store, Id) {
        let s = Store::temporary().unwrap();
        crate::testing::project(&s, 1);
        let g = s.create_group(1, "g", 0).unwrap();
        (s, g.id)
    }

    fn delivery(outcome: DeliveryOutcome) -> Delivery {
        Delivery {
            id: 0,
            received: 1,
            integration: Some(3),
            key: Some("APP-1".into()),
            changelog_id: Some("9".into()),
            timestamp: Some(5),
            outcome,
            groups: vec![],
            reason: "r".into(),
            source: Default::default(),
        }
    }

    /// The store persists a plan as planned (the planner decides what
    /// changes, `domain::plan`): an assignee and its activity per op.
    #[test]
    fn ops_are_persisted_with_their_activity() {
        let (s, g) = setup();
        let assign = |u: Id, replaces| SyncWrite {
            ops: vec![Op::Assign {
                group: g,
                project: 1,
                user: u,
                email: "a@b".into(),
                replaces,
            }],
            now: 10,
            ..Default::default()
        };
        assert_eq!(s.apply_sync(&assign(7, None)).unwrap().changed.len(), 1);
        assert_eq!(s.get_assignee(g).unwrap().unwrap().user, 7);
        let un = SyncWrite {
            ops: vec![Op::Deassign {
                group: g,
                project: 1,
            }],
            now: 11,
            ..Default::default()
        };
        assert_eq!(
            s.apply_sync(&un).unwrap().changed,
            vec![(g, ActivityType::Unassigned)]
        );
        assert!(s.get_assignee(g).unwrap().is_none());
        let acts = s.list_activity(g).unwrap();
        assert_eq!(acts.len(), 2);
        assert_eq!(acts[0].kind, ActivityType::Assigned);
        let data: serde_json::Value = serde_json::from_str(&acts[0].data).unwrap();
        assert_eq!(data["assignee"], "7");
        assert_eq!(data["assigneeType"], "user");
        assert_eq!(acts[1].kind, ActivityType::Unassigned);
    }

    /// A batch planned before a project delete began is applied after it:
    /// the epoch moved, so the batch checks again and leaves the doomed
    /// project's group alone; a batch planned after it applies as planned.
    #[test]
    fn a_delete_begun_after_planning_wins_over_the_batch() {
        let (s, g) = setup();
        let assign = SyncWrite {
            ops: vec![Op::Assign {
                group: g,
                project: 1,
                user: 7,
                email: "a@b".into(),
                replaces: None,
            }],
            now: 10,
            ..Default::default()
        };
        let keep_all = batch::LogBound {
            count: 0,
            keep: usize::MAX,
            refused: 0,
        };
        let planned_at = s.delete_epoch();
        s.begin_project_delete(1).unwrap();
        assert_ne!(s.delete_epoch(), planned_at);
        let r = s
            .apply_sync_batch(&mut [assign.clone()], keep_all, Some(planned_at))
            .unwrap();
        assert!(r.applied[0].changed.is_empty());
        assert!(s.get_assignee(g).unwrap().is_none());
        assert!(s.list_activity(g).unwrap().is_empty());
        // Planned at the current epoch: trusted as planned (the planning
        // would not have picked a tombstoned group, see `project_delete`).
        let now = s.delete_epoch();
        let r = s
            .apply_sync_batch(&mut [assign], keep_all, Some(now))
            .unwrap();
        assert_eq!(r.applied[0].changed, vec![(g, ActivityType::Assigned)]);
    }

    /// One record per group: an assignee change keeps the group's status,
    /// a status change keeps its assignee, an unassign keeps the (empty)
    /// record; and the writer starts from the states the planning read
    /// when it is given them, instead of reading them again.
    #[test]
    fn assignee_and_status_share_one_record_and_given_states_are_used() {
        use crate::domain::{GroupState, GroupStatus, StatusRecord};
        let (s, g) = setup();
        let write = |ops: Vec<Op>, now| SyncWrite {
            ops,
            now,
            ..Default::default()
        };
        let assign = Op::Assign {
            group: g,
            project: 1,
            user: 7,
            email: "a@b".into(),
            replaces: None,
        };
        let resolve = Op::SetStatus {
            group: g,
            project: 1,
            status: GroupStatus::Resolved,
        };
        s.apply_sync(&write(vec![resolve], 5)).unwrap();
        s.apply_sync(&write(vec![assign.clone()], 6)).unwrap();
        let st = s.get_group_state(g).unwrap();
        assert_eq!(st.status.status, GroupStatus::Resolved);
        assert_eq!(st.status.resolved_at, Some(5));
        assert_eq!(st.assignee.map(|a| a.user), Some(7));
        let deassign = Op::Deassign {
            group: g,
            project: 1,
        };
        s.apply_sync(&write(vec![deassign], 7)).unwrap();
        assert_eq!(s.get_status(g).unwrap().status, GroupStatus::Resolved);
        assert!(s.get_assignee(g).unwrap().is_none());
        assert_eq!(s.t.group_states.len(), 1, "the record stays");
        // Given a state (as the planning read it), the writer starts from it.
        let given = GroupState {
            assignee: None,
            status: StatusRecord::default(),
        };
        let bound = LogBound {
            count: 0,
            keep: 100,
            refused: 0,
        };
        s.apply_sync_batch_from(
            &mut [write(vec![assign], 8)],
            bound,
            None,
            [(g, given)].into_iter().collect(),
        )
        .unwrap();
        let st = s.get_group_state(g).unwrap();
        assert_eq!(st.status.status, GroupStatus::Unresolved);
        assert_eq!(st.assignee.map(|a| a.user), Some(7));
        // Both activities of one write for one group are one record.
        let both = vec![
            Op::Deassign {
                group: g,
                project: 1,
            },
            Op::SetStatus {
                group: g,
                project: 1,
                status: GroupStatus::Resolved,
            },
        ];
        let before = s.t.activities.len();
        s.apply_sync(&write(both, 9)).unwrap();
        assert_eq!(s.t.activities.len(), before + 1);
        let kinds: Vec<_> = s.list_activity(g).unwrap().iter().map(|a| a.kind).collect();
        assert_eq!(kinds.len(), 6);
        assert_eq!(
            kinds[4..],
            [ActivityType::Unassigned, ActivityType::SetResolved]
        );
    }

    #[test]
    fn state_and_delivery_written_with_the_change() {
        let (s, g) = setup();
        let st = DeliveryState {
            status_timestamp: None,
            timestamp: Some(5),
            changelog_id: Some("9".into()),
            recent_changelog_ids: ["9"].into_iter().collect(),
        };
        let applied = s
            .apply_sync(&SyncWrite {
                ops: vec![Op::Assign {
                    group: g,
                    project: 1,
                    user: 2,
                    email: "x".into(),
                    replaces: None,
                }],
                state: Some((3, "APP-1".into(), st.clone())),
                delivery: Some(delivery(DeliveryOutcome::Assigned)),
                now: 1,
                actor: None,
                cause: Default::default(),
                outbox: vec![],
                moved: None,
            })
            .unwrap();
        assert!(applied.delivery_id.is_some());
        assert_eq!(s.delivery_state(3, "APP-1").unwrap(), Some(st));
        assert_eq!(s.delivery_state(3, "APP-2").unwrap(), None);
        let list = s
            .list_deliveries(&DeliveryFilter::default(), 10, 10)
            .unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].outcome, DeliveryOutcome::Assigned);
    }

    #[test]
    fn missing_group_is_skipped() {
        let (s, _) = setup();
        let r = s
            .apply_sync(&SyncWrite {
                ops: vec![Op::Deassign {
                    group: 999,
                    project: 1,
                }],
                ..Default::default()
            })
            .unwrap();
        assert!(r.changed.is_empty());
    }

    #[test]
    fn delivery_log_is_pruned_oldest_first_and_filtered() {
        let (s, _) = setup();
        for i in 0..10 {
            let mut d = delivery(if i % 2 == 0 {
                DeliveryOutcome::Stale
            } else {
                DeliveryOutcome::NoAffectedGroups
            });
            d.received = i;
            s.record_delivery(&d).unwrap();
        }
        assert_eq!(s.delivery_count().unwrap(), 10);
        assert_eq!(s.prune_deliveries(10, 4).unwrap(), 6);
        assert_eq!(s.delivery_count().unwrap(), 4);
        let all = s
            .list_deliveries(&DeliveryFilter::default(), 100, 4)
            .unwrap();
        assert_eq!(
            all.iter().map(|d| d.received).collect::<Vec<_>>(),
            vec![9, 8, 7, 6]
        );
        let f = DeliveryFilter {
            outcome: Some(DeliveryOutcome::Stale),
            ..Default::default()
        };
        assert_eq!(s.list_deliveries(&f, 100, 4).unwrap().len(), 2);
        // Only the newest `kept` entries are shown.
        assert_eq!(s.list_deliveries(&f, 100, 1).unwrap().len(), 0);
        let f = DeliveryFilter {
            integration: Some(4),
            ..Default::default()
        };
        assert!(s.list_deliveries(&f, 100, 4).unwrap().is_empty());
        assert_eq!(
            s.list_deliveries(&DeliveryFilter::default(), 1, 4).unwrap()[0].received,
            9
        );
    }

    /// A move re-keys every link of the old key and drops its delivery
    /// state in the batch's one write; moves chain within a batch, and a
    /// group linked to both keys keeps one link.
    #[test]
    fn moves_re_key_links_and_delivery_state_in_the_batch_write() {
        let (s, g) = setup();
        let g2 = s.create_group(1, "g2", 0).unwrap().id;
        for (group, key) in [(g, "APP-1"), (g2, "APP-1"), (g2, "OPS-3")] {
            s.create_link(&crate::domain::Link {
                group,
                integration: 3,
                key: key.into(),
            })
            .unwrap();
        }
        let links_before = s.counts();
        s.apply_sync(&SyncWrite {
            state: Some((3, "APP-1".into(), DeliveryState::default())),
            now: 1,
            ..Default::default()
        })
        .unwrap();
        assert!(s.delivery_state(3, "APP-1").unwrap().is_some());
        let mut writes = vec![
            SyncWrite {
                moved: Some((3, "APP-1".into(), "OPS-2".into())),
                now: 2,
                ..Default::default()
            },
            SyncWrite {
                moved: Some((3, "OPS-2".into(), "OPS-3".into())),
                state: Some((3, "OPS-3".into(), DeliveryState::default())),
                now: 3,
                ..Default::default()
            },
        ];
        let bound = LogBound {
            count: 0,
            keep: 100,
            refused: 0,
        };
        s.apply_sync_batch(&mut writes, bound, None).unwrap();
        assert!(s.linked_groups(3, "APP-1").unwrap().is_empty());
        assert!(s.linked_groups(3, "OPS-2").unwrap().is_empty());
        let mut now = s.linked_groups(3, "OPS-3").unwrap();
        now.sort();
        assert_eq!(now, [g, g2]);
        let keys = |grp| {
            s.group_links(grp)
                .unwrap()
                .into_iter()
                .map(|l| l.key)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(g), ["OPS-3"]);
        assert_eq!(keys(g2), ["OPS-3"]);
        assert!(s.delivery_state(3, "APP-1").unwrap().is_none());
        assert!(s.delivery_state(3, "OPS-3").unwrap().is_some());
        // g2's two links became one.
        let links = |c: &[(&str, Option<usize>)]| c.iter().find(|(n, _)| *n == "links").unwrap().1;
        assert_eq!(links(&s.counts()), links(&links_before).map(|n| n - 1));
    }
}
