//! Snowflake IDs (SPEC section 8).
//!
//! 53 bits, most significant first:
//!
//! | field    | bits | value                                        |
//! |----------|------|----------------------------------------------|
//! | version  | 5    | `ids.version_id` with its 5 bits reversed    |
//! | seconds  | 32   | seconds since `ids.epoch`                    |
//! | region   | 12   | `ids.region_id`                              |
//! | sequence | 4    | 0..15 within one second                      |
//!
//! The [`Generator`] hands out strictly increasing IDs: 16 per second, then it
//! borrows the next second, at most [`MAX_AHEAD_SECS`] ahead of the clock
//! (beyond that it sleeps). It never goes back when the clock does, and it
//! persists a high-water mark of seconds reserved *ahead* (by
//! [`RESERVE_SECS`] at a time) before handing out an ID of a second at or
//! above the mark, so a restart resumes above every ID ever issued while a
//! flush happens only once per reservation.

use std::time::Duration;

pub const VERSION_BITS: u32 = 5;
pub const SECONDS_BITS: u32 = 32;
pub const REGION_BITS: u32 = 12;
pub const SEQUENCE_BITS: u32 = 4;
pub const TOTAL_BITS: u32 = VERSION_BITS + SECONDS_BITS + REGION_BITS + SEQUENCE_BITS;
/// Largest value an ID can take (2^53 - 1).
pub const MAX_ID: u64 = (1 << TOTAL_BITS) - 1;
/// Sequence values per second.
pub const PER_SECOND: u64 = 1 << SEQUENCE_BITS;
/// How far ahead of the clock the generator may borrow seconds.
pub const MAX_AHEAD_SECS: u64 = 300;
/// Seconds reserved (and persisted) ahead at a time. Small, because a
/// restart resumes at the mark: each restart can move IDs at most this far
/// ahead of the clock. One flush per 10 s of issuing is still negligible.
pub const RESERVE_SECS: u64 = 10;

const SEQUENCE_SHIFT: u32 = 0;
const REGION_SHIFT: u32 = SEQUENCE_BITS;
const SECONDS_SHIFT: u32 = REGION_SHIFT + REGION_BITS;
const VERSION_SHIFT: u32 = SECONDS_SHIFT + SECONDS_BITS;

/// Reverse the low 5 bits (`0b00001` -> `0b10000`), as the reference system
/// stores the version "msb-0 ordered". Its own inverse.
pub fn reverse_version(v: u8) -> u8 {
    let mut out = 0u8;
    for i in 0..VERSION_BITS {
        if v & (1 << i) != 0 {
            out |= 1 << (VERSION_BITS - 1 - i);
        }
    }
    out
}

/// The fields of an ID. `version` is the configured `ids.version_id`
/// (encoding reverses its bits; decoding reverses them back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub version: u8,
    pub seconds: u64,
    pub region: u16,
    pub sequence: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnowflakeError {
    #[error("{field} {value} does not fit in {bits} bits")]
    OutOfRange {
        field: &'static str,
        value: u64,
        bits: u32,
    },
    #[error("{0} is not a snowflake ID (more than 53 bits)")]
    TooLarge(u64),
}

/// A layout that cannot hold a value is a bug (the config is validated).
impl From<SnowflakeError> for crate::error::Error {
    fn from(e: SnowflakeError) -> Self {
        crate::error::Error::Internal(e.to_string())
    }
}

fn fits(field: &'static str, value: u64, bits: u32) -> Result<(), SnowflakeError> {
    if value >> bits != 0 {
        return Err(SnowflakeError::OutOfRange { field, value, bits });
    }
    Ok(())
}

pub fn encode(p: Parts) -> Result<u64, SnowflakeError> {
    fits("version", p.version as u64, VERSION_BITS)?;
    fits("seconds", p.seconds, SECONDS_BITS)?;
    fits("region", p.region as u64, REGION_BITS)?;
    fits("sequence", p.sequence as u64, SEQUENCE_BITS)?;
    Ok((reverse_version(p.version) as u64) << VERSION_SHIFT
        | p.seconds << SECONDS_SHIFT
        | (p.region as u64) << REGION_SHIFT
        | (p.sequence as u64) << SEQUENCE_SHIFT)
}

pub fn decode(id: u64) -> Result<Parts, SnowflakeError> {
    if id > MAX_ID {
        return Err(SnowflakeError::TooLarge(id));
    }
    let field = |shift: u32, bits: u32| (id >> shift) & ((1u64 << bits) - 1);
    Ok(Parts {
        version: reverse_version(field(VERSION_SHIFT, VERSION_BITS) as u8),
        seconds: field(SECONDS_SHIFT, SECONDS_BITS),
        region: field(REGION_SHIFT, REGION_BITS) as u16,
        sequence: field(SEQUENCE_SHIFT, SEQUENCE_BITS) as u8,
    })
}

/// Wall clock and sleeping, injected so tests control time.
pub trait Clock {
    /// Milliseconds since the UNIX epoch.
    fn now_ms(&mut self) -> i64;
    fn sleep(&mut self, d: Duration);
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&mut self) -> i64 {
        crate::domain::now_ms()
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// Fixed parameters of a generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub version: u8,
    pub region: u16,
    /// The epoch, UNIX seconds.
    pub epoch_secs: i64,
}

/// Strictly increasing ID generator. `persist(mark)` must durably store the
/// high-water mark (seconds since the epoch; every ID issued has fewer
/// seconds than the last persisted mark) before it returns.
pub struct Generator<C: Clock> {
    layout: Layout,
    clock: C,
    /// Seconds and sequence of the last ID issued.
    last: Option<(u64, u8)>,
    /// No ID below this second (the mark persisted by a previous run).
    floor: u64,
    /// Persisted mark: seconds below it may be issued without a flush.
    reserved_until: u64,
    /// Highest clock reading seen (seconds since the epoch): the "ahead"
    /// limit is measured from it, so a clock stepping back does not stall
    /// the generator, nor let it run further ahead.
    clock_max: u64,
}

impl<C: Clock> Generator<C> {
    /// `mark` is the high-water mark persisted by an earlier run (0 if none).
    pub fn new(layout: Layout, clock: C, mark: u64) -> Result<Self, SnowflakeError> {
        fits("version", layout.version as u64, VERSION_BITS)?;
        fits("region", layout.region as u64, REGION_BITS)?;
        Ok(Generator {
            layout,
            clock,
            last: None,
            floor: mark,
            reserved_until: mark,
            clock_max: 0,
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The persisted high-water mark as this generator knows it.
    pub fn reserved_until(&self) -> u64 {
        self.reserved_until
    }

    fn now_secs(&mut self) -> (u64, i64) {
        let ms = self.clock.now_ms();
        let secs = (ms.div_euclid(1000) - self.layout.epoch_secs).max(0) as u64;
        self.clock_max = self.clock_max.max(secs);
        (secs, ms)
    }

    /// The next ID. Sleeps (through the clock) while the next free second is
    /// more than [`MAX_AHEAD_SECS`] ahead of the clock.
    pub fn next_id<E>(&mut self, mut persist: impl FnMut(u64) -> Result<(), E>) -> Result<u64, E>
    where
        E: From<SnowflakeError>,
    {
        let (secs, seq) = loop {
            let (now, now_ms) = self.now_secs();
            let (secs, seq) = match self.last {
                Some((s, q)) if s >= now.max(self.floor) => {
                    if (q as u64) + 1 < PER_SECOND {
                        (s, q + 1)
                    } else {
                        (s + 1, 0)
                    }
                }
                _ => (now.max(self.floor), 0),
            };
            let limit = self.clock_max + MAX_AHEAD_SECS;
            if secs <= limit {
                break (secs, seq);
            }
            // Wait until the clock reaches `secs - MAX_AHEAD_SECS`.
            let target_ms = (secs - MAX_AHEAD_SECS) as i64 * 1000 + self.layout.epoch_secs * 1000;
            let wait = (target_ms - now_ms).clamp(1, 1000) as u64;
            self.clock.sleep(Duration::from_millis(wait));
        };
        let id = encode(Parts {
            version: self.layout.version,
            seconds: secs,
            region: self.layout.region,
            sequence: seq,
        })?;
        if secs >= self.reserved_until {
            let mark = secs + RESERVE_SECS;
            persist(mark)?;
            self.reserved_until = mark;
        }
        self.last = Some((secs, seq));
        Ok(id)
    }
}

#[cfg(test)]
mod tests;
