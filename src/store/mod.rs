//! The only code that touches sled.
//!
//! One database, one named tree per mapping ([`Trees`]), bincode 2 values,
//! big-endian keys ([`keys`]). Every call here blocks: callers run it on a
//! sync actor's thread or inside `web::block`, never on an async worker.

pub mod compact;
pub mod counts;
pub mod credentials;
pub mod delivery_log;
pub mod directory;
pub mod error;
pub mod groups;
pub mod ids;
pub mod integrations;
pub mod jira_connect;
pub mod jira_users;
pub mod keys;
mod migrations;
pub mod outbox;
pub mod prefixed;
pub mod project_delete;
pub mod projects;
pub mod reconcile;
pub mod snapshot;
pub mod sync;
mod trees;

pub use error::{StoreError, StoreResult};
pub use trees::Trees;

use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

/// Schema version this build writes. Bump it and append to [`MIGRATIONS`]
/// when a stored layout changes.
pub const SCHEMA_VERSION: u32 = 9;

/// Ordered migrations: entry `(v, f)` upgrades a database at version `v - 1`
/// to version `v`. They run in order at open, each followed by a flush.
type Migration = fn(&Store) -> StoreResult<()>;
const MIGRATIONS: &[(u32, Migration)] = &[
    (1, migrate_v1),
    (2, migrations::v2_recent_ids),
    (3, migrations::v3_delivery_log_chunks),
    (4, migrations::v4_one_sync_tree),
    (5, migrations::v5_case_rules),
    (6, migrations::v6_installation_switches),
    (7, migrations::v7_status_timestamp),
    (8, migrations::v8_delivery_source),
    (9, migrations::v9_group_state),
];

/// Version 1 is the initial layout: nothing to transform.
fn migrate_v1(_: &Store) -> StoreResult<()> {
    Ok(())
}

const META_SCHEMA: &[u8] = b"schema_version";

/// Added to sled's ID generator by [`Store::unique_id`]: set by a
/// compaction ([`compact`]) above every id the old database issued.
pub(crate) const META_ID_FLOOR: &[u8] = b"id_floor";

/// sled's page cache bound, bytes (see [`Store::open`]). 16 MiB since the
/// link trees' leaves are packed (`trees::PACKED_TREES`), which freed more
/// than that: with 1M links, against 8 MiB with sled's leaves, CPU per
/// webhook delivery fell 20-30% and the peak RSS 8-9 MiB (bench/ANALYSIS.md,
/// eighth round).
const CACHE_CAPACITY: u64 = 16 * 1024 * 1024;

/// Handle to the database. Cheap to clone (sled handles are reference counted).
#[derive(Clone)]
pub struct Store {
    pub(crate) db: sled::Db,
    pub(crate) t: Trees,
    /// Entity counts for `GET /v1/status` (see [`counts`]).
    pub(crate) counts: std::sync::Arc<counts::Counts>,
    /// Whether the counters were loaded or are being recounted.
    pub counts_origin: counts::CountsOrigin,
    /// Webhook credentials by external id, in memory (see [`credentials`]).
    pub(crate) credentials: std::sync::Arc<credentials::Credentials>,
    /// Orders project deletes against sync batches (see [`project_delete::DeleteGate`]).
    pub(crate) deletes: std::sync::Arc<project_delete::DeleteGate>,
    /// The data directory (`None`: temporary), for [`Store::close_and_snapshot`].
    pub(crate) path: Option<PathBuf>,
    /// What the process had written at open ([`Store::written_since_open`]).
    pub(crate) opened: snapshot::WriteMark,
    /// See [`META_ID_FLOOR`].
    pub(crate) id_floor: u64,
}

/// sled's settings, the same for every open of a data directory.
///
/// sled's background thread is off (`flush_every_ms(None)`): durability
/// comes from our own flushes (`actors::flusher`). That thread is also the
/// only caller of sled's segment cleaner, which reclaims next to nothing
/// under webhook load (measurements: bench/ANALYSIS.md); the data
/// directory's growth is handled offline instead ([`compact`],
/// `synclinkd --compact`).
pub fn sled_config(path: &Path) -> sled::Config {
    sled::Config::new()
        .path(path)
        .cache_capacity(CACHE_CAPACITY)
        .flush_every_ms(None)
}

/// Open the database at `path` with [`sled_config`], retrying while sled's
/// directory lock is held (a handle that was just dropped: its IO threads
/// may keep the lock a moment) until `deadline`. The last error is returned
/// as sled gave it.
pub(crate) fn open_sled_waiting(
    path: &Path,
    deadline: std::time::Instant,
) -> sled::Result<sled::Db> {
    loop {
        match sled_config(path).open() {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

impl Store {
    /// Open (or create, mode 0700) the database at `path` and run migrations.
    pub fn open(path: &Path) -> StoreResult<Store> {
        Store::open_with(path, false)
    }

    /// [`Store::open_with`] for tests that reopen a database right after
    /// dropping it: sled's IO threads may hold the directory lock a moment
    /// longer (seen under a loaded machine), so a lock failure is retried for
    /// up to 10 s. Any other error is returned at once.
    #[cfg(test)]
    pub(crate) fn reopen(path: &Path, background_count: bool) -> StoreResult<Store> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Store::open_with(path, background_count) {
                Err(StoreError::Storage(e))
                    if e.contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                r => return r,
            }
        }
    }

    /// [`Store::open`]; `background_count`: recount in the background even
    /// a small database without saved counters (tests).
    pub(crate) fn open_with(path: &Path, background_count: bool) -> StoreResult<Store> {
        create_private_dir(path)
            .map_err(|e| StoreError::Storage(format!("cannot create {}: {e}", path.display())))?;
        // sled's page cache, kept small: sled's accounting undercounts what
        // it holds by several times (the sizes measured: docs/OPERATIONS.md
        // section 9). The OS page cache keeps the file warm, so a miss
        // costs a pread and a decode, not a disk seek.
        // (`snapshot_after_ops` is a no-op in sled 0.34.7: sled writes its
        // snapshot at open, so recovery replays the log since the last open;
        // see [`snapshot`].)
        let db = sled_config(path).open()?;
        let t = Trees::open(&db)?;
        let mut store = Store {
            opened: snapshot::WriteMark::now(&db),
            db,
            t,
            counts: Default::default(),
            counts_origin: counts::CountsOrigin::Recounting,
            credentials: Default::default(),
            deletes: Default::default(),
            path: Some(path.to_path_buf()),
            id_floor: 0,
        };
        store.migrate()?;
        store.load_id_floor()?;
        store.load_credentials()?;
        // After the migrations, before any writer runs.
        store.counts_origin = store.init_counts(background_count)?;
        Ok(store)
    }

    /// Open a throw-away database in a temporary directory (unit tests).
    pub fn temporary() -> StoreResult<Store> {
        let db = sled::Config::new().temporary(true).open()?;
        let t = Trees::open(&db)?;
        let mut store = Store {
            opened: snapshot::WriteMark::now(&db),
            db,
            t,
            counts: Default::default(),
            counts_origin: counts::CountsOrigin::Recounting,
            credentials: Default::default(),
            deletes: Default::default(),
            path: None,
            id_floor: 0,
        };
        store.migrate()?;
        store.load_id_floor()?;
        store.load_credentials()?;
        // After the migrations, before any writer runs.
        store.counts_origin = store.init_counts(false)?;
        Ok(store)
    }

    pub fn schema_version(&self) -> StoreResult<Option<u32>> {
        Ok(self
            .t
            .meta
            .get(META_SCHEMA)?
            .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
            .map(u32::from_be_bytes))
    }

    fn migrate(&self) -> StoreResult<()> {
        let found = self.schema_version()?.unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::Storage(format!(
                "database schema version {found} is newer than this build supports \
                 ({SCHEMA_VERSION})"
            )));
        }
        for (v, f) in MIGRATIONS {
            if *v > found {
                f(self)?;
                self.t.meta.insert(META_SCHEMA, &v.to_be_bytes())?;
                self.db.flush()?;
            }
        }
        Ok(())
    }

    /// Flush every write to disk; returns the bytes flushed.
    pub fn flush(&self) -> StoreResult<usize> {
        Ok(self.db.flush()?)
    }

    /// Next value of the named sequence (1, 2, 3, ...), persisted.
    pub fn next_seq(&self, name: &str) -> StoreResult<u64> {
        let key = format!("seq:{name}");
        let v = self.t.meta.update_and_fetch(key.as_bytes(), |old| {
            let n = old
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            Some((n + 1).to_be_bytes().to_vec())
        })?;
        Ok(v.and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(1))
    }

    /// A unique, increasing id from sled's own generator (never repeats across
    /// restarts; not contiguous), above the id floor a compaction left.
    /// Used for activities and deliveries.
    pub fn unique_id(&self) -> StoreResult<u64> {
        Ok(self.db.generate_id()? + 1 + self.id_floor)
    }

    /// Size of the database on disk, bytes.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !path.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

/// Encode a stored value with bincode 2.
pub fn encode<T: Serialize + ?Sized>(what: &'static str, v: &T) -> StoreResult<Vec<u8>> {
    bincode::serde::encode_to_vec(v, bincode::config::standard())
        .map_err(|e| error::encode_error(what, e))
}

/// Decode a stored value with bincode 2.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> StoreResult<T> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| error::decode_error(what, e))
}

/// How many elements a stored list (`Vec<T>`) holds, read from its length
/// prefix only.
pub(crate) fn list_len(what: &'static str, value: &[u8]) -> StoreResult<usize> {
    let n: u64 = decode(what, value)?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Read and decode one value.
pub(crate) fn get<T: DeserializeOwned>(
    tree: &impl Source,
    what: &'static str,
    key: impl AsRef<[u8]>,
) -> StoreResult<Option<T>> {
    match tree.get_raw(key.as_ref())? {
        Some(v) => Ok(Some(decode(what, &v)?)),
        None => Ok(None),
    }
}

/// Decode every value of a tree under `prefix`, in key order.
pub(crate) fn scan<T: DeserializeOwned>(
    tree: &impl Source,
    what: &'static str,
    prefix: impl AsRef<[u8]>,
) -> StoreResult<Vec<T>> {
    tree.values_under(prefix.as_ref())
        .map(|r| decode(what, &r?))
        .collect()
}

/// What [`get`] and [`scan`] read: a tree, or one record kind of a shared
/// tree ([`prefixed::Prefixed`]).
pub(crate) trait Source {
    fn get_raw(&self, key: &[u8]) -> sled::Result<Option<sled::IVec>>;
    fn values_under(&self, prefix: &[u8]) -> impl Iterator<Item = sled::Result<sled::IVec>>;
}

impl Source for sled::Tree {
    fn get_raw(&self, key: &[u8]) -> sled::Result<Option<sled::IVec>> {
        self.get(key)
    }
    fn values_under(&self, prefix: &[u8]) -> impl Iterator<Item = sled::Result<sled::IVec>> {
        self.scan_prefix(prefix).values()
    }
}

impl Source for prefixed::Prefixed {
    fn get_raw(&self, key: &[u8]) -> sled::Result<Option<sled::IVec>> {
        self.get(key)
    }
    fn values_under(&self, prefix: &[u8]) -> impl Iterator<Item = sled::Result<sled::IVec>> {
        self.scan_prefix(prefix).values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_records_schema_version() {
        let s = Store::temporary().unwrap();
        assert_eq!(s.schema_version().unwrap(), Some(SCHEMA_VERSION));
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::reopen(dir.path(), false).unwrap();
            s.t.meta.insert(META_SCHEMA, &99u32.to_be_bytes()).unwrap();
            s.flush().unwrap();
        }
        match Store::reopen(dir.path(), false) {
            Err(StoreError::Storage(m)) if m.contains("schema version 99 is newer") => {}
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("opened a database from the future"),
        }
    }

    #[test]
    fn data_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("data");
        let _s = Store::reopen(&p, false).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn sequences_increase_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::reopen(dir.path(), false).unwrap();
            assert_eq!(s.next_seq("orgs").unwrap(), 1);
            assert_eq!(s.next_seq("orgs").unwrap(), 2);
            assert_eq!(s.next_seq("users").unwrap(), 1);
            s.flush().unwrap();
        }
        let s = Store::reopen(dir.path(), false).unwrap();
        assert_eq!(s.next_seq("orgs").unwrap(), 3);
    }

    #[test]
    fn bincode_round_trip() {
        let u = crate::domain::User {
            id: 7,
            name: "Bob".into(),
            emails: vec![crate::domain::Email {
                email: "bob@example.org".into(),
                verified: true,
            }],
        };
        let b = encode("user", &u).unwrap();
        assert_eq!(decode::<crate::domain::User>("user", &b).unwrap(), u);
        assert!(decode::<crate::domain::User>("user", &b[..2]).is_err());
    }
}
