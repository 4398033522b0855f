//! The outbox (record kind `o` of tree `sync`): entries are written by the
//! single writer with the change they push (`Store::apply_sync_batch`);
//! the `OutboxActor` then updates their state here.

use super::keys;
use super::{decode, encode, get, Store, StoreResult};
use crate::domain::outbox::{OutboxEntry, OutboxState};
use crate::domain::Id;

/// Filter of `GET /v1/outbox`.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub integration: Option<Id>,
    pub state: Option<OutboxState>,
}

impl Store {
    /// Every outbox entry, oldest first.
    pub fn outbox_entries(&self) -> StoreResult<Vec<OutboxEntry>> {
        let mut out = Vec::new();
        for r in self.t.outbox.iter() {
            let (_, v) = r?;
            out.push(decode("outbox entry", &v)?);
        }
        Ok(out)
    }

    pub fn outbox_entry(&self, id: Id) -> StoreResult<Option<OutboxEntry>> {
        get(&self.t.outbox, "outbox entry", keys::id(id))
    }

    pub fn put_outbox_entry(&self, e: &OutboxEntry) -> StoreResult<()> {
        self.t
            .outbox
            .insert(keys::id(e.id), encode("outbox entry", e)?)?;
        Ok(())
    }

    /// Remove an entry; false when there was none.
    pub fn remove_outbox_entry(&self, id: Id) -> StoreResult<bool> {
        Ok(self.t.outbox.remove(keys::id(id))?.is_some())
    }

    /// Entries matching `f`, newest first, at most `limit`.
    pub fn list_outbox(&self, f: &OutboxFilter, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        let mut out = Vec::new();
        for r in self.t.outbox.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (_, v) = r?;
            let e: OutboxEntry = decode("outbox entry", &v)?;
            if f.integration.is_none_or(|i| e.integration == i)
                && f.state.is_none_or(|s| e.state == s)
            {
                out.push(e);
            }
        }
        Ok(out)
    }
}
