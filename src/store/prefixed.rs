//! One record kind inside a shared sled tree: its keys carry a one-byte tag.
//!
//! The records one sync step writes (assignee, activity, delivery state and
//! the delivery log, schema 4) live in ONE tree, `sync`, so that a batch of
//! them is one atomic `Tree::apply_batch` instead of a multi-tree
//! transaction (sled's `TransactionalTree` reads every key it writes, and
//! that read was most of the transaction's cost). A [`Prefixed`] view reads
//! and writes one kind with the tag-less keys of the old per-kind trees, so
//! the code that uses them did not change.

use sled::{Batch, IVec};

/// The records of one kind inside a shared tree (keys: `tag` + key).
#[derive(Clone)]
pub struct Prefixed {
    tree: sled::Tree,
    tag: u8,
}

impl Prefixed {
    pub fn new(tree: sled::Tree, tag: u8) -> Prefixed {
        Prefixed { tree, tag }
    }

    /// The key as stored: the tag, then `key`.
    pub fn key(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + key.len());
        k.push(self.tag);
        k.extend_from_slice(key);
        k
    }

    pub fn get(&self, key: impl AsRef<[u8]>) -> sled::Result<Option<IVec>> {
        self.tree.get(self.key(key.as_ref()))
    }

    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> sled::Result<bool> {
        self.tree.contains_key(self.key(key.as_ref()))
    }

    pub fn insert(
        &self,
        key: impl AsRef<[u8]>,
        value: impl Into<IVec>,
    ) -> sled::Result<Option<IVec>> {
        self.tree.insert(self.key(key.as_ref()), value)
    }

    pub fn remove(&self, key: impl AsRef<[u8]>) -> sled::Result<Option<IVec>> {
        self.tree.remove(self.key(key.as_ref()))
    }

    /// Add an insert of this kind to a batch of the shared tree.
    pub fn batch_insert(&self, batch: &mut Batch, key: impl AsRef<[u8]>, value: impl Into<IVec>) {
        batch.insert(self.key(key.as_ref()), value);
    }

    /// Add a removal of this kind to a batch of the shared tree.
    pub fn batch_remove(&self, batch: &mut Batch, key: impl AsRef<[u8]>) {
        batch.remove(self.key(key.as_ref()));
    }

    /// Records of this kind whose key starts with `prefix`, in key order,
    /// keys without the tag.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        Iter(self.tree.scan_prefix(self.key(prefix.as_ref())))
    }

    /// Every record of this kind, in key order, keys without the tag.
    pub fn iter(&self) -> Iter {
        self.scan_prefix([])
    }

    /// How many records of this kind (a scan, like `sled::Tree::len`).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// Iterator over one kind's records; keys come without the tag.
pub struct Iter(sled::Iter);

fn untag(r: sled::Result<(IVec, IVec)>) -> sled::Result<(IVec, IVec)> {
    r.map(|(k, v)| (k.subslice(1, k.len() - 1), v))
}

impl Iterator for Iter {
    type Item = sled::Result<(IVec, IVec)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(untag)
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(untag)
    }
}

impl Iter {
    /// Only the values.
    pub fn values(self) -> impl DoubleEndedIterator<Item = sled::Result<IVec>> {
        self.map(|r| r.map(|(_, v)| v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_kinds() -> (sled::Db, Prefixed, Prefixed) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let t = db.open_tree("shared").unwrap();
        (db, Prefixed::new(t.clone(), b'a'), Prefixed::new(t, b'b'))
    }

    #[test]
    fn kinds_sharing_a_tree_never_see_each_other() {
        let (_db, a, b) = two_kinds();
        a.insert([1, 2], b"a12".to_vec()).unwrap();
        a.insert([1, 3], b"a13".to_vec()).unwrap();
        b.insert([1, 2], b"b12".to_vec()).unwrap();
        assert_eq!(a.get([1, 2]).unwrap().as_deref(), Some(&b"a12"[..]));
        assert_eq!(b.get([1, 2]).unwrap().as_deref(), Some(&b"b12"[..]));
        assert!(b.get([1, 3]).unwrap().is_none());
        assert_eq!((a.len(), b.len()), (2, 1));
        assert!(b.remove([1, 2]).unwrap().is_some());
        assert!(b.is_empty() && !a.is_empty());
        assert!(a.contains_key([1, 3]).unwrap() && !b.contains_key([1, 3]).unwrap());
    }

    #[test]
    fn scans_give_untagged_keys_in_order_both_ways() {
        let (_db, a, b) = two_kinds();
        for k in [[2u8, 0], [1, 9], [1, 1], [3, 3]] {
            a.insert(k, k.to_vec()).unwrap();
        }
        b.insert([1, 5], vec![0]).unwrap();
        let keys: Vec<Vec<u8>> = a.iter().map(|r| r.unwrap().0.to_vec()).collect();
        assert_eq!(keys, [vec![1, 1], vec![1, 9], vec![2, 0], vec![3, 3]]);
        let under_1: Vec<Vec<u8>> = a.scan_prefix([1]).map(|r| r.unwrap().0.to_vec()).collect();
        assert_eq!(under_1, [vec![1, 1], vec![1, 9]]);
        let back: Vec<Vec<u8>> = a
            .iter()
            .values()
            .rev()
            .map(|v| v.unwrap().to_vec())
            .collect();
        assert_eq!(back, [vec![3, 3], vec![2, 0], vec![1, 9], vec![1, 1]]);
        // An untagged key removes what it names.
        let (k, _) = a.scan_prefix([2]).next().unwrap().unwrap();
        assert!(a.remove(k).unwrap().is_some());
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn one_batch_writes_several_kinds_at_once() {
        let (db, a, b) = two_kinds();
        a.insert([7], vec![7]).unwrap();
        let mut batch = Batch::default();
        a.batch_insert(&mut batch, [1], vec![1]);
        b.batch_insert(&mut batch, [1], vec![2]);
        a.batch_remove(&mut batch, [7]);
        db.open_tree("shared").unwrap().apply_batch(batch).unwrap();
        assert_eq!(a.get([1]).unwrap().as_deref(), Some(&[1u8][..]));
        assert_eq!(b.get([1]).unwrap().as_deref(), Some(&[2u8][..]));
        assert!(a.get([7]).unwrap().is_none());
    }
}
