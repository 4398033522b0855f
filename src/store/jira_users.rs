//! Jira user links (SPEC section 11): which local user a Jira account is,
//! for when Jira hides emails. Tree `jira_users` answers "who is this Jira
//! account" (webhook), tree `user_jira_users` "which Jira account is this
//! user" (outbound assign); both change in one transaction.

use super::error::StoreError;
use super::keys;
use super::{encode, get, scan, Store, StoreResult};
use crate::domain::{Id, JiraUserLink};
use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

/// Jira usernames match ASCII case-insensitively: keys hold them lower-cased.
fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn link_key(integration: Id, name: &str) -> Vec<u8> {
    keys::Key::new().u64(integration).str(&fold(name)).build()
}

fn user_key(integration: Id, user: Id, name: &str) -> Vec<u8> {
    keys::Key::new()
        .u64(integration)
        .u64(user)
        .str(&fold(name))
        .build()
}

impl Store {
    /// Create or replace the link of `l.jira_user` (the integration and the
    /// user must exist).
    pub fn put_jira_user(&self, l: &JiraUserLink) -> StoreResult<()> {
        self.require_integration(l.integration)?;
        if self.get_user(l.user)?.is_none() {
            return Err(StoreError::NotFound(format!("user {}", l.user)));
        }
        let k = link_key(l.integration, &l.jira_user);
        let v = encode("jira user link", l)?;
        (&self.t.jira_users, &self.t.user_jira_users).transaction(|(links, by_user)| {
            if let Some(old) = links.insert(k.as_slice(), v.as_slice())? {
                let old: JiraUserLink = super::decode("jira user link", &old)
                    .map_err(ConflictableTransactionError::Abort)?;
                by_user.remove(user_key(old.integration, old.user, &old.jira_user))?;
            }
            by_user.insert(user_key(l.integration, l.user, &l.jira_user), &[])?;
            Ok(())
        })?;
        Ok(())
    }

    /// The link of a Jira account (username or `accountId`).
    pub fn jira_user(&self, integration: Id, name: &str) -> StoreResult<Option<JiraUserLink>> {
        get(
            &self.t.jira_users,
            "jira user link",
            link_key(integration, name),
        )
    }

    /// The integration's links, by lower-cased Jira user.
    pub fn jira_users(&self, integration: Id) -> StoreResult<Vec<JiraUserLink>> {
        scan(&self.t.jira_users, "jira user link", keys::id(integration))
    }

    /// A Jira account linked to `user` (the first by name), for outbound assign.
    pub fn jira_user_of(&self, integration: Id, user: Id) -> StoreResult<Option<JiraUserLink>> {
        let prefix = keys::pair(integration, user);
        let Some(first) = self.t.user_jira_users.scan_prefix(prefix).next() else {
            return Ok(None);
        };
        let (k, _) = first?;
        let mut r = keys::KeyReader::new(&k[prefix.len()..]);
        match r.str() {
            Some(name) => self.jira_user(integration, name),
            None => Ok(None),
        }
    }

    /// The Jira account linked to a user with this verified email (lowest
    /// user id first), for outbound assign: the entry carries the email.
    pub fn jira_user_for_email(
        &self,
        integration: Id,
        email: &str,
    ) -> StoreResult<Option<JiraUserLink>> {
        for user in self.users_with_verified_email(email)? {
            if let Some(l) = self.jira_user_of(integration, user)? {
                return Ok(Some(l));
            }
        }
        Ok(None)
    }

    /// Remove the link of a Jira account; NotFound when there is none.
    pub fn delete_jira_user(&self, integration: Id, name: &str) -> StoreResult<()> {
        let k = link_key(integration, name);
        let gone =
            (&self.t.jira_users, &self.t.user_jira_users).transaction(|(links, by_user)| {
                let Some(old) = links.remove(k.as_slice())? else {
                    return Ok(false);
                };
                let old: JiraUserLink = super::decode("jira user link", &old)
                    .map_err(ConflictableTransactionError::Abort)?;
                by_user.remove(user_key(old.integration, old.user, &old.jira_user))?;
                Ok(true)
            })?;
        if gone {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!(
                "Jira user {name} of integration {integration}"
            )))
        }
    }
}

#[cfg(test)]
mod tests;
