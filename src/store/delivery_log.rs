//! The bounded delivery log (SPEC section 4, "why didn't it sync?"), stored
//! in chunks.
//!
//! Tree `delivery_log`: key = id of the chunk's first entry (big-endian),
//! value = the chunk, a bincode list of [`Delivery`] in increasing id
//! order. The single writer appends one chunk per batch (not one key per
//! delivery) and prunes whole chunks: sled splits its leaves every 16 keys,
//! so a key per delivery cost a node split every few deliveries, plus one
//! removal per delivery to keep the bound. Delivery ids only grow, so the
//! chunks never interleave and the newest entry is the last of the last
//! chunk.
//!
//! The bound: whole chunks are removed while the rest still holds at least
//! `storage.delivery_log_max` entries, so up to one chunk more may stay on
//! disk; [`Store::list_deliveries`] never shows more than the newest `kept`.

use super::keys;
use super::{decode, encode, Store, StoreResult};
use crate::domain::Delivery;
use crate::store::sync::DeliveryFilter;

/// Most entries in one chunk (a batch of the single writer is at most 256).
pub const CHUNK_MAX: usize = 256;

/// Encode entries (increasing ids) as chunks: `(key, value)` pairs.
pub(crate) fn chunks<'a>(
    entries: impl IntoIterator<Item = &'a Delivery>,
) -> StoreResult<Vec<([u8; 8], Vec<u8>)>> {
    let all: Vec<&Delivery> = entries.into_iter().collect();
    all.chunks(CHUNK_MAX)
        .map(|c| Ok((keys::id(c[0].id), encode("delivery log chunk", &c)?)))
        .collect()
}

/// Entries in a stored chunk, read from its length prefix only.
fn chunk_len(value: &[u8]) -> StoreResult<usize> {
    let n: u64 = decode("delivery log chunk length", value)?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

impl Store {
    /// Record one delivery-log entry on its own (outside a batch; tests:
    /// the daemon writes the log only through the single writer's batches).
    /// Its id is assigned here when 0. Returns the id.
    #[cfg(test)]
    pub(crate) fn record_delivery(&self, d: &Delivery) -> StoreResult<crate::domain::Id> {
        let mut d = d.clone();
        if d.id == 0 {
            d.id = self.unique_id()?;
        }
        for (k, v) in chunks([&d])? {
            self.t.deliveries.insert(k, v)?;
        }
        Ok(d.id)
    }

    /// Entries in the delivery log (reads every chunk's length: call it
    /// once at start, then count).
    pub fn delivery_count(&self) -> StoreResult<usize> {
        let mut n = 0;
        for r in self.t.deliveries.iter().values() {
            n += chunk_len(&r?)?;
        }
        Ok(n)
    }

    /// The oldest chunks to remove so that at least `keep` of `count`
    /// entries remain: their keys and how many entries they hold.
    pub(crate) fn chunks_to_prune(
        &self,
        count: usize,
        keep: usize,
    ) -> StoreResult<(Vec<sled::IVec>, usize)> {
        let (mut doomed, mut removed) = (Vec::new(), 0);
        for r in self.t.deliveries.iter() {
            let (k, v) = r?;
            let n = chunk_len(&v)?;
            if count.saturating_sub(removed) < keep.saturating_add(n) {
                break;
            }
            removed += n;
            doomed.push(k);
        }
        Ok((doomed, removed))
    }

    /// Remove the oldest whole chunks while at least `keep` of the `count`
    /// stored entries remain, outside a batch (tests: the daemon prunes in
    /// the batch's transaction). Returns the entries removed.
    #[cfg(test)]
    pub(crate) fn prune_deliveries(&self, count: usize, keep: usize) -> StoreResult<usize> {
        let (doomed, removed) = self.chunks_to_prune(count, keep)?;
        for k in doomed {
            self.t.deliveries.remove(k)?;
        }
        Ok(removed)
    }

    /// Delivery-log entries matching `f`, newest first, at most `limit`,
    /// among the newest `kept` entries (the log's bound).
    pub fn list_deliveries(
        &self,
        f: &DeliveryFilter,
        limit: usize,
        kept: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let mut out = Vec::new();
        let mut seen = 0;
        'chunks: for r in self.t.deliveries.iter().values().rev() {
            let chunk: Vec<Delivery> = decode("delivery log chunk", &r?)?;
            for d in chunk.into_iter().rev() {
                if out.len() >= limit || seen >= kept {
                    break 'chunks;
                }
                seen += 1;
                if f.matches(&d) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeliveryOutcome, Id};

    fn entry(outcome: DeliveryOutcome) -> Delivery {
        Delivery {
            id: 0,
            received: 1,
            integration: Some(1),
            key: Some("K-1".into()),
            changelog_id: None,
            timestamp: None,
            outcome,
            groups: vec![3],
            reason: "r".into(),
        }
    }

    #[test]
    fn chunks_keep_order_count_and_bound() {
        let s = Store::temporary().unwrap();
        let mut ids = Vec::new();
        // 700 entries: one chunk of 600 entries (3 stored chunks), then singles.
        let mut batch: Vec<Delivery> = (0..600)
            .map(|i| {
                let mut d = entry(if i % 2 == 0 {
                    DeliveryOutcome::Assigned
                } else {
                    DeliveryOutcome::Stale
                });
                d.id = s.unique_id().unwrap();
                d
            })
            .collect();
        batch.sort_by_key(|d| d.id);
        ids.extend(batch.iter().map(|d| d.id));
        for (k, v) in chunks(&batch).unwrap() {
            s.t.deliveries.insert(k, v).unwrap();
        }
        for _ in 0..100 {
            ids.push(
                s.record_delivery(&entry(DeliveryOutcome::Duplicate))
                    .unwrap(),
            );
        }
        assert_eq!(s.t.deliveries.len(), 3 + 100);
        assert_eq!(s.delivery_count().unwrap(), 700);
        // Newest first, every entry once, in id order.
        let all = s
            .list_deliveries(&DeliveryFilter::default(), 10_000, usize::MAX)
            .unwrap();
        let got: Vec<Id> = all.iter().map(|d| d.id).collect();
        let mut want = ids.clone();
        want.reverse();
        assert_eq!(got, want);
        // The bound: only the newest `kept` are shown, the filter applies within them.
        let f = DeliveryFilter {
            outcome: Some(DeliveryOutcome::Stale),
            ..Default::default()
        };
        let stale = s.list_deliveries(&f, 10_000, 200).unwrap();
        assert_eq!(stale.len(), 50, "100 singles, then 100 of the big chunk");
        assert_eq!(s.list_deliveries(&f, 7, 10_000).unwrap().len(), 7);
        // Pruning removes whole chunks while at least `keep` remain.
        let (doomed, n) = s.chunks_to_prune(700, 500).unwrap();
        assert_eq!((doomed.len(), n), (0, 0), "the first chunk holds 256");
        let (doomed, n) = s.chunks_to_prune(700, 400).unwrap();
        assert_eq!((doomed.len(), n), (1, 256));
        let (doomed, n) = s.chunks_to_prune(700, 1).unwrap();
        assert_eq!((doomed.len(), n), (3 + 99, 699));
        let (_, n) = s.chunks_to_prune(700, 0).unwrap();
        assert_eq!(n, 700);
    }
}
