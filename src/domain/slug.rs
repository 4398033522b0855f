//! Project slug rules (SPEC section 7), as pure functions.
//!
//! The random source and the "is this slug taken in the organization?"
//! question are injected, so every rule is unit-tested without a store.

use rand::Rng;

/// Longest slug, in characters (all slugs are ASCII, so also bytes).
pub const MAX_LEN: usize = 50;

/// Length of the random slug used when the name gives nothing usable.
pub const RANDOM_LEN: usize = 12;

/// Words that cannot be project slugs (they collide with UI routes).
pub const RESERVED: &[&str] = &[
    "$all",
    "api-keys",
    "audit-log",
    "auth",
    "members",
    "projects",
    "rate-limits",
    "repos",
    "settings",
    "teams",
    "billing",
    "payments",
    "legal",
    "subscription",
    "support",
    "integrations",
    "developer-settings",
    "usage",
];

/// Suffix schedule for a taken (or digits-only) slug: `(tries, length)`.
/// At most 27 candidates are tried in all.
pub const SUFFIXES: &[(usize, usize)] = &[(1, 2), (5, 3), (20, 5), (1, 12)];

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

pub fn is_reserved(slug: &str) -> bool {
    RESERVED.contains(&slug)
}

/// True when the slug is made only of ASCII digits (and is not empty).
pub fn is_all_digits(slug: &str) -> bool {
    !slug.is_empty() && slug.bytes().all(|b| b.is_ascii_digit())
}

/// `n` random characters of `[a-z0-9]`.
pub fn random_string<R: Rng + ?Sized>(rng: &mut R, n: usize) -> String {
    (0..n)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Derive the base slug from a name: transliterate to ASCII (characters
/// without a transliteration are dropped), lowercase, keep `[a-z0-9_]`, turn
/// each run of anything else into one `-`, trim `-` and `_` from both ends,
/// cut to [`MAX_LEN`] (and trim again, so a cut never leaves a trailing `-`).
/// The result may be empty.
pub fn slugify(name: &str) -> String {
    let ascii = deunicode::deunicode_with_tofu(name, "");
    let mut out = String::with_capacity(ascii.len());
    let mut pending_dash = false;
    for c in ascii.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c);
        } else {
            pending_dash = true;
        }
    }
    let trimmed = out.trim_matches(|c| c == '-' || c == '_');
    let cut = &trimmed[..trimmed.len().min(MAX_LEN)];
    cut.trim_matches(|c| c == '-' || c == '_').to_string()
}

/// Why an explicit slug was refused (400).
pub fn validate_explicit(slug: &str) -> Result<(), String> {
    if slug.is_empty() {
        return Err("`slug` must not be empty".into());
    }
    if slug.len() > MAX_LEN {
        return Err(format!("`slug` must be at most {MAX_LEN} characters"));
    }
    if !slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err("`slug` may hold only a-z, 0-9, `-` and `_` (lowercase)".into());
    }
    if is_all_digits(slug) {
        return Err("`slug` must not be made only of digits".into());
    }
    if is_reserved(slug) {
        return Err(format!("`slug` `{slug}` is a reserved word"));
    }
    Ok(())
}

/// Generate a slug for a project named `name`.
///
/// `taken(slug)` answers whether the slug is already used in the organization
/// (case-insensitively). Returns `Ok(None)` when every candidate of the
/// suffix schedule was taken (the caller answers 409).
pub fn generate<R, E>(
    name: &str,
    rng: &mut R,
    mut taken: impl FnMut(&str) -> Result<bool, E>,
) -> Result<Option<String>, E>
where
    R: Rng + ?Sized,
{
    let mut base = slugify(name);
    if base.is_empty() || is_reserved(&base) {
        base = loop {
            let s = random_string(rng, RANDOM_LEN);
            if !is_reserved(&s) {
                break s;
            }
        };
    }
    if !is_all_digits(&base) && !taken(&base)? {
        return Ok(Some(base));
    }
    for &(tries, len) in SUFFIXES {
        for _ in 0..tries {
            let keep = base.len().min(MAX_LEN - len - 1);
            let candidate = format!("{}-{}", &base[..keep], random_string(rng, len));
            // A reserved word can only come out of this by chance
            // (`audit` + `-log`): treat it as taken.
            if !is_reserved(&candidate) && !taken(&candidate)? {
                return Ok(Some(candidate));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::HashSet;
    use std::convert::Infallible;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    fn never(_: &str) -> Result<bool, Infallible> {
        Ok(false)
    }

    fn gen(name: &str) -> String {
        generate(name, &mut rng(), never).unwrap().unwrap()
    }

    fn is_slug_chars(s: &str) -> bool {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    }

    #[test]
    fn spec_examples() {
        assert_eq!(slugify("f o o"), "f-o-o");
        assert_eq!(slugify("_foo_"), "foo");
    }

    #[test]
    fn lowercases_and_collapses_runs() {
        assert_eq!(slugify("My Cool  Project"), "my-cool-project");
        assert_eq!(slugify("a -- b !! c"), "a-b-c");
        assert_eq!(slugify("Backend.API/v2"), "backend-api-v2");
        assert_eq!(slugify("--x--"), "x");
        assert_eq!(slugify("snake_case_name"), "snake_case_name");
        assert_eq!(slugify("__-_a_-__"), "a");
    }

    #[test]
    fn transliterates_or_drops_non_ascii() {
        assert_eq!(slugify("Café Crème"), "cafe-creme");
        assert_eq!(slugify("Ärger Über"), "arger-uber");
        assert_eq!(slugify("Łódź"), "lodz");
        // Characters without a transliteration are dropped, not replaced by a marker.
        let s = slugify("a\u{E000}b");
        assert!(is_slug_chars(&s) && !s.is_empty(), "{s}");
        assert!(is_slug_chars(&slugify("日本語 プロジェクト")));
    }

    #[test]
    fn cut_to_fifty_and_trimmed_after_the_cut() {
        let long = "a".repeat(80);
        assert_eq!(slugify(&long), "a".repeat(50));
        let edge = format!("{} bcd", "a".repeat(49));
        assert_eq!(slugify(&edge), "a".repeat(49));
        assert!(slugify(&"Ünïcødé ".repeat(20)).len() <= MAX_LEN);
    }

    #[test]
    fn empty_result_falls_back_to_random_12() {
        for name in ["", "   ", "!!!", "---", "___"] {
            let s = gen(name);
            assert_eq!(s.len(), RANDOM_LEN, "{name:?} -> {s}");
            assert!(is_slug_chars(&s));
        }
    }

    #[test]
    fn reserved_words_fall_back_to_random_12() {
        for w in RESERVED {
            let s = gen(w);
            assert_ne!(&s, w);
            assert!(!is_reserved(&s));
            if *w != "$all" {
                assert_eq!(s.len(), RANDOM_LEN, "{w} -> {s}");
            }
        }
        // `$all` slugifies to `all`, which is not reserved.
        assert_eq!(gen("$all"), "all");
        assert_eq!(gen("Settings").len(), RANDOM_LEN);
        assert_eq!(gen(" API keys ").len(), RANDOM_LEN);
    }

    #[test]
    fn free_slug_is_used_as_is() {
        assert_eq!(gen("Backend"), "backend");
    }

    #[test]
    fn digits_only_gets_a_suffix_even_when_free() {
        let s = gen("12345");
        assert!(s.starts_with("12345-"), "{s}");
        assert_eq!(s.len(), "12345-".len() + 2);
        assert!(!is_all_digits(&s));
    }

    #[test]
    fn taken_slug_gets_two_char_suffix_then_longer() {
        // Taken set: the base and every 2- and 3-character candidate.
        let mut asked = Vec::new();
        let s = generate("Backend", &mut rng(), |c: &str| {
            asked.push(c.to_string());
            Ok::<_, Infallible>(c == "backend" || c.len() <= "backend-".len() + 3)
        })
        .unwrap()
        .unwrap();
        assert_eq!(s.len(), "backend-".len() + 5, "{s}");
        // base, 1 try of length 2, 5 of length 3, then the first 5 succeeds.
        assert_eq!(asked.len(), 1 + 1 + 5 + 1, "{asked:?}");
        assert_eq!(asked[1].len(), "backend-".len() + 2);
        for a in &asked[2..7] {
            assert_eq!(a.len(), "backend-".len() + 3);
        }
        assert!(s.starts_with("backend-"));
    }

    #[test]
    fn suffix_schedule_is_1_5_20_1_then_gives_up() {
        let mut lens = Vec::new();
        let r = generate("Backend", &mut rng(), |c: &str| {
            lens.push(c.len());
            Ok::<_, Infallible>(true)
        })
        .unwrap();
        assert_eq!(r, None);
        let b = "backend-".len();
        let mut want = vec![b - 1];
        want.extend(std::iter::repeat_n(b + 2, 1));
        want.extend(std::iter::repeat_n(b + 3, 5));
        want.extend(std::iter::repeat_n(b + 5, 20));
        want.extend(std::iter::repeat_n(b + 12, 1));
        assert_eq!(lens, want);
    }

    #[test]
    fn last_twelve_char_suffix_is_used_when_free() {
        let mut n = 0;
        let s = generate("x", &mut rng(), |_: &str| {
            n += 1;
            Ok::<_, Infallible>(n <= 27)
        })
        .unwrap()
        .unwrap();
        assert_eq!(s.len(), "x-".len() + 12, "{s}");
    }

    #[test]
    fn suffix_cuts_the_base_to_stay_within_fifty() {
        let name = "b".repeat(50);
        let mut seen = Vec::new();
        let _ = generate(&name, &mut rng(), |c: &str| {
            seen.push(c.to_string());
            Ok::<_, Infallible>(true)
        });
        for c in &seen {
            assert!(c.len() <= MAX_LEN, "{c}");
        }
        assert_eq!(seen[1], format!("{}-{}", "b".repeat(47), &seen[1][48..]));
        assert_eq!(seen.last().unwrap().len(), MAX_LEN);
        assert!(seen.last().unwrap().starts_with(&"b".repeat(37)));
    }

    #[test]
    fn taken_check_errors_propagate() {
        let r = generate("x", &mut rng(), |_: &str| Err::<bool, _>("db down"));
        assert_eq!(r, Err("db down"));
    }

    #[test]
    fn suffixes_are_lowercase_alphanumeric_and_vary() {
        let mut r = rng();
        let set: HashSet<String> = (0..200).map(|_| random_string(&mut r, 5)).collect();
        assert!(set.len() > 190);
        assert!(set.iter().all(|s| s.len() == 5
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())));
    }

    #[test]
    fn explicit_slug_validation() {
        for ok in ["backend", "a", "my_proj-2", "0a", &"z".repeat(50)] {
            assert!(validate_explicit(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Backend",
            "has space",
            "ünï",
            "a.b",
            "123",
            "0",
            "settings",
            "api-keys",
            "$all",
            &"z".repeat(51),
        ] {
            assert!(validate_explicit(bad).is_err(), "{bad:?}");
        }
    }
}
