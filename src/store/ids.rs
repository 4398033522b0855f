//! The snowflake high-water mark (SPEC section 8), in the `meta` tree.

use super::{Store, StoreResult};

const META_SNOWFLAKE_MARK: &[u8] = b"snowflake_high_water";

impl Store {
    /// The persisted snowflake high-water mark (seconds since the ID epoch;
    /// every ID issued so far has fewer seconds). 0 when none was written.
    pub fn snowflake_mark(&self) -> StoreResult<u64> {
        Ok(self
            .t
            .meta
            .get(META_SNOWFLAKE_MARK)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    /// Raise the high-water mark to `mark` (never lowers it) and flush, so
    /// the mark is on disk before any ID below it is handed out.
    pub fn set_snowflake_mark(&self, mark: u64) -> StoreResult<()> {
        self.t.meta.fetch_and_update(META_SNOWFLAKE_MARK, |old| {
            let cur = old
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            Some(cur.max(mark).to_be_bytes().to_vec())
        })?;
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_round_trip_only_rises_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::reopen(dir.path(), false).unwrap();
            assert_eq!(s.snowflake_mark().unwrap(), 0);
            s.set_snowflake_mark(120).unwrap();
            assert_eq!(s.snowflake_mark().unwrap(), 120);
            s.set_snowflake_mark(60).unwrap();
            assert_eq!(s.snowflake_mark().unwrap(), 120);
            s.set_snowflake_mark(180).unwrap();
        }
        let s = Store::reopen(dir.path(), false).unwrap();
        assert_eq!(s.snowflake_mark().unwrap(), 180);
    }
}
