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

use super::{create_private_dir, open_sled_waiting, Store, StoreError, StoreResult, META_ID_FLOOR};
use std::path::{Path, PathBuf};

/// How long an open waits for sled's lock (a daemon that just stopped may
/// hold it a moment longer) before the directory counts as in use.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A file-system step of the compaction that failed.
fn fs_err<'a>(what: &'a str, p: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |e| StoreError::Storage(format!("cannot {what} {}: {e}", p.display()))
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

/// Open a data directory, waiting [`LOCK_WAIT`] for sled's lock; a lock
/// still held then means the daemon runs.
fn open_waiting(path: &Path) -> StoreResult<sled::Db> {
    open_sled_waiting(path, std::time::Instant::now() + LOCK_WAIT).map_err(|e| {
        if e.to_string().contains("could not acquire lock") {
            StoreError::Conflict(format!(
                "{} is in use (stop synclinkd first): {e}",
                path.display()
            ))
        } else {
            e.into()
        }
    })
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
        let (s, d) = (src.open_tree(name)?, super::trees::open_tree(dst, name)?);
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
        return Err(StoreError::Storage("the copy has other trees".into()));
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
                    return Err(StoreError::Storage(format!(
                        "the copy of tree {} differs",
                        String::from_utf8_lossy(name)
                    )))
                }
            }
        }
    }
    Ok(())
}

/// What follows the data directory's name in the name of the old copy
/// [`compact`] keeps beside it (then the time, and `-n` when taken).
const KEPT_SUFFIX: &str = ".pre-compact-";

/// Remove the old data directories [`compact`] kept beside `path` (its
/// name followed by `.pre-compact-`), and nothing else; the daemon may run
/// meanwhile (it never uses them). Returns what was removed. For
/// `synclinkd --remove-compacted`, which `synclink-compact.service` runs
/// once the daemon is up on the compacted data, wherever `storage.path` is.
pub fn remove_compacted(path: &Path) -> StoreResult<Vec<PathBuf>> {
    // Beside the real directory, where `compact` put them.
    let real = std::fs::canonicalize(path).map_err(fs_err("resolve", path))?;
    let prefix = sibling(&real, KEPT_SUFFIX);
    let (Some(parent), Some(prefix)) = (real.parent(), prefix.file_name()) else {
        return Ok(vec![]);
    };
    let prefix = prefix.to_string_lossy().into_owned();
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(parent).map_err(fs_err("read", parent))? {
        let entry = entry.map_err(fs_err("read", parent))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir && name.len() > prefix.len() && name.starts_with(&prefix) {
            let p = entry.path();
            std::fs::remove_dir_all(&p).map_err(fs_err("remove", &p))?;
            removed.push(p);
        }
    }
    removed.sort();
    Ok(removed)
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
        let src = open_waiting(path)?;
        // Above every id the old database handed out (see `Store::unique_id`).
        let meta = src.open_tree("meta")?;
        let floor = read_floor(&meta)?
            .checked_add(src.generate_id()? + 1)
            .ok_or_else(|| StoreError::Storage("the id space is exhausted".into()))?;
        if tmp.exists() {
            // Left by a compaction that did not finish: never in use.
            std::fs::remove_dir_all(&tmp).map_err(fs_err("remove", &tmp))?;
        }
        create_private_dir(&tmp).map_err(fs_err("create", &tmp))?;
        let dst = open_waiting(&tmp)?;
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
            0 => sibling(path, &format!("{KEPT_SUFFIX}{stamp}")),
            n => sibling(path, &format!("{KEPT_SUFFIX}{stamp}-{n}")),
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
mod tests;
