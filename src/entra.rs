//! Signing users in with Entra ID: OAuth2 authorization code with PKCE (`oauth2`), the id
//! token checked with `jsonwebtoken` against the signing keys the tenant's OpenID metadata
//! publishes (same cache as the Bot Framework keys), and the admin-consent link. A protocol
//! client beside `graph` and `botframework::connector`; the Preferences page is its caller.
//!
//! Endpoints hang off the configured authority (reference §5): `{authority}/{tenant}/oauth2/
//! v2.0/authorize|token`, `{authority}/{tenant}/v2.0/.well-known/openid-configuration`,
//! `{authority}/{tenant}/adminconsent`. A single-tenant app signs in against its tenant; a
//! multi-tenant app against `organizations`, and the token's issuer must then name the
//! token's own tenant.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::botframework::auth::jwks::{JwksCache, KeyError};
use crate::config::{AppType, BotCredentials};
use crate::security::same_hash;

/// Directory roles (template ids, the `wids` claim) allowed to grant tenant-wide consent to
/// application permissions on Graph: Global Administrator, Privileged Role Administrator.
const CONSENT_ROLES: &[&str] = &[
    "62e90394-69f5-4237-9190-012177145e10",
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
];

/// The issuer of Entra's v1 access tokens, before `/{tid}/`.
const V1_ISSUER: &str = "https://sts.windows.net";

/// Why `jsonwebtoken` refused a token, in words that carry nothing of the token.
fn refusal(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not valid yet (nbf)",
        ErrorKind::InvalidAudience => "the audience is not this app",
        ErrorKind::InvalidSignature => "the signature does not verify",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        ErrorKind::Json(_) => "its claims are not of the expected shape",
        ErrorKind::InvalidAlgorithm => "not RS256",
        _ => "malformed",
    }
}

/// Clock skew tolerated on `exp` / `nbf`.
const LEEWAY_SECS: u64 = 120;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenField {
    id_token: String,
}
impl ExtraTokenFields for IdTokenField {}

type CodeClient = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<IdTokenField, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Why a sign-in failed. Never carries a token.
#[derive(Debug, thiserror::Error)]
pub enum SigninError {
    #[error("the sign-in service refused the code: {0}")]
    Exchange(String),
    #[error("the id token is not valid: {0}")]
    InvalidToken(String),
    #[error("the signing keys could not be loaded")]
    KeysUnavailable,
    #[error("users of this tenant cannot sign in here")]
    TenantNotAllowed,
}

/// A started sign-in: where to send the browser, and what to keep until it comes back.
pub struct Started {
    pub authorize_url: Url,
    pub state: String,
    pub pkce_verifier: String,
    pub nonce: String,
}

/// Who signed in, from a verified id token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub tenant_id: String,
    pub user_id: String,
    pub display_name: String,
    /// Holds a directory role that can grant admin consent.
    pub is_admin: bool,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    iss: String,
    tid: String,
    oid: String,
    /// An access token's delegated scopes (an id token has none).
    #[serde(default)]
    scp: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    wids: Vec<String>,
}

/// The Entra ID sign-in of the Preferences page.
pub struct Signin {
    client: CodeClient,
    http: reqwest::Client,
    keys: Arc<JwksCache>,
    authority: String,
    /// `organizations` (multi-tenant) or the app's tenant.
    tenant: String,
    single_tenant: Option<String>,
    allowed_tenants: Vec<String>,
    app_id: String,
    /// The app's resource (`api://{host}/{app id}`, the manifest's `webApplicationInfo`): the
    /// audience of the tokens Teams gets for the app's tab (single sign-on).
    resource: String,
    redirect_consent: String,
}

impl Signin {
    /// `public_base` is the service's public origin (the redirect URIs hang off it).
    pub fn new(
        http: reqwest::Client,
        keys: Arc<JwksCache>,
        authority: &Url,
        credentials: &BotCredentials,
        allowed_tenants: Vec<String>,
        public_base: &str,
    ) -> anyhow::Result<Self> {
        let authority = authority.as_str().trim_end_matches('/').to_owned();
        let single_tenant = match credentials.app_type {
            AppType::SingleTenant => credentials.tenant_id.clone(),
            AppType::MultiTenant => None,
        };
        let tenant = single_tenant
            .clone()
            .unwrap_or_else(|| "organizations".to_owned());
        let public_base = public_base.trim_end_matches('/');
        let client = oauth2::Client::new(ClientId::new(credentials.app_id.clone()))
            .set_client_secret(ClientSecret::new(
                credentials.app_password.expose_secret().to_owned(),
            ))
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(AuthUrl::new(format!(
                "{authority}/{tenant}/oauth2/v2.0/authorize"
            ))?)
            .set_token_uri(TokenUrl::new(format!(
                "{authority}/{tenant}/oauth2/v2.0/token"
            ))?)
            .set_redirect_uri(RedirectUrl::new(format!(
                "{public_base}/preferences/callback"
            ))?);
        Ok(Signin {
            client,
            http,
            keys,
            authority,
            tenant,
            single_tenant,
            allowed_tenants,
            app_id: credentials.app_id.clone(),
            resource: format!(
                "api://{}/{}",
                Url::parse(public_base)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default(),
                credentials.app_id
            ),
            redirect_consent: format!("{public_base}/preferences/consent"),
        })
    }

    /// A new sign-in: random state, nonce and PKCE (S256) verifier.
    pub fn start(&self) -> Started {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random();
        let (authorize_url, state) = self
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("openid".into()))
            .add_scope(Scope::new("profile".into()))
            .add_extra_param("nonce", nonce.secret().clone())
            .add_extra_param("response_mode", "query")
            .set_pkce_challenge(challenge)
            .url();
        Started {
            authorize_url,
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
        }
    }

    /// Redeems the code (with the PKCE verifier) and verifies the id token it brings.
    pub async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<SignedIn, SigninError> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| SigninError::Exchange(crate::botframework::tokens::describe(&e)))?;
        self.verify_id_token(&response.extra_fields().id_token, nonce)
            .await
    }

    async fn verify_id_token(&self, token: &str, nonce: &str) -> Result<SignedIn, SigninError> {
        self.verify(token, &[&self.app_id], Some(nonce)).await
    }

    /// Verifies the Entra access token Teams gives the app's tab (single sign-on): signed by
    /// Entra, for the app (its id or its resource), issued by the token's tenant, of an allowed
    /// tenant. An app registration whose manifest leaves `accessTokenAcceptedVersion` unset
    /// gets v1 tokens, issued by `https://sts.windows.net/{tid}/`; with version 2, v2 tokens,
    /// issued by `{authority}/{tid}/v2.0`. Both are taken.
    pub async fn verify_access_token(&self, token: &str) -> Result<SignedIn, SigninError> {
        self.verify(token, &[&self.app_id, &self.resource], None)
            .await
    }

    async fn verify(
        &self,
        token: &str,
        audiences: &[&str],
        nonce: Option<&str>,
    ) -> Result<SignedIn, SigninError> {
        let invalid = |why: &str| SigninError::InvalidToken(why.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid("not RS256"));
        }
        let kid = header.kid.ok_or_else(|| invalid("no kid"))?;
        let metadata = Url::parse(&format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            self.authority, self.tenant
        ))
        .map_err(|_| SigninError::KeysUnavailable)?;
        let key = self.keys.key(&metadata, &kid).await.map_err(|e| match e {
            KeyError::UnknownKey => invalid("unknown signing key"),
            KeyError::Unavailable(_) => SigninError::KeysUnavailable,
        })?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        let claims = jsonwebtoken::decode::<IdClaims>(token, &key.decoding_key, &validation)
            .map_err(|e| invalid(refusal(e.kind())))?
            .claims;
        let v2 = claims.iss == format!("{}/{}/v2.0", self.authority, claims.tid);
        // An id token comes from the v2 endpoint the sign-in uses; an access token may be v1.
        let v1 = nonce.is_none() && claims.iss == format!("{V1_ISSUER}/{}/", claims.tid);
        if !(v2 || v1) {
            return Err(invalid(
                "the issuer is neither the token's tenant's v2 issuer nor (for an access token) its v1 issuer",
            ));
        }
        let nonce_ok = match nonce {
            Some(nonce) => claims.nonce.as_deref().is_some_and(|n| same_hash(n, nonce)),
            // An access token, not an id token passed off as one: it carries scopes.
            None => claims.scp.as_deref().is_some_and(|s| !s.trim().is_empty()),
        };
        if !nonce_ok {
            return Err(invalid("nonce does not match"));
        }
        let tenant = claims.tid.to_ascii_lowercase();
        if self
            .single_tenant
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case(&tenant))
            || (!self.allowed_tenants.is_empty() && !self.allowed_tenants.contains(&tenant))
        {
            return Err(SigninError::TenantNotAllowed);
        }
        Ok(SignedIn {
            tenant_id: tenant,
            user_id: claims.oid,
            display_name: claims.name.unwrap_or_default(),
            is_admin: claims
                .wids
                .iter()
                .any(|w| CONSENT_ROLES.contains(&w.as_str())),
        })
    }

    /// The admin-consent link for `tenant` (reference §5), coming back to
    /// `/preferences/consent` with `state`.
    pub fn admin_consent_url(&self, tenant: &str, state: &str) -> Result<Url, url::ParseError> {
        let mut url = Url::parse(&format!("{}/{}/adminconsent", self.authority, tenant))?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.app_id)
            .append_pair("state", state)
            .append_pair("redirect_uri", &self.redirect_consent);
        Ok(url)
    }
}
