//! Outbound access tokens: OAuth2 client credentials (reference §2 "Token request",
//! "Implications" 3), cached in moka until 5 minutes before expiry, one fetch at a time per
//! scope. In anonymous dev mode there are no tokens at all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, Scope, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Scope of Bot Connector tokens.
pub const BOT_FRAMEWORK_SCOPE: &str = "https://api.botframework.com/.default";
/// Tokens are refreshed this long before they expire.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(5 * 60);

type CredentialsClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

#[derive(Debug, thiserror::Error, Clone)]
#[error("access token request failed: {0}")]
pub struct TokenError(String);

/// A bearer token and how long it may be cached.
#[derive(Clone)]
pub struct AccessToken {
    secret: Arc<SecretString>,
    cache_for: Duration,
}

impl AccessToken {
    pub fn secret(&self) -> &str {
        self.secret.expose_secret()
    }
}

struct UntilMargin;

impl Expiry<String, AccessToken> for UntilMargin {
    fn expire_after_create(&self, _: &String, token: &AccessToken, _: Instant) -> Option<Duration> {
        Some(token.cache_for)
    }
}

/// Source of bearer tokens for one token endpoint and client.
pub struct AccessTokens {
    inner: Option<ClientCredentials>,
}

struct ClientCredentials {
    client: CredentialsClient,
    http: reqwest::Client,
    cache: Cache<String, AccessToken>,
}

impl AccessTokens {
    /// No tokens: anonymous dev mode.
    pub fn anonymous() -> Self {
        AccessTokens { inner: None }
    }

    /// Client credentials against `token_url`. `http` must not follow redirects.
    pub fn client_credentials(
        http: reqwest::Client,
        token_url: &Url,
        client_id: &str,
        client_secret: &SecretString,
    ) -> Self {
        let client = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(client_secret.expose_secret().to_owned()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::from_url(token_url.clone()));
        AccessTokens {
            inner: Some(ClientCredentials {
                client,
                http,
                cache: Cache::builder()
                    .max_capacity(64)
                    .expire_after(UntilMargin)
                    .build(),
            }),
        }
    }

    /// A token for `scope`, from the cache or freshly fetched; `None` in anonymous mode.
    pub async fn token(&self, scope: &str) -> Result<Option<AccessToken>, TokenError> {
        let Some(inner) = &self.inner else {
            return Ok(None);
        };
        inner
            .cache
            .try_get_with(scope.to_owned(), inner.fetch(scope))
            .await
            .map(Some)
            .map_err(|e: Arc<TokenError>| (*e).clone())
    }

    /// Drops a cached token the server refused, so the next call fetches a new one.
    pub async fn invalidate(&self, scope: &str) {
        if let Some(inner) = &self.inner {
            inner.cache.invalidate(scope).await;
        }
    }
}

impl ClientCredentials {
    async fn fetch(&self, scope: &str) -> Result<AccessToken, TokenError> {
        let response = self
            .client
            .exchange_client_credentials()
            .add_scope(Scope::new(scope.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| TokenError(describe(&e)))?;
        let lifetime = response.expires_in().unwrap_or(Duration::from_secs(3600));
        tracing::info!(
            token.scope = scope,
            token.expires_in_s = lifetime.as_secs(),
            "access token acquired"
        );
        Ok(AccessToken {
            secret: Arc::new(SecretString::from(response.access_token().secret().clone())),
            cache_for: lifetime.saturating_sub(EXPIRY_MARGIN),
        })
    }
}

/// Describes a token error without the request or response body (no secrets).
pub(crate) fn describe<RE: std::error::Error + 'static>(
    error: &oauth2::RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> String {
    match error {
        oauth2::RequestTokenError::ServerResponse(r) => format!("refused: {}", r.error()),
        oauth2::RequestTokenError::Request(e) => format!("request failed: {e}"),
        oauth2::RequestTokenError::Parse(_, _) => "unparsable token response".into(),
        oauth2::RequestTokenError::Other(o) => format!("unexpected response: {o}"),
    }
}
