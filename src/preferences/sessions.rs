//! The Preferences page's tables: sign-ins in progress (`web_logins`) and signed-in browser
//! sessions (`web_sessions`). The browser holds the secrets; only their SHA-256 hashes are
//! stored. Admin consents are beneath the edges, in [`crate::store::consents`].

use sqlx::Row;

use crate::security::{hash_secret as hash, new_secret};
use crate::store::AsPool;

/// A sign-in or consent is good for this long after it started.
pub const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;

/// What a started sign-in or consent keeps until the browser comes back.
pub struct Pending {
    pub kind: String,
    pub pkce_verifier: String,
    pub nonce: String,
    pub session_hash: Option<String>,
}

pub async fn put_login(
    pool: &(impl AsPool + ?Sized),
    state: &str,
    pending: &Pending,
    now: i64,
) -> sqlx::Result<()> {
    crate::db!(pool.on(), |c| {
        sqlx::query("DELETE FROM web_logins WHERE created_at < $1")
            .bind(now - LOGIN_TTL_MS)
            .execute(c)
            .await
            .map(|_| ())
    })?;
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "INSERT INTO web_logins (state_hash, kind, pkce_verifier, nonce, session_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash(state))
        .bind(&pending.kind)
        .bind(&pending.pkce_verifier)
        .bind(&pending.nonce)
        .bind(&pending.session_hash)
        .bind(now)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// Takes (once) a pending sign-in or consent of `kind` that has not expired.
pub async fn take_login(
    pool: &(impl AsPool + ?Sized),
    state: &str,
    kind: &str,
    now: i64,
) -> sqlx::Result<Option<Pending>> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "DELETE FROM web_logins WHERE state_hash = $1 AND kind = $2 AND created_at >= $3
             RETURNING kind, pkce_verifier, nonce, session_hash",
        )
        .bind(hash(state))
        .bind(kind)
        .bind(now - LOGIN_TTL_MS)
        .fetch_optional(c)
        .await?
        .map(|r| {
            Ok(Pending {
                kind: r.try_get("kind")?,
                pkce_verifier: r.try_get("pkce_verifier")?,
                nonce: r.try_get("nonce")?,
                session_hash: r.try_get("session_hash")?,
            })
        })
        .transpose()
    })
}

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub id_hash: String,
    pub tenant_id: String,
    pub user_id: String,
    pub display_name: String,
    pub is_admin: bool,
    pub csrf_token: String,
}

/// Creates a session; returns its id (the cookie value).
pub async fn create_session(
    pool: &(impl AsPool + ?Sized),
    who: &crate::entra::SignedIn,
    now: i64,
    ttl_ms: i64,
) -> sqlx::Result<String> {
    crate::db!(pool.on(), |c| {
        sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(c)
            .await
            .map(|_| ())
    })?;
    let id = new_secret();
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, tenant_id, user_id, display_name, is_admin,
                csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(hash(&id))
        .bind(&who.tenant_id)
        .bind(&who.user_id)
        .bind(&who.display_name)
        .bind(who.is_admin)
        .bind(new_secret())
        .bind(now)
        .bind(now + ttl_ms)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(id)
}

pub async fn session(
    pool: &(impl AsPool + ?Sized),
    id: &str,
    now: i64,
) -> sqlx::Result<Option<WebSession>> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "SELECT id_hash, tenant_id, user_id, display_name, is_admin, csrf_token
             FROM web_sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(hash(id))
        .bind(now)
        .fetch_optional(c)
        .await?
        .map(|r| {
            Ok(WebSession {
                id_hash: r.try_get("id_hash")?,
                tenant_id: r.try_get("tenant_id")?,
                user_id: r.try_get("user_id")?,
                display_name: r.try_get("display_name")?,
                is_admin: r.try_get("is_admin")?,
                csrf_token: r.try_get("csrf_token")?,
            })
        })
        .transpose()
    })
}

pub async fn end_session(pool: &(impl AsPool + ?Sized), id_hash: &str) -> sqlx::Result<()> {
    crate::db!(pool.on(), |c| {
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(c)
            .await
            .map(|_| ())
    })?;
    Ok(())
}
