//! Signed-token verification shared by the dashboard's sign-in (ID tokens) and
//! the API's person assertions ([`crate::assertion`]).
//!
//! Input: a compact JWS and either a key from the identity provider's JWKS or a
//! PEM public key a client registered. Output: the verified claims as a JSON map.
//! Failure: a [`JwtError`] saying why (algorithm, signature, audience, issuer,
//! expiry); never the token itself. Only asymmetric algorithms are accepted:
//! `none` and HMAC (keyed with a shared secret) are refused.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::Value;

/// Asymmetric algorithms only.
pub const ALLOWED: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 60;

pub type Claims = serde_json::Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("{0}")]
    Invalid(String),
    #[error("signed by a key the issuer does not publish")]
    UnknownKey,
}

/// The header, if its algorithm is an accepted one.
pub fn header(token: &str) -> Result<Header, JwtError> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| JwtError::Invalid(e.to_string()))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(JwtError::Invalid(format!(
            "algorithm {:?} is not accepted",
            header.alg
        )));
    }
    Ok(header)
}

/// The claims of `token` WITHOUT checking anything: only to choose the key (by
/// `iss`) before the real verification.
pub fn unverified_claims(token: &str) -> Result<Claims, JwtError> {
    use base64::Engine;
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| JwtError::Invalid("not a compact JWS".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| JwtError::Invalid("the payload is not base64url".into()))?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Invalid("the payload is not JSON".into()))
}

/// The key of `header` in `set` (by `kid`, else the first key).
pub fn find_key(set: &JwkSet, header: &Header) -> Option<Jwk> {
    match &header.kid {
        Some(kid) => set.find(kid).cloned(),
        None => set.keys.first().cloned(),
    }
}

fn validation(alg: Algorithm, audiences: &[&str], issuer: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_audience(audiences);
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = LEEWAY_SECS;
    v
}

/// Verifies `token` with `jwk`: signature, `aud` one of `audiences`, `iss`,
/// unexpired, with `exp`, `iat` and `sub` present.
pub fn verify_with_jwk(
    token: &str,
    header: &Header,
    jwk: &Jwk,
    audiences: &[&str],
    issuer: &str,
) -> Result<Claims, JwtError> {
    let key = DecodingKey::from_jwk(jwk).map_err(|e| JwtError::Invalid(e.to_string()))?;
    jsonwebtoken::decode::<Claims>(token, &key, &validation(header.alg, audiences, issuer))
        .map(|d| d.claims)
        .map_err(|e| JwtError::Invalid(e.to_string()))
}

/// Verifies `token` with a PEM public key (RSA, EC or Ed25519, by the header's
/// algorithm), as [`verify_with_jwk`] does.
pub fn verify_with_pem(
    token: &str,
    header: &Header,
    pem: &str,
    audiences: &[&str],
    issuer: &str,
) -> Result<Claims, JwtError> {
    let key = match header.alg {
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem.as_bytes()),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
        _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .map_err(|e| JwtError::Invalid(format!("the registered key cannot be read: {e}")))?;
    jsonwebtoken::decode::<Claims>(token, &key, &validation(header.alg, audiences, issuer))
        .map(|d| d.claims)
        .map_err(|e| JwtError::Invalid(e.to_string()))
}

/// Whether `pem` is a public key this module can verify with (checked when a
/// client registers it).
pub fn check_public_key_pem(pem: &str) -> Result<(), JwtError> {
    let b = pem.as_bytes();
    if pem.contains("PRIVATE KEY") {
        return Err(JwtError::Invalid(
            "this is a private key; register the public key".into(),
        ));
    }
    if DecodingKey::from_rsa_pem(b).is_ok()
        || DecodingKey::from_ec_pem(b).is_ok()
        || DecodingKey::from_ed_pem(b).is_ok()
    {
        Ok(())
    } else {
        Err(JwtError::Invalid(
            "not a PEM public key (RSA, EC P-256/P-384 or Ed25519)".into(),
        ))
    }
}
