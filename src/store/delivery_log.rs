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
//!
//! Deliveries refused before their token was verified (`bad-token`) are kept
//! apart, in record kind [`super::trees::TAG_REFUSED_LOG`] with the same
//! chunk layout and a bound of its own ([`REFUSED_MAX`]), so anonymous
//! traffic can never push authenticated deliveries out of the log. Both
//! parts share one id sequence; listing merges them newest first.

use super::keys;
use super::prefixed::Prefixed;
use super::{decode, encode, list_len, Store, StoreResult};
use crate::domain::{Delivery, DeliveryOutcome};
use crate::store::sync::DeliveryFilter;

/// Most entries in one chunk (a batch of the single writer is at most 256).
pub const CHUNK_MAX: usize = 256;

/// Most `bad-token` entries kept (never more than `storage.delivery_log_max`).
pub const REFUSED_MAX: usize = 1000;

/// The two parts of the delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogPart {
    /// Deliveries whose token was verified (or that never got that far).
    Main,
    /// Deliveries refused before their token was verified (`bad-token`).
    Refused,
}

impl LogPart {
    /// The part an entry belongs to.
    pub fn of(d: &Delivery) -> LogPart {
        if d.outcome == DeliveryOutcome::BadToken {
            LogPart::Refused
        } else {
            LogPart::Main
        }
    }

    /// Entries this part keeps, given `storage.delivery_log_max`.
    pub fn keep(self, delivery_log_max: usize) -> usize {
        match self {
            LogPart::Main => delivery_log_max,
            LogPart::Refused => delivery_log_max.min(REFUSED_MAX),
        }
    }
}

/// Encode entries (increasing ids) as chunks: `(key, value)` pairs.
pub(crate) fn chunks<'a>(
    entries: impl IntoIterator<Item = &'a Delivery>,
) -> StoreResult<Vec<([u8; 8], Vec<u8>)>> {
    let all: Vec<&Delivery> = entries.into_iter().collect();
    all.chunks(CHUNK_MAX)
        .map(|c| Ok((keys::id(c[0].id), encode("delivery log chunk", &c)?)))
        .collect()
}

impl Store {
    pub(crate) fn log_part(&self, part: LogPart) -> &Prefixed {
        match part {
            LogPart::Main => &self.t.deliveries,
            LogPart::Refused => &self.t.refused_deliveries,
        }
    }

    /// Record one delivery-log entry on its own (outside a batch; tests:
    /// the daemon writes the log only through the single writer's batches).
    /// Its id is assigned here when 0. Returns the id.
    #[cfg(test)]
    pub(crate) fn record_delivery(&self, d: &Delivery) -> StoreResult<crate::domain::Id> {
        let mut d = d.clone();
        if d.id == 0 {
            d.id = self.unique_id()?;
        }
        let part = self.log_part(LogPart::of(&d));
        for (k, v) in chunks([&d])? {
            part.insert(k, v)?;
        }
        Ok(d.id)
    }

    /// Entries in the main part of the delivery log (reads every chunk's
    /// length: call it once at start, then count).
    pub fn delivery_count(&self) -> StoreResult<usize> {
        self.delivery_count_of(LogPart::Main)
    }

    /// Entries in one part of the delivery log.
    pub fn delivery_count_of(&self, part: LogPart) -> StoreResult<usize> {
        let mut n = 0;
        for r in self.log_part(part).iter().values() {
            n += list_len("delivery log chunk length", &r?)?;
        }
        Ok(n)
    }

    /// The oldest chunks of the main part to remove so that at least `keep`
    /// of `count` entries remain: their keys and how many entries they hold.
    #[cfg(test)]
    pub(crate) fn chunks_to_prune(
        &self,
        count: usize,
        keep: usize,
    ) -> StoreResult<(Vec<sled::IVec>, usize)> {
        self.chunks_to_prune_of(LogPart::Main, count, keep)
    }

    /// [`Store::chunks_to_prune`] for one part of the log.
    pub(crate) fn chunks_to_prune_of(
        &self,
        part: LogPart,
        count: usize,
        keep: usize,
    ) -> StoreResult<(Vec<sled::IVec>, usize)> {
        let (mut doomed, mut removed) = (Vec::new(), 0);
        for r in self.log_part(part).iter() {
            let (k, v) = r?;
            let n = list_len("delivery log chunk length", &v)?;
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
    /// among the newest `kept` entries of the main part and the newest
    /// `LogPart::Refused.keep(kept)` of the refused part (the log's bounds).
    pub fn list_deliveries(
        &self,
        f: &DeliveryFilter,
        limit: usize,
        kept: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let main = self.list_part(LogPart::Main, f, limit, kept)?;
        // Only `bad-token` entries live in the refused part.
        let wants_refused = f.outcome.is_none_or(|o| o == DeliveryOutcome::BadToken);
        let refused = if wants_refused {
            self.list_part(LogPart::Refused, f, limit, LogPart::Refused.keep(kept))?
        } else {
            Vec::new()
        };
        // Merge two newest-first lists by id (one id sequence).
        let mut out = Vec::with_capacity(limit.min(main.len() + refused.len()));
        let (mut a, mut b) = (main.into_iter().peekable(), refused.into_iter().peekable());
        while out.len() < limit {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.id >= y.id => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, _) => b.next(),
            };
            match next {
                Some(d) => out.push(d),
                None => break,
            }
        }
        Ok(out)
    }

    fn list_part(
        &self,
        part: LogPart,
        f: &DeliveryFilter,
        limit: usize,
        kept: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let mut out = Vec::new();
        let mut seen = 0;
        'chunks: for r in self.log_part(part).iter().values().rev() {
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
            source: Default::default(),
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

    #[test]
    fn refused_deliveries_never_push_out_authenticated_ones() {
        use crate::store::sync::{LogBound, SyncWrite};
        let s = Store::temporary().unwrap();
        let keep = 50;
        let mut counts = (0usize, 0usize);
        let mut write = |outcomes: &[DeliveryOutcome]| {
            let mut writes: Vec<SyncWrite> = outcomes
                .iter()
                .map(|o| SyncWrite {
                    delivery: Some(entry(*o)),
                    ..Default::default()
                })
                .collect();
            let bound = LogBound {
                count: counts.0,
                keep,
                refused: counts.1,
            };
            let b = s.apply_sync_batch(&mut writes, bound, None).unwrap();
            let added = |part| {
                writes
                    .iter()
                    .filter(|w| LogPart::of(w.delivery.as_ref().unwrap()) == part)
                    .count()
            };
            counts.0 = counts.0 + added(LogPart::Main) - b.pruned;
            counts.1 = counts.1 + added(LogPart::Refused) - b.pruned_refused;
        };
        // 40 authenticated deliveries, then a flood of 5,000 bad tokens.
        write(&[DeliveryOutcome::Assigned; 40]);
        for _ in 0..20 {
            write(&[DeliveryOutcome::BadToken; 250]);
        }
        write(&[DeliveryOutcome::Stale; 3]);
        assert_eq!(counts.0, s.delivery_count_of(LogPart::Main).unwrap());
        assert_eq!(counts.1, s.delivery_count_of(LogPart::Refused).unwrap());
        // Every authenticated entry is still there.
        assert_eq!(counts.0, 43);
        let all = DeliveryFilter::default();
        let assigned = DeliveryFilter {
            outcome: Some(DeliveryOutcome::Assigned),
            ..Default::default()
        };
        assert_eq!(s.list_deliveries(&assigned, 1000, keep).unwrap().len(), 40);
        // The refused part keeps its own bound: min(delivery_log_max, 1,000).
        let bad = DeliveryFilter {
            outcome: Some(DeliveryOutcome::BadToken),
            ..Default::default()
        };
        assert_eq!(s.list_deliveries(&bad, 10_000, keep).unwrap().len(), keep);
        assert!(
            counts.1 >= keep && counts.1 < keep + CHUNK_MAX,
            "{counts:?}"
        );
        // Merged newest first: the 3 stale ones, then the newest bad tokens.
        let merged = s.list_deliveries(&all, 10, keep).unwrap();
        assert!(merged.windows(2).all(|p| p[0].id > p[1].id));
        assert!(merged[..3]
            .iter()
            .all(|d| d.outcome == DeliveryOutcome::Stale));
        assert!(merged[3..]
            .iter()
            .all(|d| d.outcome == DeliveryOutcome::BadToken));
        // With the default bound, at most 1,000 bad tokens are kept.
        assert_eq!(LogPart::Refused.keep(100_000), REFUSED_MAX);
        assert_eq!(LogPart::Main.keep(100_000), 100_000);
    }
}
