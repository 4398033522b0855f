//! Organizations, users (with their email index), teams and memberships.

use super::counts::Entity;
use super::keys::{self, Key, KeyReader};
use super::{encode, get, scan, Store, StoreError, StoreResult};
use crate::domain::{email_key, Email, Id, Organization, Team, User};
use sled::Transactional;

impl Store {
    pub fn create_org(&self, slug: &str, name: &str) -> StoreResult<Organization> {
        let id = self.next_seq("orgs")?;
        let org = Organization {
            id,
            slug: slug.to_string(),
            name: name.to_string(),
        };
        let val = encode("organization", &org)?;
        let slug_key = slug.to_lowercase();
        (&self.t.orgs, &self.t.org_slugs).transaction(|(orgs, slugs)| {
            if slugs.get(slug_key.as_bytes())?.is_some() {
                return Err(
                    StoreError::Conflict(format!("organization slug `{slug}` is taken")).into(),
                );
            }
            slugs.insert(slug_key.as_bytes(), &keys::id(id))?;
            orgs.insert(&keys::id(id), val.clone())?;
            Ok(())
        })?;
        self.count(Entity::Orgs, 1);
        Ok(org)
    }

    pub fn get_org(&self, id: Id) -> StoreResult<Option<Organization>> {
        get(&self.t.orgs, "organization", keys::id(id))
    }

    pub fn list_orgs(&self) -> StoreResult<Vec<Organization>> {
        scan(&self.t.orgs, "organization", [])
    }

    pub fn create_user(&self, name: &str, emails: &[Email]) -> StoreResult<User> {
        let id = self.next_seq("users")?;
        let user = User {
            id,
            name: name.to_string(),
            emails: emails.to_vec(),
        };
        let val = encode("user", &user)?;
        (&self.t.users, &self.t.user_emails).transaction(|(users, idx)| {
            users.insert(&keys::id(id), val.clone())?;
            for e in emails {
                let k = Key::new().str(&email_key(&e.email)).u64(id).build();
                idx.insert(k, &[e.verified as u8])?;
            }
            Ok(())
        })?;
        self.count(Entity::Users, 1);
        Ok(user)
    }

    pub fn get_user(&self, id: Id) -> StoreResult<Option<User>> {
        get(&self.t.users, "user", keys::id(id))
    }

    /// Users holding `email` (case-insensitively) as a **verified** address,
    /// lowest id first. An index prefix scan.
    pub fn users_with_verified_email(&self, email: &str) -> StoreResult<Vec<Id>> {
        let prefix = Key::new().str(&email_key(email)).build();
        let mut out = Vec::new();
        for r in self.t.user_emails.scan_prefix(&prefix) {
            let (k, v) = r?;
            if v.first() == Some(&1) {
                let mut rd = KeyReader::new(&k);
                rd.str();
                if let Some(id) = rd.u64() {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    pub fn create_team(&self, org: Id, slug: &str, name: &str) -> StoreResult<Team> {
        if self.get_org(org)?.is_none() {
            return Err(StoreError::NotFound(format!("organization {org}")));
        }
        let id = self.next_seq("teams")?;
        let team = Team {
            id,
            org,
            slug: slug.to_string(),
            name: name.to_string(),
        };
        let val = encode("team", &team)?;
        let slug_key = Key::new().u64(org).str(&slug.to_lowercase()).build();
        (&self.t.teams, &self.t.team_slugs).transaction(|(teams, slugs)| {
            if slugs.get(&slug_key)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "team slug `{slug}` is taken in organization {org}"
                ))
                .into());
            }
            slugs.insert(slug_key.as_slice(), &keys::id(id))?;
            teams.insert(&keys::id(id), val.clone())?;
            Ok(())
        })?;
        self.count(Entity::Teams, 1);
        Ok(team)
    }

    pub fn get_team(&self, id: Id) -> StoreResult<Option<Team>> {
        get(&self.t.teams, "team", keys::id(id))
    }

    pub fn add_team_member(&self, team: Id, user: Id) -> StoreResult<()> {
        if self.get_team(team)?.is_none() {
            return Err(StoreError::NotFound(format!("team {team}")));
        }
        if self.get_user(user)?.is_none() {
            return Err(StoreError::NotFound(format!("user {user}")));
        }
        (&self.t.team_members, &self.t.user_teams).transaction(|(tm, ut)| {
            tm.insert(&keys::pair(team, user), &[])?;
            ut.insert(&keys::pair(user, team), &[])?;
            Ok(())
        })?;
        Ok(())
    }

    /// Remove a membership; NotFound when the user was not a member.
    pub fn remove_team_member(&self, team: Id, user: Id) -> StoreResult<()> {
        if self.get_team(team)?.is_none() {
            return Err(StoreError::NotFound(format!("team {team}")));
        }
        let existed = (&self.t.team_members, &self.t.user_teams).transaction(|(tm, ut)| {
            let was = tm.remove(&keys::pair(team, user))?.is_some();
            ut.remove(&keys::pair(user, team))?;
            Ok(was)
        })?;
        if existed {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!(
                "user {user} is not a member of team {team}"
            )))
        }
    }

    /// Teams the user belongs to, ascending.
    pub fn user_teams(&self, user: Id) -> StoreResult<Vec<Id>> {
        self.t
            .user_teams
            .scan_prefix(keys::id(user))
            .map(|r| {
                let (k, _) = r?;
                keys::read_pair(&k)
                    .map(|(_, t)| t)
                    .ok_or_else(|| super::error::decode_error("user_teams key", "short key"))
            })
            .collect()
    }

    /// Members of a team, ascending.
    pub fn team_members(&self, team: Id) -> StoreResult<Vec<Id>> {
        let mut out = Vec::new();
        for r in self.t.team_members.scan_prefix(keys::id(team)) {
            let (k, _) = r?;
            if let Some((_, u)) = keys::read_pair(&k) {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// True when the user is a member of one of `project_teams`.
    pub fn user_in_any_team(&self, user: Id, project_teams: &[Id]) -> StoreResult<bool> {
        for t in project_teams {
            if self.t.team_members.contains_key(keys::pair(*t, user))? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_slug_is_unique_case_insensitively() {
        let s = Store::temporary().unwrap();
        s.create_org("acme", "Acme").unwrap();
        assert!(matches!(
            s.create_org("ACME", "Acme 2"),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.list_orgs().unwrap().len(), 1);
    }

    #[test]
    fn verified_email_lookup_is_case_insensitive_and_ordered() {
        let s = Store::temporary().unwrap();
        let e = |m: &str, v| Email {
            email: m.into(),
            verified: v,
        };
        let a = s.create_user("a", &[e("Bob@Example.org", true)]).unwrap();
        let _b = s.create_user("b", &[e("bob@example.org", false)]).unwrap();
        let c = s.create_user("c", &[e("BOB@example.ORG", true)]).unwrap();
        let _d = s
            .create_user("d", &[e("bob@example.org.evil", true)])
            .unwrap();
        assert_eq!(
            s.users_with_verified_email("bob@EXAMPLE.org").unwrap(),
            vec![a.id, c.id]
        );
    }

    #[test]
    fn membership_round_trip() {
        let s = Store::temporary().unwrap();
        let o = s.create_org("o", "O").unwrap();
        let t = s.create_team(o.id, "t", "T").unwrap();
        let u = s.create_user("u", &[]).unwrap();
        s.add_team_member(t.id, u.id).unwrap();
        assert_eq!(s.user_teams(u.id).unwrap(), vec![t.id]);
        assert!(s.user_in_any_team(u.id, &[99, t.id]).unwrap());
        s.remove_team_member(t.id, u.id).unwrap();
        assert!(!s.user_in_any_team(u.id, &[t.id]).unwrap());
        assert!(matches!(
            s.remove_team_member(t.id, u.id),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.add_team_member(t.id, 999),
            Err(StoreError::NotFound(_))
        ));
    }
}
