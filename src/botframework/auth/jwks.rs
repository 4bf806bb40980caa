//! Signing keys of the Bot Framework, found through the OpenID metadata document's `jwks_uri`
//! and cached (reference §1.3, "Implications" 2):
//!
//! - one cache shared by every validator, keyed by metadata URL (moka);
//! - a full refresh when the keys are older than the refresh interval (24 h by default);
//! - on an unknown `kid`, one refresh at most per `unknown_kid_interval` (the first unknown
//!   `kid` after a scheduled fetch refreshes at once, so a key rotation is picked up);
//! - refreshes are single-flight (concurrent callers wait for the one fetch);
//! - when a refresh fails, the keys already held are kept and served.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use moka::future::Cache;
use moka::ops::compute::Op;
use serde::Deserialize;
use url::Url;

use crate::clock::Clock;

/// One RSA signing key with the channels it is endorsed for.
pub struct SigningKey {
    pub kid: String,
    pub decoding_key: DecodingKey,
    /// Channel ids (e.g. `msteams`) this key may sign for; empty means not restricted.
    pub endorsements: Vec<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("endorsements", &self.endorsements)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct KeySet {
    keys: Arc<HashMap<String, Arc<SigningKey>>>,
    /// When these keys were fetched (ms since epoch).
    fetched_at: i64,
    /// When a fetch was last tried, successful or not.
    attempted_at: i64,
    /// When an unknown `kid` last caused a fetch.
    kid_refresh_at: i64,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum KeyError {
    #[error("no signing key with this kid")]
    UnknownKey,
    #[error("signing keys could not be loaded: {0}")]
    Unavailable(String),
}

#[derive(Debug, Clone, Copy)]
enum Reason {
    Initial,
    Stale,
    UnknownKid,
}

#[derive(Deserialize)]
struct OpenIdMetadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    key_use: Option<String>,
    n: Option<String>,
    e: Option<String>,
    #[serde(default)]
    endorsements: Vec<String>,
}

/// The shared cache of signing keys.
pub struct JwksCache {
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    sets: Cache<String, KeySet>,
    refresh_interval_ms: i64,
    unknown_kid_interval_ms: i64,
}

impl JwksCache {
    pub fn new(
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        refresh_interval: Duration,
        unknown_kid_interval: Duration,
    ) -> Self {
        JwksCache {
            http,
            clock,
            sets: Cache::builder().max_capacity(16).build(),
            refresh_interval_ms: duration_ms(refresh_interval),
            unknown_kid_interval_ms: duration_ms(unknown_kid_interval),
        }
    }

    /// The key `kid` published through `metadata_url`.
    pub async fn key(&self, metadata_url: &Url, kid: &str) -> Result<Arc<SigningKey>, KeyError> {
        let now = self.clock.now_ms();
        let mut set = match self.sets.get(metadata_url.as_str()).await {
            Some(set) => set,
            None => self.refresh(metadata_url, Reason::Initial).await?,
        };
        if now - set.fetched_at >= self.refresh_interval_ms
            && now - set.attempted_at >= self.unknown_kid_interval_ms
        {
            set = self.refresh(metadata_url, Reason::Stale).await?;
        }
        if let Some(key) = set.keys.get(kid) {
            return Ok(key.clone());
        }
        if now - set.kid_refresh_at >= self.unknown_kid_interval_ms {
            set = self.refresh(metadata_url, Reason::UnknownKid).await?;
        }
        set.keys.get(kid).cloned().ok_or(KeyError::UnknownKey)
    }

    /// Fetches the key set unless a concurrent caller already did; keeps stale keys on failure.
    async fn refresh(&self, metadata_url: &Url, reason: Reason) -> Result<KeySet, KeyError> {
        let result = self
            .sets
            .entry(metadata_url.as_str().to_owned())
            .and_try_compute_with(|existing| async move {
                let now = self.clock.now_ms();
                let existing = existing.map(|e| e.into_value());
                if let Some(set) = &existing {
                    // Another caller refreshed while we waited, or a refresh was tried too
                    // recently: use what is there.
                    let skip = match reason {
                        Reason::Initial => true,
                        Reason::Stale => {
                            now - set.fetched_at < self.refresh_interval_ms
                                || now - set.attempted_at < self.unknown_kid_interval_ms
                        }
                        Reason::UnknownKid => {
                            now - set.kid_refresh_at < self.unknown_kid_interval_ms
                        }
                    };
                    if skip {
                        return Ok(Op::Nop);
                    }
                }
                let kid_refresh_at = match (reason, &existing) {
                    (Reason::UnknownKid, _) => now,
                    (_, Some(set)) => set.kid_refresh_at,
                    (_, None) => i64::MIN / 2,
                };
                match self.fetch(metadata_url).await {
                    Ok(keys) => {
                        tracing::info!(
                            jwks.keys = keys.len(),
                            jwks.reason = ?reason,
                            "signing keys refreshed"
                        );
                        Ok(Op::Put(KeySet {
                            keys: Arc::new(keys),
                            fetched_at: now,
                            attempted_at: now,
                            kid_refresh_at,
                        }))
                    }
                    Err(error) => match existing {
                        Some(stale) => {
                            tracing::warn!(
                                error = %error,
                                jwks.reason = ?reason,
                                "signing key refresh failed; keeping the keys already held"
                            );
                            Ok(Op::Put(KeySet {
                                attempted_at: now,
                                kid_refresh_at,
                                ..stale
                            }))
                        }
                        None => Err(KeyError::Unavailable(error)),
                    },
                }
            })
            .await?;
        result
            .into_entry()
            .map(|e| e.into_value())
            .ok_or_else(|| KeyError::Unavailable("no key set".into()))
    }

    async fn fetch(&self, metadata_url: &Url) -> Result<HashMap<String, Arc<SigningKey>>, String> {
        let metadata: OpenIdMetadata = self.get_json(metadata_url.as_str()).await?;
        let jwks_uri = Url::parse(&metadata.jwks_uri)
            .map_err(|_| "metadata jwks_uri is not a URL".to_owned())?;
        let jwks: Jwks = self.get_json(jwks_uri.as_str()).await?;
        let keys: HashMap<_, _> = jwks
            .keys
            .into_iter()
            .filter_map(signing_key)
            .map(|k| (k.kid.clone(), Arc::new(k)))
            .collect();
        if keys.is_empty() {
            return Err("JWKS has no usable RSA signing key".into());
        }
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        response
            .json()
            .await
            .map_err(|e| format!("GET {url}: invalid JSON: {e}"))
    }
}

/// Keeps RSA signature keys only: a key without `n`/`e`, of another type, meant for
/// encryption, or declared for another algorithm is not a Bot Framework signing key.
fn signing_key(jwk: Jwk) -> Option<SigningKey> {
    if jwk.kty.as_deref() != Some("RSA") {
        return None;
    }
    if jwk.key_use.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    if jwk.alg.as_deref().is_some_and(|a| a != "RS256") {
        return None;
    }
    let decoding_key =
        DecodingKey::from_rsa_components(jwk.n.as_deref()?, jwk.e.as_deref()?).ok()?;
    Some(SigningKey {
        kid: jwk.kid?,
        decoding_key,
        endorsements: jwk.endorsements,
    })
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
