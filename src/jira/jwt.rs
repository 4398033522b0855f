//! The webhook token: an HS256 JWT whose claims hold `{"id": "<external_id>"}`,
//! signed with the integration's `webhook_secret`. Minted tokens have no `exp`; a
//! token that carries `exp` or `nbf` must give them as numbers, and is refused
//! outside them (60 s leeway) on every delivery.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("empty token")]
    Empty,
    #[error("token is not a decodable JWT")]
    Undecodable,
    #[error("token algorithm is not HS256")]
    WrongAlgorithm,
    #[error("token claims carry no `id`")]
    MissingId,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token has expired (its `exp` claim is in the past)")]
    Expired,
    #[error("token is not valid yet (its `nbf` claim is in the future)")]
    NotYetValid,
    #[error("token claim `{0}` is not a number")]
    NotANumber(&'static str),
    #[error("cannot sign token: {0}")]
    Sign(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    id: String,
}

/// Mint the webhook token for an integration.
pub fn mint(external_id: &str, webhook_secret: &str) -> Result<String, JwtError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &Claims {
            id: external_id.to_string(),
        },
        &EncodingKey::from_secret(webhook_secret.as_bytes()),
    )
    .map_err(|e| JwtError::Sign(e.to_string()))
}

fn validation() -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v
}

/// Read the `id` claim without verifying the signature (step 1 of the
/// resolution: it names the integration whose secret verifies the token).
/// The header must already say HS256, so `alg: none` never gets further.
pub fn unverified_id(token: &str) -> Result<String, JwtError> {
    if token.is_empty() {
        return Err(JwtError::Empty);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Undecodable)?;
    if header.alg != Algorithm::HS256 {
        return Err(JwtError::WrongAlgorithm);
    }
    let mut v = validation();
    v.insecure_disable_signature_validation();
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &DecodingKey::from_secret(&[]), &v)
        .map_err(|_| JwtError::Undecodable)?;
    match data.claims.get("id") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(JwtError::MissingId),
    }
}

/// Leeway for `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: i64 = 60;

/// The time claims of a verified token: they hold on every delivery, so a
/// token remembered as verified is checked against them again each time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Validity {
    /// `exp`, seconds since the epoch.
    pub exp: Option<f64>,
    /// `nbf`, seconds since the epoch.
    pub nbf: Option<f64>,
}

impl Validity {
    /// Read `exp` and `nbf` from the claims: present ones must be numbers
    /// (`-1` and `1.7e9` are; `"2001-01-01"`, `true` and `null` are not).
    fn of(claims: &serde_json::Value) -> Result<Validity, JwtError> {
        let num = |name: &'static str| match claims.get(name) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or(JwtError::NotANumber(name)),
        };
        Ok(Validity {
            exp: num("exp")?,
            nbf: num("nbf")?,
        })
    }

    /// Do the claims hold at `now` (seconds since the epoch), with
    /// [`LEEWAY_SECS`] of leeway?
    pub fn check(&self, now: i64) -> Result<(), JwtError> {
        let now = now as f64;
        let leeway = LEEWAY_SECS as f64;
        if self.exp.is_some_and(|exp| now > exp + leeway) {
            return Err(JwtError::Expired);
        }
        if self.nbf.is_some_and(|nbf| now + leeway < nbf) {
            return Err(JwtError::NotYetValid);
        }
        Ok(())
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Verify the token's HS256 signature with `secret`. No `exp` is required,
/// but an `exp` or `nbf` that is present must be a number and hold now
/// ([`Validity::check`], 60 s leeway); the returned [`Validity`] lets a
/// caller that remembers the token check them again on later deliveries.
pub fn verify(token: &str, secret: &str) -> Result<Validity, JwtError> {
    verify_at(token, secret, now_secs())
}

/// [`verify`] at a given time (seconds since the epoch).
pub fn verify_at(token: &str, secret: &str, now: i64) -> Result<Validity, JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Undecodable)?;
    if header.alg != Algorithm::HS256 {
        return Err(JwtError::WrongAlgorithm);
    }
    // jsonwebtoken's own exp/nbf checks are off (`validation()`): it skips a
    // claim it cannot read as an unsigned integer, where a non-number must
    // be refused and a negative number honoured.
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation(),
    )
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => JwtError::BadSignature,
        jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => JwtError::WrongAlgorithm,
        _ => JwtError::Undecodable,
    })?;
    let validity = Validity::of(&data.claims)?;
    validity.check(now)?;
    Ok(validity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn round_trip_without_exp() {
        let t = mint("jira.example.org:key", "s3cret").unwrap();
        assert_eq!(unverified_id(&t).unwrap(), "jira.example.org:key");
        verify(&t, "s3cret").unwrap();
        assert_eq!(verify(&t, "other"), Err(JwtError::BadSignature));
    }

    /// An HS256 token with these claims, signed with `s`.
    fn t(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s"),
        )
        .unwrap()
    }

    #[test]
    fn exp_is_optional_but_honoured() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        verify(&t(serde_json::json!({"id": "x", "exp": now + 3600})), "s").unwrap();
        let old = t(serde_json::json!({"id": "x", "exp": now - 3600}));
        assert_eq!(unverified_id(&old).unwrap(), "x");
        assert_eq!(verify(&old, "s"), Err(JwtError::Expired));
        let later = t(serde_json::json!({"id": "x", "nbf": now + 3600}));
        assert_eq!(verify(&later, "s"), Err(JwtError::NotYetValid));
        // 60 s of leeway each way, and a negative number is a number.
        verify(&t(serde_json::json!({"id": "x", "exp": now - 30})), "s").unwrap();
        verify(&t(serde_json::json!({"id": "x", "nbf": now + 30})), "s").unwrap();
        let negative = t(serde_json::json!({"id": "x", "exp": -1}));
        assert_eq!(verify(&negative, "s"), Err(JwtError::Expired));
        let float = t(serde_json::json!({"id": "x", "exp": (now + 3600) as f64 + 0.5}));
        verify(&float, "s").unwrap();
    }

    #[test]
    fn time_claims_that_are_not_numbers_are_refused() {
        for bad in [
            serde_json::json!("2001-01-01"),
            serde_json::json!(true),
            serde_json::json!(null),
            serde_json::json!("1700000000"),
            serde_json::json!({}),
        ] {
            let exp = t(serde_json::json!({"id": "x", "exp": bad.clone()}));
            assert_eq!(verify(&exp, "s"), Err(JwtError::NotANumber("exp")), "{bad}");
            let nbf = t(serde_json::json!({"id": "x", "nbf": bad.clone()}));
            assert_eq!(verify(&nbf, "s"), Err(JwtError::NotANumber("nbf")), "{bad}");
        }
    }

    #[test]
    fn validity_holds_at_each_check_not_only_the_first() {
        let v = Validity {
            exp: Some(1_000.0),
            nbf: Some(500.0),
        };
        assert_eq!(v.check(439), Err(JwtError::NotYetValid));
        assert_eq!(v.check(440), Ok(()));
        assert_eq!(v.check(1_060), Ok(()));
        assert_eq!(v.check(1_061), Err(JwtError::Expired));
        assert_eq!(Validity::default().check(i64::MAX), Ok(()));
    }

    #[test]
    fn rejects_bad_tokens() {
        assert_eq!(unverified_id(""), Err(JwtError::Empty));
        assert_eq!(unverified_id("abc"), Err(JwtError::Undecodable));
        let none = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(r#"{"id":"x"}"#)
        );
        assert!(unverified_id(&none).is_err());
        assert!(verify(&none, "s").is_err());
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &Claims { id: "x".into() },
            &EncodingKey::from_secret(b"s"),
        )
        .unwrap();
        assert_eq!(unverified_id(&hs512), Err(JwtError::WrongAlgorithm));
        assert_eq!(verify(&hs512, "s"), Err(JwtError::WrongAlgorithm));
        let no_id = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "x"}),
            &EncodingKey::from_secret(b"s"),
        )
        .unwrap();
        assert_eq!(unverified_id(&no_id), Err(JwtError::MissingId));
    }
}
