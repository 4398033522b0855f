//! Tests of [`super::compact`].

use super::*;
use crate::domain::plan::Op;
use crate::store::sync::SyncWrite;

/// Every record of every tree, the id floor left out. (Opened the way
/// the store reopens a directory in-process: a handle dropped just before
/// may keep sled's lock while its IO threads finish.)
fn dump(path: &Path) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let db = open_sled_waiting(path, deadline).unwrap();
    let mut names = db.tree_names();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        for kv in db.open_tree(&n).unwrap().iter() {
            let (k, v) = kv.unwrap();
            if !(n.as_ref() == b"meta" && k.as_ref() == META_ID_FLOOR) {
                out.push((n.to_vec(), k.to_vec(), v.to_vec()));
            }
        }
    }
    out
}

fn flip(s: &Store, group: u64, user: Option<u64>) {
    let op = match user {
        Some(user) => Op::Assign {
            group,
            project: 1,
            user,
            email: "u@example.org".into(),
            replaces: None,
        },
        None => Op::Deassign { group, project: 1 },
    };
    s.apply_sync(&SyncWrite {
        ops: vec![op],
        now: 5,
        ..Default::default()
    })
    .unwrap();
}

fn seeded(path: &Path) -> (u64, Vec<u64>) {
    let s = Store::reopen(path, false).unwrap();
    crate::testing::project(&s, 1);
    let g = s.create_group(1, "g", 0).unwrap().id;
    for i in 0..300 {
        flip(&s, g, (i % 2 == 0).then_some(7));
    }
    let ids = s.list_activity(g).unwrap().iter().map(|a| a.id).collect();
    s.close().unwrap();
    (g, ids)
}

#[test]
fn compaction_keeps_every_record_and_ids_stay_unique() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let (g, ids) = seeded(&path);
    let before = dump(&path);
    let c = compact(&path).unwrap();
    assert_eq!(dump(&path), before, "every record copied, nothing else");
    assert!(c.records as usize >= before.len() - 1 && c.trees > 20);
    assert!(c.kept.exists() && c.kept != path);
    assert_eq!(dump(&c.kept), before, "the original is kept as it was");
    assert!(!sibling(&path, ".compacting").exists());

    // The store opens on it; new ids are above every old one.
    let s = Store::reopen(&path, false).unwrap();
    let max = *ids.iter().max().unwrap();
    assert!(s.unique_id().unwrap() > max);
    flip(&s, g, Some(7));
    let acts = s.list_activity(g).unwrap();
    assert_eq!(acts.len(), ids.len() + 1);
    assert_eq!(
        &acts.iter().map(|a| a.id).collect::<Vec<_>>()[..ids.len()],
        &ids[..]
    );
    assert!(acts.last().unwrap().id > max);
    s.close().unwrap();
    drop(s);

    // A second compaction raises the floor again.
    let s = Store::reopen(&path, false).unwrap();
    let last = s.unique_id().unwrap();
    s.close().unwrap();
    drop(s);
    compact(&path).unwrap();
    let s = Store::reopen(&path, false).unwrap();
    assert!(s.unique_id().unwrap() > last);
}

#[test]
fn compaction_refuses_a_database_in_use_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    seeded(&path);
    let s = Store::reopen(&path, false).unwrap();
    let before = dir_bytes(&path);
    match compact(&path) {
        Err(StoreError::Conflict(m)) => assert!(m.contains("stop synclinkd"), "{m}"),
        other => panic!("compacted a database in use: {other:?}"),
    }
    assert!(!sibling(&path, ".compacting").exists());
    assert_eq!(dir_bytes(&path), before);
    drop(s);
}

#[test]
fn a_symlinked_data_directory_points_at_the_compacted_data() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("big-disk").join("data");
    std::fs::create_dir(dir.path().join("big-disk")).unwrap();
    seeded(&real);
    let link = dir.path().join("data");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let before = dump(&real);
    let c = compact(&link).unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(dump(&link), before);
    assert_eq!(c.kept.parent(), real.canonicalize().unwrap().parent());
    assert!(!dir.path().join("data.compacting").exists());
}

/// Run as root, the copy gets the original's owner. (As any other user
/// the copy is that user's, like the original: nothing to change.)
#[test]
fn the_copy_keeps_the_owner_of_the_original() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    seeded(&path);
    let me = std::fs::metadata(dir.path()).unwrap();
    // Root can hand the original to another user; others keep their own.
    let (uid, gid) = if me.uid() == 0 {
        (65534, 65534)
    } else {
        (me.uid(), me.gid())
    };
    if me.uid() == 0 {
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
    }
    compact(&path).unwrap();
    let mut seen = 0;
    for e in walk_all(&path) {
        let m = std::fs::symlink_metadata(&e).unwrap();
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{}", e.display());
        seen += 1;
    }
    assert!(seen > 3, "the data directory and sled's files");
}

fn walk_all(p: &Path) -> Vec<PathBuf> {
    let mut out = vec![p.to_path_buf()];
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            out.extend(walk_all(&e.unwrap().path()));
        }
    }
    out
}

#[test]
fn compaction_needs_a_data_directory_and_replaces_a_stale_copy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    assert!(matches!(compact(&path), Err(StoreError::NotFound(_))));
    assert!(!path.exists(), "nothing created");
    seeded(&path);
    let stale = sibling(&path, ".compacting");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("junk"), b"x").unwrap();
    let before = dump(&path);
    compact(&path).unwrap();
    assert_eq!(dump(&path), before);
    assert!(!stale.exists());
}

#[test]
fn removing_the_old_copies_touches_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    seeded(&path);
    compact(&path).unwrap();
    compact(&path).unwrap();
    // Neighbours that only look alike, and a file with the prefix.
    for other in [
        "other",
        "data.pre-compactX",
        "data2.pre-compact-1",
        "data.pre-compact-",
    ] {
        std::fs::create_dir(dir.path().join(other)).unwrap();
    }
    std::fs::write(dir.path().join("data.pre-compact-file"), b"x").unwrap();
    let before = dump(&path);
    let removed = remove_compacted(&path).unwrap();
    assert_eq!(removed.len(), 2, "{removed:?}");
    let left: std::collections::BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let want: std::collections::BTreeSet<String> = [
        "data",
        "other",
        "data.pre-compactX",
        "data2.pre-compact-1",
        "data.pre-compact-",
        "data.pre-compact-file",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(left, want);
    assert_eq!(dump(&path), before, "the data directory is untouched");
    assert!(remove_compacted(&path).unwrap().is_empty());
    // A data directory that does not exist: a clear error.
    assert!(remove_compacted(&dir.path().join("nope")).is_err());
}

/// A data directory whose link trees were written with sled's small leaves
/// (by a synclinkd before the packing) comes out of `--compact` packed: the
/// copy is much smaller than the same records copied into sled's leaves.
#[test]
fn compaction_packs_the_link_trees_of_an_older_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    seeded(&path);
    let links: Vec<(Vec<u8>, Vec<u8>)> = (0..20_000u64)
        .map(|i| {
            (
                crate::store::groups::link_key(1, &format!("OLD-{i}"), i),
                Vec::new(),
            )
        })
        .collect();
    let write = |db: &sled::Db| {
        let t = db.open_tree("links").unwrap(); // sled's own leaves
        for (k, v) in &links {
            t.insert(k, v.as_slice()).unwrap();
        }
        db.flush().unwrap();
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    write(&open_sled_waiting(&path, deadline).unwrap());

    // What the same records take in sled's leaves, copied as `copy` does.
    let plain = tempfile::tempdir().unwrap();
    let db = crate::store::sled_config(plain.path()).open().unwrap();
    write(&db);
    let unpacked = db.size_on_disk().unwrap();
    drop(db);

    let c = compact(&path).unwrap();
    let s = Store::reopen(&path, false).unwrap();
    assert_eq!(s.t.links.len(), links.len(), "every link copied");
    assert!(
        c.after_bytes * 10 < unpacked * 7,
        "compacted {} bytes, the links alone in sled's leaves {unpacked}",
        c.after_bytes
    );
}
