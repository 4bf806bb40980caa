-- The Preferences page: sign-ins in progress, signed-in browser sessions, and tenants whose
-- admin granted the Graph permissions. Secrets handed to the browser (the OAuth2 state, the
-- session id) are stored only as SHA-256 hashes.

CREATE TABLE web_logins (
    state_hash    TEXT PRIMARY KEY,
    -- 'signin' (OAuth2 authorization code + PKCE) or 'consent' (admin consent)
    kind          TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL DEFAULT '',
    nonce         TEXT NOT NULL DEFAULT '',
    -- for 'consent': the session that asked
    session_hash  TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE web_sessions (
    id_hash      TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    display_name TEXT NOT NULL,
    is_admin     INTEGER NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

CREATE TABLE tenant_consents (
    tenant_id  TEXT PRIMARY KEY,
    granted_by TEXT NOT NULL,
    granted_at INTEGER NOT NULL
);
