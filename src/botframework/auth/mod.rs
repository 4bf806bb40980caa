//! Inbound authentication of `POST /api/messages` (reference §1, "Implications" 1–2).
//!
//! The order of checks: body size → `Authorization` header → token (issuer, key, RS256
//! signature, audience, lifetime) → activity JSON → key endorsement for the activity's channel →
//! `serviceurl` claim equals the activity's serviceUrl → tenant policy. Every authentication
//! failure is a 401, a refused tenant a 403; nothing here can produce a 500.
//!
//! The only way to obtain a [`VerifiedActivity`] is [`InboundAuth::accept`], which takes a
//! [`CheckedCaller`] that only [`InboundAuth::verify_caller`] makes; the axum extractor in
//! [`extract`] calls both, so a handler taking a `VerifiedActivity` cannot run unverified.

pub mod extract;
pub mod jwks;
pub mod token;

use std::sync::Arc;

use crate::config::{AppType, BotAuth, BotSettings};

use super::activity::{Activity, InboundActivity, InvalidActivity};
use token::{TokenValidator, UnverifiedToken, VerifiedClaims};

/// Why a request was not authenticated. Messages are safe to return to the caller: they name
/// the failed check, never a key, token or claim value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    #[error("the Authorization header is missing")]
    MissingAuthorization,
    #[error("the Authorization header must be 'Bearer <token>'")]
    InvalidAuthorizationHeader,
    #[error("the bearer token is not a well-formed JWT")]
    MalformedToken,
    #[error("the token's algorithm is not allowed (RS256 only)")]
    UnsupportedAlgorithm,
    #[error("the token's issuer is not trusted")]
    UntrustedIssuer,
    #[error("the token's signing key is not known")]
    UnknownSigningKey,
    #[error("signing keys are unavailable")]
    KeysUnavailable(String),
    #[error("the token's signature is invalid")]
    InvalidSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's audience is not this bot")]
    InvalidAudience,
    #[error("the token has no '{0}' claim")]
    MissingClaim(&'static str),
    #[error("the signing key is not endorsed for the activity's channel")]
    ChannelNotEndorsed,
    #[error("the token's serviceurl claim does not match the activity's serviceUrl")]
    ServiceUrlMismatch,
}

impl AuthError {
    /// Stable machine-readable code for the problem+json body.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingAuthorization => "missing_authorization",
            AuthError::InvalidAuthorizationHeader => "invalid_authorization_header",
            AuthError::MalformedToken => "malformed_token",
            AuthError::UnsupportedAlgorithm => "unsupported_algorithm",
            AuthError::UntrustedIssuer => "untrusted_issuer",
            AuthError::UnknownSigningKey => "unknown_signing_key",
            AuthError::KeysUnavailable(_) => "signing_keys_unavailable",
            AuthError::InvalidSignature => "invalid_signature",
            AuthError::Expired => "token_expired",
            AuthError::NotYetValid => "token_not_yet_valid",
            AuthError::InvalidAudience => "invalid_audience",
            AuthError::MissingClaim(_) => "missing_claim",
            AuthError::ChannelNotEndorsed => "channel_not_endorsed",
            AuthError::ServiceUrlMismatch => "service_url_mismatch",
        }
    }
}

/// Why an authenticated request is still refused or unusable.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("could not read the request body")]
    BodyUnreadable,
    #[error(transparent)]
    Unauthorized(#[from] AuthError),
    #[error(transparent)]
    InvalidActivity(#[from] InvalidActivity),
    #[error("tenant is not allowed to use this bot")]
    TenantRefused,
}

/// Who sent a verified activity.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Anonymous dev mode: nobody was verified.
    Anonymous,
    /// The Bot Framework, with the verified claims of its token.
    BotFramework(VerifiedClaims),
}

/// An activity that passed every inbound check. Fields are private: see the module docs.
#[derive(Debug, Clone)]
pub struct VerifiedActivity {
    inbound: InboundActivity,
    caller: Caller,
}

impl VerifiedActivity {
    pub fn activity(&self) -> &Activity {
        &self.inbound.activity
    }
    pub fn inbound(&self) -> &InboundActivity {
        &self.inbound
    }
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
    pub fn into_inbound(self) -> InboundActivity {
        self.inbound
    }
}

/// Which tenants may use the bot (issue: single-tenant bots their own tenant; multi-tenant bots
/// the allow-list when one is set).
#[derive(Debug, Clone)]
enum TenantPolicy {
    Any,
    Only(Vec<String>),
}

impl TenantPolicy {
    fn allows(&self, tenant: Option<&str>) -> bool {
        match self {
            TenantPolicy::Any => true,
            TenantPolicy::Only(allowed) => tenant.is_some_and(|t| allowed.iter().any(|a| a == t)),
        }
    }
}

enum Mode {
    Anonymous,
    Verified(Box<TokenValidator>),
}

/// Authenticates inbound Bot Framework requests.
pub struct InboundAuth {
    mode: Mode,
    tenants: TenantPolicy,
}

impl InboundAuth {
    pub fn new(
        settings: &BotSettings,
        keys: Arc<jwks::JwksCache>,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Self {
        let (mode, tenants) = match &settings.auth {
            BotAuth::Anonymous => (Mode::Anonymous, TenantPolicy::Any),
            BotAuth::Credentials(c) => {
                let tenants = match (c.app_type, &c.tenant_id) {
                    (AppType::SingleTenant, Some(t)) => {
                        TenantPolicy::Only(vec![t.to_ascii_lowercase()])
                    }
                    _ if !settings.allowed_tenants.is_empty() => {
                        TenantPolicy::Only(settings.allowed_tenants.clone())
                    }
                    _ => TenantPolicy::Any,
                };
                let validator = TokenValidator::new(
                    c.app_id.clone(),
                    settings.openid_metadata_url.clone(),
                    keys,
                    clock,
                );
                (Mode::Verified(Box::new(validator)), tenants)
            }
        };
        InboundAuth { mode, tenants }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self.mode, Mode::Anonymous)
    }

    /// Checks the `Authorization` header and its token. Runs before the body is read, so an
    /// unauthenticated caller cannot make us buffer a body.
    pub async fn verify_caller(
        &self,
        authorization: Option<&[u8]>,
    ) -> Result<CheckedCaller, AuthError> {
        let caller = match &self.mode {
            // Anonymous dev mode accepts requests with or without a header; there is no app id
            // a token could be checked against.
            Mode::Anonymous => Caller::Anonymous,
            Mode::Verified(validator) => {
                let header = authorization.ok_or(AuthError::MissingAuthorization)?;
                let unverified_jwt = UnverifiedToken::from_header(header)?;
                Caller::BotFramework(validator.verify(unverified_jwt).await?)
            }
        };
        Ok(CheckedCaller(caller))
    }

    /// Runs the remaining checks on the body sent by a verified caller.
    pub fn accept(
        &self,
        caller: CheckedCaller,
        body: &[u8],
    ) -> Result<VerifiedActivity, InboundError> {
        let CheckedCaller(caller) = caller;
        let activity: Activity =
            serde_json::from_slice(body).map_err(|e| InvalidActivity::Json(e.to_string()))?;
        if let Caller::BotFramework(verified_claims) = &caller {
            bind_to_activity(verified_claims, &activity)?;
        }
        let inbound = InboundActivity::validate(activity)?;
        if !self.tenants.allows(inbound.activity.tenant_id().as_deref()) {
            return Err(InboundError::TenantRefused);
        }
        Ok(VerifiedActivity { inbound, caller })
    }
}

/// A caller that passed [`InboundAuth::verify_caller`]; only that method makes one.
pub struct CheckedCaller(Caller);

/// The checks that tie a verified token to the activity it came with.
fn bind_to_activity(claims: &VerifiedClaims, activity: &Activity) -> Result<(), AuthError> {
    let channel = activity.channel_id.as_deref().unwrap_or_default();
    if channel.is_empty() || !claims.key.endorsements.iter().any(|e| e == channel) {
        return Err(AuthError::ChannelNotEndorsed);
    }
    match (&claims.service_url, &activity.service_url) {
        (Some(claimed), Some(actual)) if claimed == actual => Ok(()),
        (None, _) => Err(AuthError::MissingClaim("serviceurl")),
        _ => Err(AuthError::ServiceUrlMismatch),
    }
}
