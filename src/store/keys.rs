//! Big-endian key codecs. Every composite key is built here so that range
//! scans over sled's byte order are ordered by the numeric fields.
//!
//! Layout rules: integers are fixed-width big-endian; strings are prefixed with
//! their length as a big-endian u16, so a `(u64, str)` prefix never matches a
//! longer string that merely starts with the same bytes.

/// Builder for composite keys.
#[derive(Debug, Default, Clone)]
pub struct Key(Vec<u8>);

impl Key {
    pub fn new() -> Key {
        Key(Vec::with_capacity(32))
    }
    pub fn u64(mut self, v: u64) -> Key {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn str(mut self, s: &str) -> Key {
        let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(&s.as_bytes()[..len as usize]);
        self
    }
    pub fn build(self) -> Vec<u8> {
        self.0
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Key of a single u64 id.
pub fn id(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

/// Key of two u64 ids.
pub fn pair(a: u64, b: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&a.to_be_bytes());
    k[8..].copy_from_slice(&b.to_be_bytes());
    k
}

/// Reader for composite keys, the inverse of [`Key`].
#[derive(Debug, Clone, Copy)]
pub struct KeyReader<'a>(&'a [u8]);

impl<'a> KeyReader<'a> {
    pub fn new(bytes: &'a [u8]) -> KeyReader<'a> {
        KeyReader(bytes)
    }
    pub fn u64(&mut self) -> Option<u64> {
        if self.0.len() < 8 {
            return None;
        }
        let (h, t) = self.0.split_at(8);
        self.0 = t;
        Some(u64::from_be_bytes(h.try_into().ok()?))
    }
    pub fn str(&mut self) -> Option<&'a str> {
        if self.0.len() < 2 {
            return None;
        }
        let len = u16::from_be_bytes([self.0[0], self.0[1]]) as usize;
        if self.0.len() < 2 + len {
            return None;
        }
        let s = std::str::from_utf8(&self.0[2..2 + len]).ok()?;
        self.0 = &self.0[2 + len..];
        Some(s)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Decode a single big-endian u64 key.
pub fn read_id(bytes: &[u8]) -> Option<u64> {
    KeyReader::new(bytes).u64()
}

/// Decode the second u64 of a `pair` key.
pub fn read_pair(bytes: &[u8]) -> Option<(u64, u64)> {
    let mut r = KeyReader::new(bytes);
    Some((r.u64()?, r.u64()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_round_trip_and_order() {
        for v in [0u64, 1, 255, 256, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            assert_eq!(read_id(&id(v)), Some(v));
        }
        let mut ks: Vec<[u8; 8]> = [9u64, 256, 1, 70000, 0].iter().map(|v| id(*v)).collect();
        ks.sort();
        let back: Vec<u64> = ks.iter().map(|k| read_id(k).unwrap()).collect();
        assert_eq!(back, vec![0, 1, 9, 256, 70000]);
    }

    #[test]
    fn pair_round_trip_and_prefix() {
        let k = pair(7, 1 << 40);
        assert_eq!(read_pair(&k), Some((7, 1 << 40)));
        assert!(k.starts_with(&id(7)));
        assert!(pair(1, u64::MAX) < pair(2, 0));
    }

    #[test]
    fn composite_round_trip() {
        let k = Key::new().u64(42).str("PROJ-42").u64(9).build();
        let mut r = KeyReader::new(&k);
        assert_eq!(r.u64(), Some(42));
        assert_eq!(r.str(), Some("PROJ-42"));
        assert_eq!(r.u64(), Some(9));
        assert!(r.is_empty());
    }

    #[test]
    fn string_prefix_does_not_match_longer_string() {
        let short = Key::new().u64(1).str("APP-1").build();
        let long = Key::new().u64(1).str("APP-10").u64(3).build();
        assert!(!long.starts_with(&short));
        let exact = Key::new().u64(1).str("APP-1").u64(3).build();
        assert!(exact.starts_with(&short));
    }

    #[test]
    fn truncated_keys_decode_to_none() {
        assert_eq!(read_id(&[1, 2, 3]), None);
        let k = Key::new().str("abc").build();
        assert_eq!(KeyReader::new(&k[..3]).str(), None);
    }
}
