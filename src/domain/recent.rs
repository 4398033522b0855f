//! The recently applied changelog ids of one `(integration, issue key)`,
//! for duplicate detection (SPEC section 4, step 6).
//!
//! Kept as ONE buffer of length-prefixed ids (oldest first) rather than a
//! `Vec<String>`: the single writer reads, extends and writes this list for
//! every delivery, and one allocation instead of one per id (32 of them)
//! is a visible share of its time. Stored as a byte string.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Changelog ids, each stored as a big-endian `u16` length then its bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RecentIds(Vec<u8>);

impl RecentIds {
    /// The ids, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let mut rest = self.0.as_slice();
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<2>()?;
            let n = usize::from(u16::from_be_bytes(*len)).min(tail.len());
            let (id, tail) = tail.split_at(n);
            rest = tail;
            // Only `push` writes ids, always whole `str`s.
            Some(std::str::from_utf8(id).unwrap_or(""))
        })
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.iter().any(|x| x == id)
    }

    /// Append `id` (cut to 65,535 bytes at a character boundary; changelog
    /// ids are at most 255), then drop the oldest ids beyond `max`.
    pub fn push(&mut self, id: &str, max: usize) {
        let mut end = id.len().min(usize::from(u16::MAX));
        while !id.is_char_boundary(end) {
            end -= 1;
        }
        let id = &id[..end];
        self.0.extend_from_slice(&(id.len() as u16).to_be_bytes());
        self.0.extend_from_slice(id.as_bytes());
        let extra = self.len().saturating_sub(max);
        if extra > 0 {
            let cut: usize = self.iter().take(extra).map(|x| 2 + x.len()).sum();
            self.0.drain(..cut);
        }
    }
}

impl<'a> FromIterator<&'a str> for RecentIds {
    /// Every id kept (no bound): for migrations and tests.
    fn from_iter<I: IntoIterator<Item = &'a str>>(ids: I) -> Self {
        let mut r = RecentIds::default();
        for id in ids {
            r.push(id, usize::MAX);
        }
        r
    }
}

impl fmt::Debug for RecentIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for RecentIds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for RecentIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RecentIds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a byte string of length-prefixed changelog ids")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RecentIds, E> {
                Ok(RecentIds(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<RecentIds, E> {
                Ok(RecentIds(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RecentIds, A::Error> {
                let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0));
                while let Some(b) = a.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(RecentIds(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_in_order_and_finds_them() {
        let mut r = RecentIds::default();
        assert!(r.is_empty() && !r.contains(""));
        for i in 0..40 {
            r.push(&i.to_string(), 32);
        }
        let all: Vec<&str> = r.iter().collect();
        assert_eq!(all.len(), 32);
        assert_eq!(all.first(), Some(&"8"));
        assert_eq!(all.last(), Some(&"39"));
        assert!(r.contains("8") && r.contains("39"));
        assert!(!r.contains("7") && !r.contains("3") && !r.contains("9 "));
    }

    #[test]
    fn odd_ids_survive_a_round_trip_through_bincode() {
        let long = "é".repeat(40_000); // 80,000 bytes: cut at a char boundary
        let r: RecentIds = ["", "10001", "ключ", "a\u{0}b", long.as_str()]
            .into_iter()
            .collect();
        let bytes = crate::store::encode("recent ids", &r).unwrap();
        let back: RecentIds = crate::store::decode("recent ids", &bytes).unwrap();
        assert_eq!(back, r);
        let ids: Vec<&str> = back.iter().collect();
        assert_eq!(&ids[..4], &["", "10001", "ключ", "a\u{0}b"]);
        assert!(ids[4].len() <= usize::from(u16::MAX) && ids[4].chars().all(|c| c == 'é'));
        // An id that equals a prefix of another is not confused with it.
        assert!(!back.contains("1000") && back.contains("10001"));
    }
}
