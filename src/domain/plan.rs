//! The sync planner: every rule of SPEC section 4 steps 5-6 ("sync
//! inbound", "assign and deassign", ordering and duplicates) and of the
//! admin API's manual assign, as pure functions over [`Reads`].
//!
//! A plan says what one delivery (or one manual change) writes: the
//! assignee changes ([`Op`], only those that change something), the new
//! delivery state, the delivery-log entry, and the log events to emit
//! ([`Note`]). The `SyncActor` gives the planner its reads (the store plus
//! what earlier deliveries of the same batch will write), logs the notes,
//! and has the store persist the plans in one atomic write. Nothing here
//! touches sled, actors or HTTP: the rules are unit-tested on an in-memory
//! [`Reads`] (`plan/tests.rs`).

use super::{
    ActivityType, Delivery, DeliveryOutcome, DeliveryState, Group, GroupStatus, Id, Project, User,
};
use crate::error::Error;
use std::collections::BTreeSet;

#[cfg(test)]
mod tests;

/// How many recent changelog ids each `(integration, key)` remembers for
/// duplicate detection.
pub const RECENT_CHANGELOG_IDS: usize = 32;

/// What an inbound assignee delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Assign(String),
    Unassign,
}

/// `sync_group_assignee_inbound(integration, email, key, assign)` plus the
/// delivery facts needed for ordering and the delivery log.
#[derive(Debug, Clone)]
pub struct SyncCommand {
    pub received: i64,
    pub integration: Id,
    /// Upper-cased (`payload::normalize_issue_key`).
    pub key: String,
    pub changelog_id: Option<String>,
    pub timestamp: Option<i64>,
    pub change: Change,
}

/// Who caused a change: recorded in its activity's data (SPEC section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cause {
    /// The admin API (`"source": "admin"`).
    #[default]
    Admin,
    /// A webhook delivery of this integration (`"integration": id,
    /// "source": "webhook"`).
    Webhook { integration: Id },
}

impl Cause {
    /// Add the cause's fields to an activity's data.
    fn stamp(self, data: &mut serde_json::Map<String, serde_json::Value>) {
        match self {
            Cause::Admin => {
                data.insert("source".into(), "admin".into());
            }
            Cause::Webhook { integration } => {
                data.insert("integration".into(), integration.into());
                data.insert("source".into(), "webhook".into());
            }
        }
    }
}

/// One change that the store writes as planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Make `user` the group's assignee (`replaces`: the one it had).
    Assign {
        group: Id,
        project: Id,
        user: Id,
        /// The email shown in the activity (the user's own spelling).
        email: String,
        replaces: Option<Id>,
    },
    /// Remove the group's assignee (it has one).
    Deassign { group: Id, project: Id },
    /// Set the group's status (it has the other one).
    SetStatus {
        group: Id,
        project: Id,
        status: GroupStatus,
    },
}

impl Op {
    pub fn group(&self) -> Id {
        match self {
            Op::Assign { group, .. } | Op::Deassign { group, .. } | Op::SetStatus { group, .. } => {
                *group
            }
        }
    }

    pub fn project(&self) -> Id {
        match self {
            Op::Assign { project, .. }
            | Op::Deassign { project, .. }
            | Op::SetStatus { project, .. } => *project,
        }
    }

    /// The group's assignee once this op is applied (None for a status op:
    /// see [`Op::changes_assignee`]).
    pub fn assignee_after(&self) -> Option<Id> {
        match self {
            Op::Assign { user, .. } => Some(*user),
            Op::Deassign { .. } | Op::SetStatus { .. } => None,
        }
    }

    pub fn changes_assignee(&self) -> bool {
        !matches!(self, Op::SetStatus { .. })
    }

    /// The activity this op records: its type and its `data` (SPEC section
    /// 3: `assigned` data is `{"assignee": "<user id>", "assigneeEmail":
    /// "<email>", "assigneeType": "user"}`; every activity also says what
    /// caused it: `"source"`, and `"integration"` when Jira did).
    pub fn activity(&self, cause: Cause) -> (ActivityType, String) {
        let (kind, mut data) = match self {
            Op::Assign { user, email, .. } => {
                let mut m = serde_json::Map::new();
                m.insert("assignee".into(), user.to_string().into());
                m.insert("assigneeEmail".into(), email.clone().into());
                m.insert("assigneeType".into(), "user".into());
                (ActivityType::Assigned, m)
            }
            Op::Deassign { .. } => (ActivityType::Unassigned, serde_json::Map::new()),
            Op::SetStatus { status, .. } => (
                match status {
                    GroupStatus::Resolved => ActivityType::SetResolved,
                    GroupStatus::Unresolved => ActivityType::SetUnresolved,
                },
                serde_json::Map::new(),
            ),
        };
        cause.stamp(&mut data);
        (kind, serde_json::Value::Object(data).to_string())
    }
}

/// Would an op to `target` change a group whose assignee is `current`?
/// Assigning the current assignee again, or deassigning a group without
/// one, changes nothing and records nothing.
pub fn changes(current: Option<Id>, target: Option<Id>) -> bool {
    current != target
}

/// A log event the plan asks for (the planner does not log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// `"duplicate-delivery"`
    Duplicate { changelog_id: String },
    /// `"stale-delivery"`
    Stale { timestamp: i64, newest: i64 },
    /// `"no-affected-groups"`
    NoAffectedGroups,
    /// `"assignee-not-found-inbound"`
    AssigneeNotFound { email: String, group: Id },
}

/// What one delivery (or manual change) writes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Assignee changes, each one a change.
    pub ops: Vec<Op>,
    /// New delivery state for `(integration, key)`.
    pub state: Option<(Id, String, DeliveryState)>,
    /// The delivery-log entry (None for a manual change).
    pub delivery: Option<Delivery>,
    /// The outcome (a manual change's too).
    pub outcome: DeliveryOutcome,
    pub notes: Vec<Note>,
    /// Who caused it (recorded in the activities).
    pub cause: Cause,
}

/// What the planner reads. The daemon's reads are the store's plus what
/// earlier plans of the same batch will write.
pub trait Reads {
    /// Organizations where `integration` is installed with
    /// `sync_inbound_assignee`; None when the integration does not exist.
    fn sync_orgs(&mut self, integration: Id) -> Result<Option<BTreeSet<Id>>, Error>;
    /// Newest applied delivery for `(integration, key)`.
    fn delivery_state(
        &mut self,
        integration: Id,
        key: &str,
    ) -> Result<Option<DeliveryState>, Error>;
    /// Groups linked to `(integration, key)` that exist, with their project.
    fn linked(&mut self, integration: Id, key: &str) -> Result<Vec<(Group, Project)>, Error>;
    fn group(&mut self, id: Id) -> Result<Option<Group>, Error>;
    fn project(&mut self, id: Id) -> Result<Option<Project>, Error>;
    fn user(&mut self, id: Id) -> Result<Option<User>, Error>;
    /// Users with `email` as a verified address (ASCII case folded), lowest id first.
    fn candidates(&mut self, email: &str) -> Result<Vec<Id>, Error>;
    /// Is `user` a member of one of `project`'s teams?
    fn has_access(&mut self, user: Id, project: &Project) -> Result<bool, Error>;
    /// The group's assignee.
    fn assignee(&mut self, group: Id) -> Result<Option<Id>, Error>;
    /// The group's status.
    fn status(&mut self, group: Id) -> Result<GroupStatus, Error>;
}

/// The email shown for a user: its first verified address, else its first.
pub fn display_email(u: &User) -> Option<&str> {
    u.emails
        .iter()
        .find(|e| e.verified)
        .or(u.emails.first())
        .map(|e| e.email.as_str())
}

/// The user's verified address equal to `email` (ASCII case folded), as
/// the user spelled it.
pub fn verified_spelling<'u>(u: &'u User, email: &str) -> Option<&'u str> {
    u.emails
        .iter()
        .find(|e| e.verified && e.email.eq_ignore_ascii_case(email))
        .map(|e| e.email.as_str())
}

/// Keep the ops that change something (each group's assignee as the
/// earlier ops leave it), filling in whom an assign replaces.
fn changing(ops: Vec<Op>, r: &mut impl Reads) -> Result<Vec<Op>, Error> {
    let mut now: Vec<(Id, Option<Id>)> = Vec::new();
    let mut kept = Vec::with_capacity(ops.len());
    for mut op in ops {
        if !op.changes_assignee() {
            kept.push(op);
            continue;
        }
        let group = op.group();
        let current = match now.iter().find(|(g, _)| *g == group) {
            Some((_, a)) => *a,
            None => r.assignee(group)?,
        };
        if !changes(current, op.assignee_after()) {
            continue;
        }
        if let Op::Assign { replaces, .. } = &mut op {
            *replaces = current;
        }
        now.retain(|(g, _)| *g != group);
        now.push((group, op.assignee_after()));
        kept.push(op);
    }
    Ok(kept)
}

/// Plan one inbound delivery (SPEC section 4 steps 5-6).
pub fn inbound(cmd: &SyncCommand, r: &mut impl Reads) -> Result<Plan, Error> {
    let Some(orgs) = r.sync_orgs(cmd.integration)? else {
        return Err(Error::BadRequest(format!(
            "integration {} no longer exists",
            cmd.integration
        )));
    };
    let key = cmd.key.as_str();
    let prev = r.delivery_state(cmd.integration, key)?;
    let mut delivery = Delivery {
        id: 0,
        received: cmd.received,
        integration: Some(cmd.integration),
        key: Some(cmd.key.clone()),
        changelog_id: cmd.changelog_id.clone(),
        timestamp: cmd.timestamp,
        outcome: DeliveryOutcome::Failed,
        groups: vec![],
        reason: String::new(),
    };
    let done = |mut delivery: Delivery,
                outcome: DeliveryOutcome,
                reason: String,
                state: Option<(Id, String, DeliveryState)>,
                notes: Vec<Note>|
     -> Result<Plan, Error> {
        delivery.outcome = outcome;
        delivery.reason = reason;
        Ok(Plan {
            ops: vec![],
            state,
            delivery: Some(delivery),
            outcome,
            notes,
            cause: Cause::Webhook {
                integration: cmd.integration,
            },
        })
    };

    // Ordering and duplicates.
    if let Some(st) = &prev {
        if let Some(id) = &cmd.changelog_id {
            if st.changelog_id.as_ref() == Some(id) || st.recent_changelog_ids.contains(id) {
                return done(
                    delivery,
                    DeliveryOutcome::Duplicate,
                    format!("changelog {id} was already applied for {key}; ignored"),
                    None,
                    vec![Note::Duplicate {
                        changelog_id: id.clone(),
                    }],
                );
            }
        }
        if let (Some(ts), Some(newest)) = (cmd.timestamp, st.timestamp) {
            if ts < newest {
                return done(
                    delivery,
                    DeliveryOutcome::Stale,
                    format!(
                        "older (timestamp {ts}) than the newest delivery applied for {key} \
                         (timestamp {newest}); ignored"
                    ),
                    None,
                    vec![Note::Stale {
                        timestamp: ts,
                        newest,
                    }],
                );
            }
        }
    }
    // Applied from here on, whatever the outcome.
    let state = Some((cmd.integration, cmd.key.clone(), next_state(prev, cmd)));

    let mut affected = Vec::new();
    if !orgs.is_empty() {
        for (g, p) in r.linked(cmd.integration, key)? {
            if orgs.contains(&p.org) {
                affected.push((g, p));
            }
        }
    }
    if affected.is_empty() {
        return done(
            delivery,
            DeliveryOutcome::NoAffectedGroups,
            format!(
                "no group linked to {key} in an organization where integration {} is \
                 installed with sync_inbound_assignee",
                cmd.integration
            ),
            state,
            vec![Note::NoAffectedGroups],
        );
    }
    let mut notes = Vec::new();
    let (ops, outcome, reason) = match &cmd.change {
        Change::Unassign => {
            let ops: Vec<Op> = affected
                .iter()
                .map(|(g, p)| Op::Deassign {
                    group: g.id,
                    project: p.id,
                })
                .collect();
            delivery.groups = affected.iter().map(|(g, _)| g.id).collect();
            let reason = format!("{key} was unassigned in Jira");
            (ops, DeliveryOutcome::Unassigned, reason)
        }
        Change::Assign(email) => {
            let candidates = r.candidates(email)?;
            let mut ops = Vec::new();
            let mut missing = Vec::new();
            for (g, p) in &affected {
                let mut found = None;
                for u in &candidates {
                    if r.has_access(*u, p)? {
                        found = Some(*u);
                        break;
                    }
                }
                match found {
                    Some(user) => {
                        let shown = r
                            .user(user)?
                            .and_then(|u| verified_spelling(&u, email).map(str::to_string))
                            .unwrap_or_else(|| email.clone());
                        ops.push(Op::Assign {
                            group: g.id,
                            project: p.id,
                            user,
                            email: shown,
                            replaces: None,
                        });
                    }
                    None => {
                        notes.push(Note::AssigneeNotFound {
                            email: email.clone(),
                            group: g.id,
                        });
                        missing.push(g.id);
                    }
                }
            }
            delivery.groups = ops.iter().map(Op::group).collect();
            if ops.is_empty() {
                let reason = format!(
                    "no user with the verified email {email} has access to the project \
                     of the linked groups {missing:?}"
                );
                (ops, DeliveryOutcome::AssigneeNotFound, reason)
            } else if missing.is_empty() {
                let reason = format!("{key} was assigned in Jira to {email}");
                (ops, DeliveryOutcome::Assigned, reason)
            } else {
                let reason = format!(
                    "{key} was assigned in Jira to {email}; no user with that verified \
                     email has access to the project of groups {missing:?}"
                );
                (ops, DeliveryOutcome::Assigned, reason)
            }
        }
    };
    let ops = changing(ops, r)?;
    let (outcome, reason) = match outcome {
        DeliveryOutcome::Assigned | DeliveryOutcome::Unassigned if ops.is_empty() => (
            DeliveryOutcome::Unchanged,
            format!("{reason}; the groups already matched"),
        ),
        o => (o, reason),
    };
    delivery.outcome = outcome;
    delivery.reason = reason;
    Ok(Plan {
        ops,
        state,
        delivery: Some(delivery),
        outcome,
        notes,
        cause: Cause::Webhook {
            integration: cmd.integration,
        },
    })
}

/// The delivery state once `cmd` is applied: the newest timestamp, the
/// changelog id, and the bounded list of recent ids.
fn next_state(prev: Option<DeliveryState>, cmd: &SyncCommand) -> DeliveryState {
    let mut state = prev.unwrap_or_default();
    if let Some(ts) = cmd.timestamp {
        state.timestamp = Some(state.timestamp.map_or(ts, |t| t.max(ts)));
    }
    if let Some(id) = &cmd.changelog_id {
        state.changelog_id = Some(id.clone());
        state.recent_changelog_ids.push(id, RECENT_CHANGELOG_IDS);
    }
    state
}

/// Plan a manual status change from the admin API (`PUT
/// /v1/groups/{id}/status`): setting the status a group has records nothing.
pub fn manual_status(group: Id, status: GroupStatus, r: &mut impl Reads) -> Result<Plan, Error> {
    let g = r
        .group(group)?
        .ok_or_else(|| Error::not_found(format!("group {group}")))?;
    let ops = if r.status(g.id)? == status {
        vec![]
    } else {
        vec![Op::SetStatus {
            group: g.id,
            project: g.project,
            status,
        }]
    };
    let outcome = match (ops.is_empty(), status) {
        (true, _) => DeliveryOutcome::Unchanged,
        (false, GroupStatus::Resolved) => DeliveryOutcome::Resolved,
        (false, GroupStatus::Unresolved) => DeliveryOutcome::Unresolved,
    };
    Ok(Plan {
        ops,
        state: None,
        delivery: None,
        outcome,
        notes: vec![],
        cause: Cause::Admin,
    })
}

/// Plan a manual assign (`user: Some`) or deassign (`None`) from the admin
/// API, with the same rules as sync: the user must exist and be a member of
/// one of the group's project's teams; assigning the current assignee
/// again records nothing.
pub fn manual(group: Id, user: Option<Id>, r: &mut impl Reads) -> Result<Plan, Error> {
    let g = r
        .group(group)?
        .ok_or_else(|| Error::not_found(format!("group {group}")))?;
    let p = r
        .project(g.project)?
        .ok_or_else(|| Error::not_found(format!("project {}", g.project)))?;
    let op = match user {
        Some(uid) => {
            let u = r
                .user(uid)?
                .ok_or_else(|| Error::not_found(format!("user {uid}")))?;
            if !r.has_access(uid, &p)? {
                return Err(Error::BadRequest(format!(
                    "user {uid} has no access to project {} (not a member of any of its teams)",
                    p.id
                )));
            }
            Op::Assign {
                group: g.id,
                project: p.id,
                user: uid,
                email: display_email(&u).unwrap_or_default().to_string(),
                replaces: None,
            }
        }
        None => Op::Deassign {
            group: g.id,
            project: p.id,
        },
    };
    let ops = changing(vec![op], r)?;
    let outcome = match ops.first() {
        Some(Op::Assign { .. }) => DeliveryOutcome::Assigned,
        Some(Op::Deassign { .. }) => DeliveryOutcome::Unassigned,
        Some(Op::SetStatus { .. }) | None => DeliveryOutcome::Unchanged,
    };
    Ok(Plan {
        ops,
        state: None,
        delivery: None,
        outcome,
        notes: vec![],
        cause: Cause::Admin,
    })
}
