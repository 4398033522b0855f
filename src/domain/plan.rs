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

use super::outbox::{OutboxEntry, OutboxKind, OutboxState};
use super::{
    ActivityType, Delivery, DeliveryOutcome, DeliveryState, Group, GroupStatus, Id, Project,
    Source, StatusList, User,
};
use crate::error::Error;
use std::collections::BTreeSet;

#[cfg(test)]
mod tests;

/// How many recent changelog ids each `(integration, key)` remembers for
/// duplicate detection.
pub const RECENT_CHANGELOG_IDS: usize = 32;

/// What the assignee part of an inbound delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Assign(String),
    Unassign,
    /// The new assignee's email is hidden: nothing can be done with it
    /// (`missing-assignee-email`), and it is not applied.
    NoEmail,
    /// The email is hidden, but the delivery names the Jira account
    /// (`name`, else `accountId`): a Jira user link may say who it is
    /// (SPEC section 11); without one it is not applied. `why`: why the
    /// look-up of its email in Jira found none, when it was tried.
    JiraUser {
        name: String,
        why: Option<String>,
    },
    /// A Jira account that a Jira user link maps to this local user
    /// (what [`inbound`] makes of a linked [`Change::JiraUser`]).
    Linked {
        jira_user: String,
        user: Id,
    },
}

/// The status part of an inbound delivery: Jira's status ids before and
/// after, and whether the status the issue is in now is a done one
/// (`issue.fields.status.statusCategory.key`, when the delivery carries it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusChange {
    pub from: Option<String>,
    pub to: Option<String>,
    pub to_done_now: Option<bool>,
}

/// `sync_group_assignee_inbound(integration, email, key, assign)` and the
/// status rule of SPEC section 10, plus the delivery facts needed for
/// ordering and the delivery log. At least one part is present.
#[derive(Debug, Clone)]
pub struct SyncCommand {
    pub received: i64,
    pub integration: Id,
    /// Upper-cased (`payload::normalize_issue_key`).
    pub key: String,
    pub changelog_id: Option<String>,
    pub timestamp: Option<i64>,
    pub assignee: Option<Change>,
    pub status: Option<StatusChange>,
    /// A webhook, or a history read back by reconcile (SPEC section 11).
    pub source: Source,
    /// The issue moved here (to `key`) from this key (upper-cased): its
    /// links and delivery state follow first (SPEC section 4 step 5c).
    pub moved: Option<String>,
}

/// The organizations where an integration syncs, per switch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOrgs {
    /// Installed with `sync_inbound_assignee`.
    pub assignee: BTreeSet<Id>,
    /// Installed with `sync_inbound_status`.
    pub status: BTreeSet<Id>,
    /// Installed with `sync_outbound_assignee`.
    pub outbound_assignee: BTreeSet<Id>,
    /// Installed with `sync_outbound_status`.
    pub outbound_status: BTreeSet<Id>,
}

/// Who caused a change: recorded in its activity's data (SPEC section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cause {
    /// The admin API (`"source": "admin"`).
    #[default]
    Admin,
    /// Jira, through this integration: a webhook delivery (`"integration":
    /// id, "source": "webhook"`) or a history read back by reconcile
    /// (`"source": "reconcile"`).
    Jira { integration: Id, source: Source },
}

impl Cause {
    /// Did Jira cause it through this integration? (Such a change is never
    /// pushed back there: no loops.)
    pub fn came_from(self, integration: Id) -> bool {
        matches!(self, Cause::Jira { integration: i, .. } if i == integration)
    }

    /// Add the cause's fields to an activity's data.
    fn stamp(self, data: &mut serde_json::Map<String, serde_json::Value>) {
        match self {
            Cause::Admin => {
                data.insert("source".into(), "admin".into());
            }
            Cause::Jira {
                integration,
                source,
            } => {
                data.insert("integration".into(), integration.into());
                data.insert("source".into(), source.as_str().into());
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
    /// `"missing-assignee-email"` for a Jira account without a Jira user
    /// link (`why` its email look-up found none).
    Unlinked {
        jira_user: String,
        why: Option<String>,
    },
    /// `"issue-moved"`: the links of these groups follow the issue from
    /// `from` to the delivery's key.
    Moved { from: String, groups: Vec<Id> },
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
    /// What to push to Jira (SPEC section 10, outbound): written in the
    /// same atomic write as the change (ids and times set then).
    pub outbox: Vec<OutboxEntry>,
    /// `(integration, from, to)`: every link to `from` becomes a link to
    /// `to`, and `from`'s delivery state goes (step 5c), in the same write.
    pub moved: Option<(Id, String, String)>,
}

/// What the planner reads. The daemon's reads are the store's plus what
/// earlier plans of the same batch will write.
pub trait Reads {
    /// Organizations where `integration` syncs, per switch; None when the
    /// integration does not exist.
    fn sync_orgs(&mut self, integration: Id) -> Result<Option<SyncOrgs>, Error>;
    /// The integration's Jira statuses (None: never read).
    fn statuses(&mut self, integration: Id) -> Result<Option<StatusList>, Error>;
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
    /// The group's links: `(integration, issue key)`.
    fn group_links(&mut self, group: Id) -> Result<Vec<(Id, String)>, Error>;
    /// The local user a Jira account (username or `accountId`) is linked
    /// to on this integration (SPEC section 11).
    fn jira_user(&mut self, integration: Id, name: &str) -> Result<Option<Id>, Error>;
    /// Could any change go out at all (an outbound switch on anywhere)?
    /// False spares the look-ups of [`outbound`].
    fn outbound_possible(&mut self) -> Result<bool, Error> {
        Ok(true)
    }
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

/// What one part (assignee or status) of a delivery does.
struct Part {
    ops: Vec<Op>,
    outcome: DeliveryOutcome,
    reason: String,
    groups: Vec<Id>,
}

impl Part {
    fn none(outcome: DeliveryOutcome, reason: String) -> Part {
        Part {
            ops: vec![],
            outcome,
            reason,
            groups: vec![],
        }
    }
}

/// Plan one inbound delivery (SPEC section 4 steps 5-6, section 10).
pub fn inbound(cmd: &SyncCommand, r: &mut impl Reads) -> Result<Plan, Error> {
    // A hidden email with a Jira account: the Jira user link says who it
    // is, else nothing can be done with it (and it is not applied).
    let resolved;
    let cmd = match &cmd.assignee {
        Some(Change::JiraUser { name, .. }) => match r.jira_user(cmd.integration, name)? {
            Some(user) => {
                resolved = SyncCommand {
                    assignee: Some(Change::Linked {
                        jira_user: name.clone(),
                        user,
                    }),
                    ..cmd.clone()
                };
                &resolved
            }
            None => cmd,
        },
        _ => cmd,
    };
    let Some(orgs) = r.sync_orgs(cmd.integration)? else {
        return Err(Error::BadRequest(format!(
            "integration {} no longer exists",
            cmd.integration
        )));
    };
    let key = cmd.key.as_str();
    // Step 5c: an issue moved here from another key takes that key's links
    // and delivery state along, before the rest of the delivery applies
    // (nothing to take: no move).
    let from = cmd.moved.as_deref().filter(|f| *f != key);
    let (from_state, from_groups) = match from {
        Some(f) => (
            r.delivery_state(cmd.integration, f)?,
            r.linked(cmd.integration, f)?,
        ),
        None => (None, vec![]),
    };
    let moves = from.filter(|_| from_state.is_some() || !from_groups.is_empty());
    let prev = merge_states(from_state, r.delivery_state(cmd.integration, key)?);
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
        source: cmd.source,
    };
    let cause = Cause::Jira {
        integration: cmd.integration,
        source: cmd.source,
    };
    let nothing = |mut delivery: Delivery, outcome, reason, notes| -> Result<Plan, Error> {
        delivery.outcome = outcome;
        delivery.reason = reason;
        Ok(Plan {
            ops: vec![],
            state: None,
            delivery: Some(delivery),
            outcome,
            notes,
            cause,
            outbox: vec![],
            moved: None,
        })
    };
    let st = prev.clone().unwrap_or_default();

    // Duplicates: the whole delivery. A history reconcile reads back that
    // was already applied is not written to the delivery log (routine runs
    // read back what webhooks applied); the run counts it.
    if let Some(id) = &cmd.changelog_id {
        if st.changelog_id.as_ref() == Some(id) || st.recent_changelog_ids.contains(id) {
            let logged = cmd.source == Source::Webhook;
            return nothing(
                delivery,
                DeliveryOutcome::Duplicate,
                format!("changelog {id} was already applied for {key}; ignored"),
                vec![Note::Duplicate {
                    changelog_id: id.clone(),
                }],
            )
            .map(|mut p| {
                if !logged {
                    p.delivery = None;
                }
                p
            });
        }
    }
    // Stale: per field, against the newest change of that field applied.
    let older = |newest: Option<i64>| match (cmd.timestamp, newest) {
        (Some(ts), Some(n)) if ts < n => Some((ts, n)),
        _ => None,
    };
    let a_stale = cmd.assignee.as_ref().and_then(|_| older(st.timestamp));
    let s_stale = cmd.status.as_ref().and_then(|_| older(st.status_timestamp));
    let a_live = cmd.assignee.is_some() && a_stale.is_none();
    let s_live = cmd.status.is_some() && s_stale.is_none();
    if let (None, Some(f), None, None) = (moves, from, &cmd.assignee, &cmd.status) {
        return nothing(
            delivery,
            DeliveryOutcome::NoAffectedGroups,
            format!(
                "{f} moved to {key}, but nothing here is linked to {f} on integration {}",
                cmd.integration
            ),
            vec![Note::NoAffectedGroups],
        );
    }
    if !a_live && !s_live && moves.is_none() {
        let (ts, newest) = a_stale.or(s_stale).unwrap_or_default();
        return nothing(
            delivery,
            DeliveryOutcome::Stale,
            format!(
                "older (timestamp {ts}) than the newest delivery applied for {key} \
                 (timestamp {newest}); ignored"
            ),
            vec![Note::Stale {
                timestamp: ts,
                newest,
            }],
        );
    }
    let mut notes = Vec::new();
    if let Some((timestamp, newest)) = a_stale.or(s_stale) {
        notes.push(Note::Stale { timestamp, newest });
    }
    let state = next_state(prev, cmd, a_live, s_live);

    let assignee = match &cmd.assignee {
        Some(change) if a_live => Some(assignee_part(cmd, change, &orgs, r, &mut notes)?),
        Some(_) => Some(Part::none(
            DeliveryOutcome::Stale,
            format!("the assignee change is older than the newest one applied for {key}"),
        )),
        None => None,
    };
    let status = match &cmd.status {
        Some(change) if s_live => Some(status_part(cmd, change, &orgs, r, &mut notes)?),
        Some(_) => Some(Part::none(
            DeliveryOutcome::Stale,
            format!("the status change is older than the newest one applied for {key}"),
        )),
        None => None,
    };
    let mut outcome = joined(assignee.as_ref(), status.as_ref());
    let mut ops = Vec::new();
    let mut reasons = Vec::new();
    if let Some(f) = moves {
        outcome = DeliveryOutcome::moved(outcome);
        let ids: Vec<Id> = from_groups.iter().map(|(g, _)| g.id).collect();
        delivery.groups.extend(&ids);
        reasons.push(format!(
            "{f} moved to {key}: its links (groups {ids:?}) and delivery state follow"
        ));
        notes.push(Note::Moved {
            from: f.to_string(),
            groups: ids,
        });
    }
    for part in [assignee, status].into_iter().flatten() {
        for g in part.groups {
            if !delivery.groups.contains(&g) {
                delivery.groups.push(g);
            }
        }
        ops.extend(part.ops);
        reasons.push(part.reason);
    }
    delivery.outcome = outcome;
    delivery.reason = reasons.join("; ");
    let outbox = outbound(&ops, cause, r)?;
    Ok(Plan {
        ops,
        state: Some((cmd.integration, cmd.key.clone(), state)),
        delivery: Some(delivery),
        outcome,
        notes,
        cause,
        outbox,
        moved: moves.map(|f| (cmd.integration, f.to_string(), cmd.key.clone())),
    })
}

/// The outbox entries of these changes (SPEC section 10, outbound): one per
/// link of a changed group whose integration is installed in the group's
/// organization with the field's outbound switch, except the integration
/// that caused the change (no loops).
pub fn outbound(ops: &[Op], cause: Cause, r: &mut impl Reads) -> Result<Vec<OutboxEntry>, Error> {
    let mut out = Vec::new();
    if ops.is_empty() || !r.outbound_possible()? {
        return Ok(out);
    }
    for op in ops {
        let (kind, email, user) = match op {
            Op::Assign { email, user, .. } => {
                (OutboxKind::Assign, Some(email.clone()), Some(*user))
            }
            Op::Deassign { .. } => (OutboxKind::Unassign, None, None),
            Op::SetStatus {
                status: GroupStatus::Resolved,
                ..
            } => (OutboxKind::Resolve, None, None),
            Op::SetStatus { .. } => (OutboxKind::Unresolve, None, None),
        };
        let Some(project) = r.project(op.project())? else {
            continue;
        };
        for (integration, key) in r.group_links(op.group())? {
            if cause.came_from(integration) {
                continue;
            }
            let Some(orgs) = r.sync_orgs(integration)? else {
                continue;
            };
            let on = match kind.field() {
                super::outbox::Field::Assignee => &orgs.outbound_assignee,
                super::outbox::Field::Status => &orgs.outbound_status,
            };
            if !on.contains(&project.org) {
                continue;
            }
            out.push(OutboxEntry {
                id: 0,
                integration,
                key,
                kind,
                email: email.clone(),
                user,
                group: op.group(),
                created: 0,
                attempts: 0,
                next_try: 0,
                state: OutboxState::Pending,
                last_error: None,
            });
        }
    }
    Ok(out)
}

/// The outcome of a delivery from its parts: the effects joined in the
/// fixed order (assigned or unassigned, resolved or unresolved); with no
/// effect, the assignee part's outcome, else the status part's.
fn joined(assignee: Option<&Part>, status: Option<&Part>) -> DeliveryOutcome {
    let effect = |p: Option<&Part>| p.filter(|p| !p.ops.is_empty()).map(|p| p.outcome);
    match (effect(assignee), effect(status)) {
        (Some(a), Some(s)) => DeliveryOutcome::join(a, s),
        (Some(o), None) | (None, Some(o)) => o,
        (None, None) => assignee
            .or(status)
            .map_or(DeliveryOutcome::Unchanged, |p| p.outcome),
    }
}

/// The assignee part (SPEC section 4, "sync inbound").
fn assignee_part(
    cmd: &SyncCommand,
    change: &Change,
    orgs: &SyncOrgs,
    r: &mut impl Reads,
    notes: &mut Vec<Note>,
) -> Result<Part, Error> {
    let key = cmd.key.as_str();
    if let Change::JiraUser { name, why } = change {
        notes.push(Note::Unlinked {
            jira_user: name.clone(),
            why: why.clone(),
        });
        let why = why.as_ref().map(|w| format!("; {w}")).unwrap_or_default();
        return Ok(Part::none(
            DeliveryOutcome::MissingAssigneeEmail,
            format!(
                "the new assignee has no visible email address in Jira, and the Jira user \
                 {name} has no Jira user link{why}"
            ),
        ));
    }
    if *change == Change::NoEmail {
        return Ok(Part::none(
            DeliveryOutcome::MissingAssigneeEmail,
            "the new assignee has no visible email address in Jira".into(),
        ));
    }
    let affected = affected(cmd, &orgs.assignee, r)?;
    if affected.is_empty() {
        return Ok(no_affected(cmd, "sync_inbound_assignee", notes));
    }
    let (ops, groups, outcome, reason) = match change {
        Change::Unassign | Change::NoEmail | Change::JiraUser { .. } => {
            let ops: Vec<Op> = affected
                .iter()
                .map(|(g, p)| Op::Deassign {
                    group: g.id,
                    project: p.id,
                })
                .collect();
            let groups = affected.iter().map(|(g, _)| g.id).collect();
            let reason = format!("{key} was unassigned in Jira");
            (ops, groups, DeliveryOutcome::Unassigned, reason)
        }
        Change::Linked { jira_user, user } => {
            linked_part(key, jira_user, *user, &affected, r, notes)?
        }
        Change::Assign(email) => {
            let candidates = r.candidates(email)?;
            let (ops, missing) = assign_where_allowed(&affected, &candidates, email, r, notes)?;
            assigned(
                key,
                ops,
                missing,
                email,
                &format!("no user with the verified email {email} has access to"),
                "; no user with that verified email has access to",
            )
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
    Ok(Part {
        ops,
        outcome,
        reason,
        groups,
    })
}

/// The assignee part for a Jira account that a Jira user link maps to
/// `user`: assigned in every affected group whose project the user can
/// reach (team access, as for an email), shown with the user's email.
fn linked_part(
    key: &str,
    jira_user: &str,
    user: Id,
    affected: &[(Group, Project)],
    r: &mut impl Reads,
    notes: &mut Vec<Note>,
) -> Result<(Vec<Op>, Vec<Id>, DeliveryOutcome, String), Error> {
    let Some(u) = r.user(user)? else {
        let reason =
            format!("the Jira user {jira_user} is linked to user {user}, who no longer exists");
        return Ok((vec![], vec![], DeliveryOutcome::AssigneeNotFound, reason));
    };
    let email = display_email(&u).unwrap_or_default().to_string();
    let (ops, missing) = assign_where_allowed(affected, &[user], &email, r, notes)?;
    let linked = format!("the Jira user {jira_user} (linked to user {user})");
    Ok(assigned(
        key,
        ops,
        missing,
        &linked,
        &format!("{linked} has no access to"),
        ", who has no access to",
    ))
}

/// Assign, in each affected group, the first of `candidates` who can reach
/// the group's project (team access), shown with its own spelling of
/// `email`; the groups where none can are `missing` (each noted).
fn assign_where_allowed(
    affected: &[(Group, Project)],
    candidates: &[Id],
    email: &str,
    r: &mut impl Reads,
    notes: &mut Vec<Note>,
) -> Result<(Vec<Op>, Vec<Id>), Error> {
    let mut ops = Vec::new();
    let mut missing = Vec::new();
    for (g, p) in affected {
        let mut found = None;
        for u in candidates {
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
                    .unwrap_or_else(|| email.to_string());
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
                    email: email.to_string(),
                    group: g.id,
                });
                missing.push(g.id);
            }
        }
    }
    Ok((ops, missing))
}

/// The outcome and reason of an assign to `who`: `assignee-not-found` when
/// no group could take it (`nobody` + "the project of the linked groups"),
/// else `assigned`, naming the groups left out (`partly` + "the project
/// of groups").
fn assigned(
    key: &str,
    ops: Vec<Op>,
    missing: Vec<Id>,
    who: &str,
    nobody: &str,
    partly: &str,
) -> (Vec<Op>, Vec<Id>, DeliveryOutcome, String) {
    let groups = ops.iter().map(Op::group).collect();
    if ops.is_empty() {
        let reason = format!("{nobody} the project of the linked groups {missing:?}");
        (ops, groups, DeliveryOutcome::AssigneeNotFound, reason)
    } else if missing.is_empty() {
        let reason = format!("{key} was assigned in Jira to {who}");
        (ops, groups, DeliveryOutcome::Assigned, reason)
    } else {
        let reason = format!(
            "{key} was assigned in Jira to {who}{partly} the project of groups {missing:?}"
        );
        (ops, groups, DeliveryOutcome::Assigned, reason)
    }
}

/// The status part (SPEC section 10, "status inbound").
fn status_part(
    cmd: &SyncCommand,
    change: &StatusChange,
    orgs: &SyncOrgs,
    r: &mut impl Reads,
    notes: &mut Vec<Note>,
) -> Result<Part, Error> {
    let key = cmd.key.as_str();
    let affected = affected(cmd, &orgs.status, r)?;
    if affected.is_empty() {
        return Ok(no_affected(cmd, "sync_inbound_status", notes));
    }
    let list = r.statuses(cmd.integration)?;
    let in_list = |id: &Option<String>| {
        let (l, id) = (list.as_ref()?, id.as_ref()?);
        l.is_done(id)
    };
    let to = change.to.as_deref().unwrap_or("(none)");
    let Some(to_done) = change.to_done_now.or_else(|| in_list(&change.to)) else {
        return Ok(Part::none(
            DeliveryOutcome::Unchanged,
            format!(
                "cannot tell whether status {to} is a done status (the delivery gives no \
                 category and the integration's status list {}); the status change \
                 changes nothing",
                if list.is_some() {
                    "does not have it"
                } else {
                    "was never read"
                }
            ),
        ));
    };
    let from_listed = in_list(&change.from);
    let mut ops = Vec::new();
    for (g, _) in &affected {
        let here = r.status(g.id)?;
        // While the list does not tell, `from` is done when the group is
        // resolved here.
        let from_done = from_listed.unwrap_or(here == GroupStatus::Resolved);
        let target = match (from_done, to_done) {
            (false, true) => GroupStatus::Resolved,
            (true, false) => GroupStatus::Unresolved,
            _ => continue,
        };
        if here != target {
            ops.push(Op::SetStatus {
                group: g.id,
                project: g.project,
                status: target,
            });
        }
    }
    let groups = affected.iter().map(|(g, _)| g.id).collect();
    let part = match ops.first() {
        Some(Op::SetStatus {
            status: GroupStatus::Resolved,
            ..
        }) => Part {
            ops,
            outcome: DeliveryOutcome::Resolved,
            reason: format!("{key} moved to the done status {to} in Jira"),
            groups,
        },
        Some(_) => Part {
            ops,
            outcome: DeliveryOutcome::Unresolved,
            reason: format!("{key} left its done status for {to} in Jira"),
            groups,
        },
        None => Part {
            ops,
            outcome: DeliveryOutcome::Unchanged,
            reason: format!(
                "{key} moved to status {to} in Jira; the groups' status already matched \
                 (or the move was between two open or two done statuses)"
            ),
            groups,
        },
    };
    Ok(part)
}

/// A part with no group to act on: no organization installs the integration
/// with `switch` and has a group linked to the issue.
fn no_affected(cmd: &SyncCommand, switch: &str, notes: &mut Vec<Note>) -> Part {
    notes.push(Note::NoAffectedGroups);
    Part::none(
        DeliveryOutcome::NoAffectedGroups,
        format!(
            "no group linked to {} in an organization where integration {} is installed \
             with {switch}",
            cmd.key, cmd.integration
        ),
    )
}

/// Groups linked to the delivery's issue in these organizations.
fn affected(
    cmd: &SyncCommand,
    orgs: &BTreeSet<Id>,
    r: &mut impl Reads,
) -> Result<Vec<(Group, Project)>, Error> {
    if orgs.is_empty() {
        return Ok(vec![]);
    }
    let mut linked = r.linked(cmd.integration, &cmd.key)?;
    // A moved issue's links come along (step 5c).
    if let Some(from) = cmd.moved.as_deref().filter(|f| *f != cmd.key) {
        for (g, p) in r.linked(cmd.integration, from)? {
            if !linked.iter().any(|(l, _)| l.id == g.id) {
                linked.push((g, p));
            }
        }
    }
    Ok(linked
        .into_iter()
        .filter(|(_, p)| orgs.contains(&p.org))
        .collect())
}

/// The delivery state of a key that an issue moved to: its own, or the
/// old key's, or both joined (each field's newest timestamp, both sets of
/// recent changelog ids; the new key's newest id kept).
fn merge_states(from: Option<DeliveryState>, to: Option<DeliveryState>) -> Option<DeliveryState> {
    match (from, to) {
        (None, s) | (s, None) => s,
        (Some(f), Some(mut t)) => {
            let max = |a: Option<i64>, b: Option<i64>| a.max(b);
            t.timestamp = max(t.timestamp, f.timestamp);
            t.status_timestamp = max(t.status_timestamp, f.status_timestamp);
            if t.changelog_id.is_none() {
                t.changelog_id = f.changelog_id.clone();
            }
            for id in f.recent_changelog_ids.iter() {
                if !t.recent_changelog_ids.contains(id) {
                    t.recent_changelog_ids.push(id, RECENT_CHANGELOG_IDS);
                }
            }
            Some(t)
        }
    }
}

/// The delivery state once `cmd` is applied: each applied field's newest
/// timestamp, and the changelog id (not while a part could not be
/// applied: a hidden assignee email can still be applied by a later
/// reconcile or a re-sent delivery).
fn next_state(
    prev: Option<DeliveryState>,
    cmd: &SyncCommand,
    assignee_live: bool,
    status_live: bool,
) -> DeliveryState {
    let mut state = prev.unwrap_or_default();
    let newest = |t: Option<i64>| match cmd.timestamp {
        Some(ts) => Some(t.map_or(ts, |t| t.max(ts))),
        None => t,
    };
    let unapplied = assignee_live
        && matches!(
            cmd.assignee,
            Some(Change::NoEmail | Change::JiraUser { .. })
        );
    if assignee_live && !unapplied {
        state.timestamp = newest(state.timestamp);
    }
    if status_live {
        state.status_timestamp = newest(state.status_timestamp);
    }
    if let (Some(id), false) = (&cmd.changelog_id, unapplied) {
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
    admin_plan(ops, outcome, r)
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
    admin_plan(ops, outcome, r)
}

/// The plan of a change made through the admin API: its ops, with the
/// outbox entries they make, and no delivery.
fn admin_plan(ops: Vec<Op>, outcome: DeliveryOutcome, r: &mut impl Reads) -> Result<Plan, Error> {
    let outbox = outbound(&ops, Cause::Admin, r)?;
    Ok(Plan {
        ops,
        state: None,
        delivery: None,
        outcome,
        notes: vec![],
        cause: Cause::Admin,
        outbox,
        moved: None,
    })
}
