//! The webhook token: an HS256 JWT whose claims hold `{"id": "<external_id>"}`,
//! signed with the integration's `webhook_secret`. Minted tokens have no `exp`; a
//! token that carries one is refused once it has passed.

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

/// Verify the token's HS256 signature with `secret`. No `exp` is required,
/// but one that is present is honoured (as the reference system's PyJWT
/// does): an expired token, or one whose `nbf` lies ahead, is refused
/// (60 s leeway).
pub fn verify(token: &str, secret: &str) -> Result<(), JwtError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Undecodable)?;
    if header.alg != Algorithm::HS256 {
        return Err(JwtError::WrongAlgorithm);
    }
    let mut v = validation();
    v.validate_exp = true;
    v.validate_nbf = true;
    jsonwebtoken::decode::<serde_json::Value>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &v,
    )
    .map(|_| ())
    .map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => JwtError::BadSignature,
        jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => JwtError::WrongAlgorithm,
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => JwtError::Expired,
        jsonwebtoken::errors::ErrorKind::ImmatureSignature => JwtError::NotYetValid,
        _ => JwtError::Undecodable,
    })
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

    #[test]
    fn exp_is_optional_but_honoured() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let t = |claims: serde_json::Value| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(b"s"),
            )
            .unwrap()
        };
        verify(&t(serde_json::json!({"id": "x", "exp": now + 3600})), "s").unwrap();
        let old = t(serde_json::json!({"id": "x", "exp": now - 3600}));
        assert_eq!(unverified_id(&old).unwrap(), "x");
        assert_eq!(verify(&old, "s"), Err(JwtError::Expired));
        let later = t(serde_json::json!({"id": "x", "nbf": now + 3600}));
        assert_eq!(verify(&later, "s"), Err(JwtError::NotYetValid));
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
