//! Micro benchmark of webhook body parsing: the `serde_json::Value` path the
//! daemon used before (decode a `Value`, walk it) against
//! `payload::parse_bytes`, on a Jira fixture. Prints time and heap
//! allocations per parse for both, and their ratios (compare ratios only: the
//! machine may be shared).
//!
//! Usage: `cargo run --release --example parse_bench [FIXTURE] [N]`
//! (default `issue_assigned.json`, 200000).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// The reference implementation (the crate's test copy); it finds its
/// types in its parent module, here the crate root.
#[allow(dead_code)]
#[path = "../src/domain/payload/reference.rs"]
mod reference;
use synclink::domain::payload::{
    check_issue_key, jira_account, moved_keys, Action, Payload, PayloadError, StatusItem,
    MAX_EMAIL_LEN, MAX_KEY_LEN,
};

/// The system allocator, counting allocations.
struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn old_path(body: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => reference::parse(&v).is_ok(),
        Err(_) => false,
    }
}

fn new_path(body: &[u8]) -> bool {
    synclink::domain::payload::parse_bytes(body).is_ok()
}

/// Seconds and allocations for `n` parses.
fn run(n: u32, body: &[u8], f: fn(&[u8]) -> bool) -> (f64, u64) {
    let allocs = ALLOCS.load(Relaxed);
    let t = Instant::now();
    for _ in 0..n {
        assert!(black_box(f(black_box(body))));
    }
    (t.elapsed().as_secs_f64(), ALLOCS.load(Relaxed) - allocs)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "issue_assigned.json".into());
    let n: u32 = args.next().map_or(200_000, |s| s.parse().expect("N"));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jira")
        .join(&name);
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let want = serde_json::from_slice(&body)
        .map_err(|e| e.to_string())
        .and_then(|v| reference::parse(&v).map_err(|e| e.0));
    let got = synclink::domain::payload::parse_bytes(&body).map_err(|e| e.to_string());
    assert_eq!(got, want, "the two paths disagree on {name}");

    // Warm up, then interleave rounds so both see the same machine load.
    run(n / 10, &body, old_path);
    run(n / 10, &body, new_path);
    let (mut t_old, mut t_new, mut a_old, mut a_new) = (0.0, 0.0, 0, 0);
    for _ in 0..5 {
        let (t, a) = run(n / 5, &body, old_path);
        t_old += t;
        a_old += a;
        let (t, a) = run(n / 5, &body, new_path);
        t_new += t;
        a_new += a;
    }
    let per = |t: f64| t * 1e9 / f64::from(n);
    let n = u64::from(n);
    println!("{name} ({} bytes), {n} parses each", body.len());
    println!(
        "Value path: {:8.0} ns/parse, {:6.1} allocations/parse",
        per(t_old),
        a_old as f64 / n as f64
    );
    println!(
        "bytes path: {:8.0} ns/parse, {:6.1} allocations/parse",
        per(t_new),
        a_new as f64 / n as f64
    );
    println!(
        "ratio Value/bytes: time {:.2}x, allocations {:.1}x",
        t_old / t_new,
        a_old as f64 / (a_new as f64).max(1.0)
    );
}
