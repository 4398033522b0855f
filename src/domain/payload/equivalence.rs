//! `parse_bytes` / `facts_bytes` against the `Value` reference on the Jira
//! fixtures and a few thousand bodies mutated from them by a small
//! deterministic generator: fields removed or replaced by values of every JSON
//! type, escaped strings and keys, duplicate keys, huge strings, deep nesting,
//! odd numbers, invalid UTF-8, truncated and non-JSON bodies.

use super::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// splitmix64: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `n` in 100.
    fn percent(&mut self, n: u64) -> bool {
        self.next() % 100 < n
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// A string value starting with this is written as the raw text after it
/// (JSON a `Value` cannot hold: `1e400`, `-0`, lone surrogates, bad syntax).
const RAW: &str = "\u{0}raw:";
/// A string value equal to this is written as a string holding a byte that is not UTF-8.
const NOT_UTF8: &str = "\u{0}not-utf8";

fn raw(text: &str) -> Value {
    Value::String(format!("{RAW}{text}"))
}

/// Replacement values: every JSON type, edge cases of each rule, and some
/// text that is not JSON (or that a `Value` refuses).
fn pool(rng: &mut Rng) -> Value {
    let i = rng.below(POOL);
    pool_at(i, rng)
}

/// Like [`pool`], but only values that keep the body JSON.
fn pool_json(rng: &mut Rng) -> Value {
    loop {
        let i = rng.below(POOL);
        if !NOT_JSON.contains(&i) {
            return pool_at(i, rng);
        }
    }
}

const POOL: usize = 69;
const NOT_JSON: &[usize] = &[48, 51, 53, 54, 55, 56, 57, 58, 59];

fn pool_at(i: usize, rng: &mut Rng) -> Value {
    let nested = |n: usize| raw(&format!("{}{}", "[".repeat(n), "]".repeat(n)));
    match i {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(false),
        3 => json!(0),
        4 => json!(-1),
        5 => json!(12345),
        6 => json!(1.5),
        7 => json!(12345.0),
        8 => json!(u64::MAX),
        9 => json!(i64::MIN),
        10 => json!(i64::MAX),
        11 => json!(""),
        12 => json!(" "),
        13 => json!(" \t\n"),
        14 => json!("assignee"),
        15 => json!("status"),
        16 => json!("APP-1"),
        17 => json!("a@b.org"),
        18 => json!(" x@y.org "),
        19 => json!("K".repeat(255)),
        20 => json!("K".repeat(256)),
        21 if rng.percent(20) => json!("K".repeat(70_000)),
        21 => json!("9".repeat(256)),
        22 => json!(format!("{}@b.org", "e".repeat(316))),
        23 => json!(format!(" {}@b.org ", "e".repeat(315))),
        24 => json!("APP 1"),
        25 => json!("APP/1"),
        26 => json!("APP-1\n"),
        27 => json!("APP\u{0}1"),
        28 => json!("1764344651000"),
        29 => json!(" 42 "),
        30 => json!("soon"),
        31 => json!("Zoë\u{1F600}"),
        32 => json!([]),
        33 => json!([1]),
        34 => json!([{}]),
        35 => json!([{"field": "assignee"}]),
        36 => json!(["assignee"]),
        37 => json!([{"field": "assignee"}, 3]),
        38 => json!({}),
        39 => json!({"emailAddress": "a@b.org"}),
        40 => json!({"emailAddress": " "}),
        41 => json!({"field": "assignee"}),
        42 => json!({"id": 1}),
        43 => json!({"id": "7", "items": [{"field": "assignee"}]}),
        44 => json!({"items": []}),
        45 => json!({"key": "A-1"}),
        46 => json!({"key": "A-1", "fields": {"assignee": null}}),
        47 => json!({"assignee": {"emailAddress": "c@d.org"}}),
        48 => raw("1e400"),
        49 => raw("-0"),
        50 => raw("1E2"),
        51 => raw("\"\\ud800\""),
        52 => raw("\"\\u00e9\\ud83d\\ude00\""),
        53 => nested(126 + rng.below(4)),
        54 => raw("01"),
        55 => raw("1."),
        56 => raw("tru"),
        57 => raw("\"a\\x\""),
        58 => raw("\"\u{1}\""),
        59 => Value::String(NOT_UTF8.into()),
        60 => raw("-12.5e-1"),
        61 => json!([{"field": "Исполнитель", "fieldId": "assignee"}]),
        62 => json!([{"field": "status", "from": "3", "to": 10001}]),
        63 => json!({"statusCategory": {"key": "done"}, "id": "10001"}),
        65 => json!("Key"),
        66 => json!([{"field": "Key", "fromString": "APP-1", "toString": "OPS-7"}]),
        67 => json!({"field": "Key", "from": "app-2", "fromString": "", "toString": "APP-2"}),
        68 => json!("OPS-12"),
        _ => raw("9007199254740993"),
    }
}

/// Where mutations land: the fields the rules read, and some they skip.
const PATHS: &[&[&str]] = &[
    &[],
    &["issue"],
    &["issue", "key"],
    &["issue", "fields"],
    &["issue", "fields", "assignee"],
    &["issue", "fields", "assignee", "emailAddress"],
    &["timestamp"],
    &["changelog"],
    &["changelog", "id"],
    &["changelog", "items"],
    &["changelog", "items", "0"],
    &["changelog", "items", "1"],
    &["changelog", "items", "0", "field"],
    &["changelog", "items", "1", "field"],
    &["changelog", "items", "0", "fieldId"],
    &["changelog", "items", "0", "from"],
    &["changelog", "items", "1", "to"],
    &["changelog", "items", "0", "fromString"],
    &["changelog", "items", "1", "toString"],
    &["issue", "fields", "status", "statusCategory", "key"],
    &["user"],
    &["issue", "id"],
    &["issue", "fields", "status"],
];

/// Replace (`Some`) or remove (`None`) the value at `path`, when its parent exists.
fn mutate(v: &mut Value, path: &[&str], new: Option<Value>) {
    let Some((last, parent)) = path.split_last() else {
        *v = new.unwrap_or(Value::Null);
        return;
    };
    let mut at = v;
    for seg in parent {
        at = match at {
            Value::Object(m) => match m.get_mut(*seg) {
                Some(x) => x,
                None => return,
            },
            Value::Array(a) => match seg.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(x) => x,
                None => return,
            },
            _ => return,
        };
    }
    match (at, new) {
        (Value::Object(m), Some(new)) => {
            m.insert(last.to_string(), new);
        }
        (Value::Object(m), None) => {
            m.remove(*last);
        }
        (Value::Array(a), new) => {
            let Ok(i) = last.parse::<usize>() else {
                return;
            };
            match new {
                Some(new) if i < a.len() => a[i] = new,
                Some(new) => a.push(new),
                None if i < a.len() => drop(a.remove(i)),
                None => {}
            }
        }
        _ => {}
    }
}

/// JSON text of `v`, with random `\u` escapes, whitespace and duplicate keys.
fn write(v: &Value, out: &mut Vec<u8>, rng: &mut Rng, escapes: u64) {
    if rng.percent(5) {
        out.extend_from_slice(b" \n\t");
    }
    match v {
        Value::String(s) if s == NOT_UTF8 => out.extend_from_slice(b"\"a\xffb\""),
        Value::String(s) if s.starts_with(RAW) => out.extend_from_slice(&s.as_bytes()[RAW.len()..]),
        Value::String(s) => write_str(s, out, rng, escapes),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(x, out, rng, escapes);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            let mut first = true;
            let mut entry = |k: &str, x: &Value, out: &mut Vec<u8>, rng: &mut Rng| {
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                write_str(k, out, rng, escapes);
                out.push(b':');
                write(x, out, rng, escapes);
            };
            for (k, x) in m {
                // A duplicate before (the real one wins) or after (it wins).
                let dup = rng.percent(4).then(|| (rng.percent(50), pool_json(rng)));
                if let Some((true, d)) = &dup {
                    entry(k, d, out, rng);
                }
                entry(k, x, out, rng);
                if let Some((false, d)) = &dup {
                    entry(k, d, out, rng);
                }
            }
            out.push(b'}');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_str(s: &str, out: &mut Vec<u8>, rng: &mut Rng, escapes: u64) {
    out.push(b'"');
    for c in s.chars() {
        if c == '"' || c == '\\' || c.is_control() || rng.percent(escapes) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.extend_from_slice(format!("\\u{u:04x}").as_bytes());
            }
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out.push(b'"');
}

/// One mutated body from a fixture.
fn generate(base: &Value, rng: &mut Rng) -> Vec<u8> {
    let mut v = base.clone();
    for _ in 0..1 + rng.below(3) {
        let path = *rng.pick(PATHS);
        let new = match rng.below(20) {
            0..=2 => None,
            3..=4 => Some(pool(rng)),
            _ => Some(pool_json(rng)),
        };
        if path.is_empty() && rng.percent(80) {
            continue; // keep the whole body most of the time
        }
        mutate(&mut v, path, new);
    }
    let escapes = *rng.pick(&[0, 0, 0, 5, 30]);
    let mut out = Vec::new();
    write(&v, &mut out, rng, escapes);
    match rng.below(40) {
        0 => out.truncate(rng.below(out.len() + 1)),
        1 => out.extend_from_slice(b" x"),
        2 => out.extend_from_slice(b" \n"),
        3 => out = b"not json".to_vec(),
        _ => {}
    }
    out
}

type Outcome = (Result<Payload, String>, Facts);

/// What the daemon did before: decode a `Value`, then walk it.
fn old(body: &[u8]) -> Outcome {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => (reference::parse(&v).map_err(|e| e.0), reference::facts(&v)),
        Err(e) => (Err(format!("the body is not JSON: {e}")), Facts::default()),
    }
}

fn new(body: &[u8]) -> Outcome {
    (
        parse_bytes(body).map_err(|e| e.to_string()),
        facts_bytes(body),
    )
}

/// A coarse name for an outcome, to check the generator reaches every rule.
fn class(o: &Outcome) -> String {
    match &o.0 {
        Ok(p) => format!("{:?}", p.action)
            .split('(')
            .next()
            .unwrap()
            .to_string(),
        Err(e) if e.starts_with("the body is not JSON") => "not JSON".into(),
        Err(e) => e
            .split(|c: char| c.is_ascii_digit())
            .next()
            .unwrap()
            .to_string(),
    }
}

#[test]
fn bytes_parser_matches_the_value_reference() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jira");
    let mut fixtures: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 6, "{fixtures:?}");
    let mut rng = Rng(0x5eed_1234);
    let mut classes = BTreeMap::<String, usize>::new();
    let mut cases = 0;
    for path in &fixtures {
        let text = std::fs::read(path).unwrap();
        let base: Value = serde_json::from_slice(&text).unwrap();
        let bodies = std::iter::once(text.clone())
            .chain((0..800).map(|_| generate(&base, &mut rng)))
            .chain([b"[]".to_vec(), b"{}".to_vec(), Vec::new()]);
        for body in bodies {
            let want = old(&body);
            let got = new(&body);
            assert_eq!(
                got,
                want,
                "{} on {}",
                path.display(),
                String::from_utf8_lossy(&body[..body.len().min(3000)])
            );
            *classes.entry(class(&want)).or_default() += 1;
            cases += 1;
        }
    }
    eprintln!("{cases} bodies; outcomes: {classes:#?}");
    // The generator reaches every verdict and every refusal.
    let expected = [
        "Assign",
        "Unassign",
        "MissingAssigneeEmail",
        "NotAnAssigneeChange",
        "MissingChangelog",
        "not JSON",
        "the delivery must be a JSON object",
        "`issue.key` must be a string",
        "`issue.key` must be ",
        "`issue.key` must not hold whitespace, control characters or `/`",
        "an assignee change needs `issue.key`, and the delivery has none",
        "a status change needs `issue.key`, and the delivery has none",
        "`issue` must be an object",
        "`issue.fields` must be an object",
        "`changelog` must be an object",
        "`changelog.id` is longer than ",
        "`changelog.id` must be a string or a number",
        "`changelog.items` is missing",
        "`changelog.items` must be an array",
        "`changelog.items[",
        "`issue.fields.assignee.emailAddress` is longer than ",
        "`issue.fields.assignee` must be an object or null",
    ];
    for e in expected {
        assert!(classes.contains_key(e), "never produced: {e}; {classes:#?}");
    }
    assert!(cases > 4000, "{cases}");
}
