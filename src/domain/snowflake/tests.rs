use super::*;
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

const EPOCH: i64 = 1_659_916_800; // 2022-08-08T00:00:00Z

/// A clock the test moves; `sleep` advances it and is recorded.
#[derive(Clone, Default)]
struct FakeClock {
    ms: Rc<RefCell<i64>>,
    slept: Rc<RefCell<Vec<Duration>>>,
}

impl FakeClock {
    fn at_secs(s: i64) -> FakeClock {
        let c = FakeClock::default();
        *c.ms.borrow_mut() = (EPOCH + s) * 1000;
        c
    }
    fn set_secs(&self, s: i64) {
        *self.ms.borrow_mut() = (EPOCH + s) * 1000;
    }
    fn secs(&self) -> u64 {
        (*self.ms.borrow() / 1000 - EPOCH) as u64
    }
}

impl Clock for FakeClock {
    fn now_ms(&mut self) -> i64 {
        *self.ms.borrow()
    }
    fn sleep(&mut self, d: Duration) {
        self.slept.borrow_mut().push(d);
        *self.ms.borrow_mut() += d.as_millis() as i64;
    }
}

fn layout() -> Layout {
    Layout {
        version: 1,
        region: 0,
        epoch_secs: EPOCH,
    }
}

type Marks = Rc<RefCell<Vec<u64>>>;

fn gen_at(secs: i64, mark: u64) -> (Generator<FakeClock>, FakeClock) {
    let c = FakeClock::at_secs(secs);
    (Generator::new(layout(), c.clone(), mark).unwrap(), c)
}

fn next(g: &mut Generator<FakeClock>, marks: &Marks) -> u64 {
    g.next_id(|m| {
        marks.borrow_mut().push(m);
        Ok::<_, SnowflakeError>(())
    })
    .unwrap()
}

#[test]
fn version_bits_are_reversed() {
    assert_eq!(reverse_version(0b00001), 0b10000);
    assert_eq!(reverse_version(0b00011), 0b11000);
    assert_eq!(reverse_version(0b10110), 0b01101);
    assert_eq!(reverse_version(0), 0);
    assert_eq!(reverse_version(31), 31);
    for v in 0..32 {
        assert_eq!(reverse_version(reverse_version(v)), v);
    }
}

#[test]
fn exact_layout_with_known_values() {
    // version 1 -> reversed 0b10000 at bit 48; seconds at bit 16;
    // region at bit 4; sequence at bit 0.
    let id = encode(Parts {
        version: 1,
        seconds: 1,
        region: 1,
        sequence: 1,
    })
    .unwrap();
    assert_eq!(id, (16u64 << 48) | (1 << 16) | (1 << 4) | 1);
    assert_eq!(id, 4_503_599_627_436_049);
    let id = encode(Parts {
        version: 0,
        seconds: 0,
        region: 0,
        sequence: 0,
    })
    .unwrap();
    assert_eq!(id, 0);
    let max = encode(Parts {
        version: 31,
        seconds: u32::MAX as u64,
        region: 4095,
        sequence: 15,
    })
    .unwrap();
    assert_eq!(max, MAX_ID);
    assert_eq!(MAX_ID, 9_007_199_254_740_991);
    // A real-looking one: version 1, 100 000 000 s, region 7, sequence 3.
    let id = encode(Parts {
        version: 1,
        seconds: 100_000_000,
        region: 7,
        sequence: 3,
    })
    .unwrap();
    assert_eq!(id, (16u64 << 48) + (100_000_000u64 << 16) + (7 << 4) + 3);
    // Version 2 (0b00010) -> 0b01000.
    let id = encode(Parts {
        version: 2,
        seconds: 0,
        region: 0,
        sequence: 0,
    })
    .unwrap();
    assert_eq!(id, 8u64 << 48);
}

#[test]
fn out_of_range_fields_are_refused() {
    let p = Parts {
        version: 32,
        seconds: 0,
        region: 0,
        sequence: 0,
    };
    assert!(encode(p).is_err());
    assert!(encode(Parts {
        version: 1,
        region: 4096,
        ..p
    })
    .is_err());
    assert!(encode(Parts {
        version: 1,
        sequence: 16,
        ..p
    })
    .is_err());
    assert!(encode(Parts {
        version: 1,
        seconds: 1 << 32,
        ..p
    })
    .is_err());
    assert_eq!(
        decode(MAX_ID + 1),
        Err(SnowflakeError::TooLarge(MAX_ID + 1))
    );
    assert!(Generator::new(
        Layout {
            version: 1,
            region: 5000,
            epoch_secs: EPOCH
        },
        SystemClock,
        0
    )
    .is_err());
}

#[test]
fn decode_round_trip() {
    for version in [0u8, 1, 2, 17, 31] {
        for seconds in [0u64, 1, 123_456_789, u32::MAX as u64] {
            for region in [0u16, 1, 2048, 4095] {
                for sequence in [0u8, 9, 15] {
                    let p = Parts {
                        version,
                        seconds,
                        region,
                        sequence,
                    };
                    let id = encode(p).unwrap();
                    assert!(id <= MAX_ID);
                    assert_eq!(decode(id).unwrap(), p);
                }
            }
        }
    }
}

#[test]
fn ids_strictly_increase_and_use_the_clock() {
    let marks = Marks::default();
    let (mut g, c) = gen_at(1_000, 0);
    let mut prev = 0;
    for i in 0..100 {
        if i % 7 == 0 {
            c.set_secs(1_000 + i);
        }
        let id = next(&mut g, &marks);
        assert!(id > prev, "{id} <= {prev}");
        prev = id;
    }
    let first = decode(next(&mut g, &marks)).unwrap();
    assert_eq!(first.version, 1);
    assert!(first.seconds >= 1_098);
    let (mut g, _c) = gen_at(5_000, 0);
    let p = decode(next(&mut g, &marks)).unwrap();
    assert_eq!(
        (p.seconds, p.sequence, p.region, p.version),
        (5_000, 0, 0, 1)
    );
}

#[test]
fn sixteen_per_second_then_the_next_second() {
    let marks = Marks::default();
    let (mut g, _c) = gen_at(10, 0);
    let parts: Vec<Parts> = (0..33)
        .map(|_| decode(next(&mut g, &marks)).unwrap())
        .collect();
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p.seconds, 10 + i as u64 / 16);
        assert_eq!(p.sequence as usize, i % 16);
    }
}

#[test]
fn clock_stepping_backwards_never_repeats() {
    let marks = Marks::default();
    let (mut g, c) = gen_at(10_000, 0);
    let mut seen = HashSet::new();
    let mut prev = 0;
    for step in [10_000, 9_000, 9_500, 10_000, 5, 10_001, 9_999] {
        c.set_secs(step);
        for _ in 0..40 {
            let id = next(&mut g, &marks);
            assert!(id > prev);
            assert!(seen.insert(id));
            prev = id;
        }
    }
    assert!(c.slept.borrow().is_empty());
}

#[test]
fn burst_of_4800_without_a_duplicate_or_a_wait() {
    let marks = Marks::default();
    let (mut g, c) = gen_at(50_000, 0);
    let mut seen = HashSet::new();
    let mut prev = 0;
    for _ in 0..4_800 {
        let id = next(&mut g, &marks);
        assert!(id > prev);
        assert!(seen.insert(id));
        prev = id;
    }
    assert_eq!(seen.len(), 4_800);
    assert!(c.slept.borrow().is_empty());
    let last = decode(prev).unwrap();
    assert_eq!(last.seconds, 50_000 + 299);
    // One flush per reservation, not per ID: 300 s / 10 s = 30.
    assert_eq!(marks.borrow().len(), 30, "{:?}", marks.borrow());
}

#[test]
fn at_most_300_s_ahead_then_it_waits() {
    let marks = Marks::default();
    let (mut g, c) = gen_at(70_000, 0);
    // 301 seconds (now .. now + 300) of 16 IDs each can go without a wait.
    for _ in 0..(301 * 16) {
        next(&mut g, &marks);
    }
    assert!(c.slept.borrow().is_empty());
    assert_eq!(c.secs(), 70_000);
    let id = next(&mut g, &marks);
    let p = decode(id).unwrap();
    assert_eq!(p.seconds, 70_301);
    assert!(!c.slept.borrow().is_empty(), "it should have waited");
    assert!(p.seconds <= c.secs() + MAX_AHEAD_SECS);
    assert_eq!(c.secs(), 70_001);
}

#[test]
fn the_mark_is_persisted_ahead_and_respected_after_restart() {
    let marks = Marks::default();
    let (mut g, c) = gen_at(1_000, 0);
    let a = next(&mut g, &marks);
    assert_eq!(*marks.borrow(), vec![1_000 + RESERVE_SECS]);
    for _ in 0..20 {
        next(&mut g, &marks);
    }
    assert_eq!(marks.borrow().len(), 1, "no flush per ID");
    c.set_secs(1_000 + RESERVE_SECS as i64);
    let b = next(&mut g, &marks);
    assert!(b > a);
    assert_eq!(marks.borrow().len(), 2);
    let mark = *marks.borrow().last().unwrap();
    // Restart with the clock behind: start above the mark.
    let (mut g2, _c2) = gen_at(900, mark);
    let after = next(&mut g2, &marks);
    assert!(after > b);
    assert_eq!(decode(after).unwrap().seconds, mark);
}

#[test]
fn many_quick_restarts_stay_increasing_without_a_wait() {
    let marks = Marks::default();
    let mut mark = 0;
    let mut prev = 0;
    for _ in 0..25 {
        let (mut g, c) = gen_at(2_000, mark);
        let id = next(&mut g, &marks);
        assert!(id > prev);
        prev = id;
        mark = g.reserved_until();
        assert!(c.slept.borrow().is_empty());
    }
    assert!(decode(prev).unwrap().seconds <= 2_000 + MAX_AHEAD_SECS);
}

#[test]
fn persist_failure_hands_out_nothing() {
    let (mut g, _c) = gen_at(1_000, 0);
    let r = g.next_id(|_| Err(SnowflakeError::TooLarge(0)));
    assert!(r.is_err());
    assert_eq!(g.reserved_until(), 0);
    let marks = Marks::default();
    let id = next(&mut g, &marks);
    assert_eq!(decode(id).unwrap().sequence, 0);
}
