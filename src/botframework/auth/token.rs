//! From the `Authorization` header to verified claims (reference §1.2, "Implications" 1).
//!
//! Trust levels are types: an [`UnverifiedToken`] comes out of the header, and only
//! [`TokenValidator::verify`] turns it into [`VerifiedClaims`].

use std::collections::HashSet;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde::Deserialize;
use url::Url;

use super::AuthError;
use super::jwks::{JwksCache, KeyError, SigningKey};
use crate::clock::Clock;

/// The issuer of Bot Framework channel tokens (reference §1.1).
pub const BOT_FRAMEWORK_ISSUER: &str = "https://api.botframework.com";
/// Allowed clock skew for `exp` and `nbf`, in seconds (reference §1.2 step 4).
pub const CLOCK_SKEW_SECS: i64 = 300;

/// The raw JWT from an `Authorization: Bearer …` header, not yet checked in any way.
pub struct UnverifiedToken(String);

impl UnverifiedToken {
    /// Splits the header on a single space into exactly `Bearer` and a token.
    pub fn from_header(header: &[u8]) -> Result<Self, AuthError> {
        let header =
            std::str::from_utf8(header).map_err(|_| AuthError::InvalidAuthorizationHeader)?;
        let mut parts = header.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("Bearer"), Some(token), None) if !token.is_empty() => {
                Ok(UnverifiedToken(token.to_owned()))
            }
            _ => Err(AuthError::InvalidAuthorizationHeader),
        }
    }
}

/// Claims of a token whose signature, issuer, audience and lifetime have been verified.
#[derive(Debug, Clone)]
pub struct VerifiedClaims {
    /// The audience (our app id).
    pub app_id: String,
    /// The `serviceurl` claim, if the token has one.
    pub service_url: Option<String>,
    pub(super) key: Arc<SigningKey>,
}

#[derive(Deserialize)]
struct UnverifiedIssuer {
    iss: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    exp: Option<f64>,
    nbf: Option<f64>,
    serviceurl: Option<String>,
}

/// Verifies Bot Framework channel tokens for one app id.
pub struct TokenValidator {
    app_id: String,
    metadata_url: Url,
    issuers: HashSet<String>,
    keys: Arc<JwksCache>,
    clock: Arc<dyn Clock>,
    validation: Validation,
}

impl TokenValidator {
    pub fn new(
        app_id: String,
        metadata_url: Url,
        keys: Arc<JwksCache>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[BOT_FRAMEWORK_ISSUER]);
        validation.set_audience(&[app_id.as_str()]);
        // Lifetime is checked against the injected clock below, with the 5-minute skew.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["iss", "aud", "exp"]);
        TokenValidator {
            issuers: HashSet::from([BOT_FRAMEWORK_ISSUER.to_owned()]),
            app_id,
            metadata_url,
            keys,
            clock,
            validation,
        }
    }

    pub async fn verify(
        &self,
        unverified_jwt: UnverifiedToken,
    ) -> Result<VerifiedClaims, AuthError> {
        let token = unverified_jwt.0.as_str();
        let header = decode_header(token).map_err(|_| AuthError::MalformedToken)?;
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        // Issuer pre-check before any key lookup: a token from anyone else must not be able
        // to make us fetch keys.
        let issuer = unverified_issuer(token)?;
        if !self.issuers.contains(&issuer) {
            return Err(AuthError::UntrustedIssuer);
        }
        let kid = header.kid.ok_or(AuthError::UnknownSigningKey)?;
        let key = self
            .keys
            .key(&self.metadata_url, &kid)
            .await
            .map_err(|e| match e {
                KeyError::UnknownKey => AuthError::UnknownSigningKey,
                KeyError::Unavailable(reason) => AuthError::KeysUnavailable(reason),
            })?;
        let claims = decode::<Claims>(token, &key.decoding_key, &self.validation)
            .map_err(|e| jwt_error(&e))?
            .claims;

        let now = self.clock.now().timestamp();
        let exp = claims.exp.ok_or(AuthError::MissingClaim("exp"))?;
        if (exp as i64) + CLOCK_SKEW_SECS < now {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = claims.nbf
            && (nbf as i64) - CLOCK_SKEW_SECS > now
        {
            return Err(AuthError::NotYetValid);
        }
        Ok(VerifiedClaims {
            app_id: self.app_id.clone(),
            service_url: claims.serviceurl,
            key,
        })
    }
}

fn unverified_issuer(token: &str) -> Result<String, AuthError> {
    let payload = token.split('.').nth(1).ok_or(AuthError::MalformedToken)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| AuthError::MalformedToken)?;
    let claims: UnverifiedIssuer =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::MalformedToken)?;
    claims.iss.ok_or(AuthError::UntrustedIssuer)
}

fn jwt_error(error: &jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidSignature => AuthError::InvalidSignature,
        ErrorKind::InvalidAudience => AuthError::InvalidAudience,
        ErrorKind::InvalidIssuer => AuthError::UntrustedIssuer,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(match claim.as_str() {
            "aud" => "aud",
            "iss" => "iss",
            _ => "exp",
        }),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            AuthError::UnsupportedAlgorithm
        }
        _ => AuthError::MalformedToken,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_exact_bearer_header_yields_a_token() {
        assert!(UnverifiedToken::from_header(b"Bearer abc").is_ok());
        for bad in [
            &b""[..],
            b"Bearer",
            b"Bearer ",
            b"bearer abc",
            b"Basic abc",
            b"Bearer  abc",
            b"Bearer abc def",
            b"Bearer\tabc",
            b"\xff\xfe",
        ] {
            assert!(UnverifiedToken::from_header(bad).is_err(), "{bad:?}");
        }
    }
}
