//! Offline compaction (`synclinkd --compact`, docs/OPERATIONS.md "Disk").
//!
//! sled 0.34's log keeps growing with every write and hardly reclaims space
//! (a segment is reused only when every page in it was rewritten elsewhere).
//! Compaction copies every tree, record by record, into a fresh data
//! directory beside the old one, checks the copy against the original,
//! and swaps the two directories. The old directory is kept, renamed, for the
//! operator to delete once the daemon runs on the new one.
//!
//! sled's ID generator (behind [`Store::unique_id`], the keys of activities
//! and deliveries) is not a tree and starts at zero in a fresh database. So
//! the copy records an *id floor* in `meta` above every id the old database
//! could have issued, and `unique_id` adds it: ids stay unique and increasing
//! across a compaction.
//!
//! The daemon must be stopped: sled's lock on the directory makes the open
//! fail otherwise, and nothing is changed.

use super::{create_private_dir, sled_config, Store, StoreError, StoreResult, META_ID_FLOOR};
use std::path::{Path, PathBuf};

/// How long an open waits for sled's lock (a daemon that just stopped may
/// hold it a moment longer) before the directory counts as in use.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A file-system step of the compaction that failed.
fn fs_err<'a>(what: &'a str, p: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |e| StoreError::Invalid(format!("cannot {what} {}: {e}", p.display()))
}

/// Records per atomic write of the copy.
const COPY_BATCH: usize = 10_000;

/// What [`compact`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    pub trees: usize,
    pub records: u64,
    /// Size of the data directory before and after, bytes.
    pub before_bytes: u64,
    pub after_bytes: u64,
    /// Where the old data directory now is.
    pub kept: PathBuf,
}

/// `path` with `suffix` appended to its last component.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Bytes of the files under `path`.
fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn read_floor(meta: &sled::Tree) -> StoreResult<u64> {
    Ok(meta
        .get(META_ID_FLOOR)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}

/// Open a data directory (with [`sled_config`]: no background thread, so
/// nothing but this code writes). A held lock means the daemon runs.
fn open_quiet(path: &Path) -> StoreResult<sled::Db> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled_config(path).open() {
            Err(e) if e.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Conflict(format!(
                        "{} is in use (stop synclinkd first): {e}",
                        path.display()
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            r => return Ok(r?),
        }
    }
}

/// Give `copy` (recursively) the owner of `original`: run as root by
/// mistake, the copy would otherwise belong to root and the service user
/// could not open it. A no-op when the owners already match.
fn same_owner(original: &Path, copy: &Path) -> StoreResult<()> {
    use std::os::unix::fs::MetadataExt;
    let want = std::fs::metadata(original).map_err(fs_err("read", original))?;
    let (uid, gid) = (want.uid(), want.gid());
    fn walk(p: &Path, uid: u32, gid: u32) -> StoreResult<()> {
        let m = std::fs::symlink_metadata(p).map_err(fs_err("read", p))?;
        if m.uid() != uid || m.gid() != gid {
            std::os::unix::fs::lchown(p, Some(uid), Some(gid)).map_err(fs_err("chown", p))?;
        }
        if m.is_dir() {
            for e in std::fs::read_dir(p).map_err(fs_err("read", p))? {
                walk(&e.map_err(fs_err("read", p))?.path(), uid, gid)?;
            }
        }
        Ok(())
    }
    walk(copy, uid, gid)
}

/// Copy every tree of `src` into `dst`; returns (trees, records).
fn copy(src: &sled::Db, dst: &sled::Db) -> StoreResult<(usize, u64)> {
    let names = src.tree_names();
    let mut records = 0u64;
    for name in &names {
        let (s, d) = (src.open_tree(name)?, dst.open_tree(name)?);
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for kv in s.iter() {
            let (k, v) = kv?;
            batch.insert(k, v);
            n += 1;
            if n == COPY_BATCH {
                d.apply_batch(std::mem::take(&mut batch))?;
                records += n as u64;
                n = 0;
            }
        }
        d.apply_batch(batch)?;
        records += n as u64;
    }
    Ok((names.len(), records))
}

/// Every record of `src` is in `dst` and nothing else, but the id floor.
fn verify(src: &sled::Db, dst: &sled::Db) -> StoreResult<()> {
    let (mut a, mut b) = (src.tree_names(), dst.tree_names());
    a.sort();
    b.sort();
    if a != b {
        return Err(StoreError::Invalid("the copy has other trees".into()));
    }
    for name in &a {
        let skip = |kv: &sled::Result<(sled::IVec, sled::IVec)>| {
            !(name.as_ref() == b"meta" && matches!(kv, Ok((k, _)) if k.as_ref() == META_ID_FLOOR))
        };
        let mut s = src.open_tree(name)?.iter().filter(skip);
        let mut d = dst.open_tree(name)?.iter().filter(skip);
        loop {
            match (s.next().transpose()?, d.next().transpose()?) {
                (None, None) => break,
                (x, y) if x == y => {}
                _ => {
                    return Err(StoreError::Invalid(format!(
                        "the copy of tree {} differs",
                        String::from_utf8_lossy(name)
                    )))
                }
            }
        }
    }
    Ok(())
}

/// Compact the (stopped) data directory `path`: see the module docs. On any
/// error the original is left as it was (a half-made copy is removed).
pub fn compact(path: &Path) -> StoreResult<Compacted> {
    if !path.join("conf").exists() {
        return Err(StoreError::NotFound(format!(
            "a data directory at {}",
            path.display()
        )));
    }
    // Work beside the real directory: a symlinked data directory keeps
    // pointing at the compacted data, on the same file system.
    let real = std::fs::canonicalize(path).map_err(fs_err("resolve", path))?;
    let path = real.as_path();
    let before_bytes = dir_bytes(path);
    let tmp = sibling(path, ".compacting");
    let made = (|| {
        let src = open_quiet(path)?;
        // Above every id the old database handed out (see `Store::unique_id`).
        let meta = src.open_tree("meta")?;
        let floor = read_floor(&meta)?
            .checked_add(src.generate_id()? + 1)
            .ok_or_else(|| StoreError::Invalid("the id space is exhausted".into()))?;
        if tmp.exists() {
            // Left by a compaction that did not finish: never in use.
            std::fs::remove_dir_all(&tmp).map_err(fs_err("remove", &tmp))?;
        }
        create_private_dir(&tmp).map_err(fs_err("create", &tmp))?;
        let dst = open_quiet(&tmp)?;
        let (trees, records) = copy(&src, &dst)?;
        dst.open_tree("meta")?
            .insert(META_ID_FLOOR, &floor.to_be_bytes())?;
        dst.flush()?;
        verify(&src, &dst)?;
        drop(dst);
        same_owner(path, &tmp)?;
        Ok::<_, StoreError>((trees, records))
    })();
    let (trees, records) = match made {
        Ok(r) => r,
        Err(e) => {
            if !matches!(e, StoreError::Conflict(_)) {
                let _ = std::fs::remove_dir_all(&tmp);
            }
            return Err(e);
        }
    };
    // Both databases are closed (dropped above): swap the directories.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let kept = (0..)
        .map(|n| match n {
            0 => sibling(path, &format!(".pre-compact-{stamp}")),
            n => sibling(path, &format!(".pre-compact-{stamp}-{n}")),
        })
        .find(|p| !p.exists())
        .expect("an unused name");
    std::fs::rename(path, &kept).map_err(fs_err("rename", path))?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        // Put the original back.
        let _ = std::fs::rename(&kept, path);
        return Err(fs_err("rename", &tmp)(e));
    }
    if let Some(parent) = path.parent() {
        if let Ok(dir) = std::fs::File::open(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        }) {
            let _ = dir.sync_all();
        }
    }
    Ok(Compacted {
        trees,
        records,
        before_bytes,
        after_bytes: dir_bytes(path),
        kept,
    })
}

impl Store {
    /// The id floor of this database (0 until its first compaction).
    pub(crate) fn load_id_floor(&mut self) -> StoreResult<()> {
        self.id_floor = read_floor(&self.t.meta)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Project;
    use crate::store::sync::{Op, SyncWrite};

    /// Every record of every tree, the id floor left out.
    fn dump(path: &Path) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let db = sled::Config::new().path(path).open().unwrap();
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
        s.insert_project(&Project {
            id: 1,
            org: 1,
            slug: "p".into(),
            name: "P".into(),
            teams: vec![],
            date_added: 0,
        })
        .unwrap();
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
}
