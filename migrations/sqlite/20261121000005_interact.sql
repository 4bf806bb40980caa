-- Interact: customer sessions (only a hash of the session token is stored), the per-session
-- event stream replayed on reconnect, and the client message ids that make sends idempotent.
CREATE TABLE interact_sessions (
    session_id        TEXT   NOT NULL PRIMARY KEY,
    tenant_id         TEXT   NOT NULL,
    contact_id        TEXT   NOT NULL,
    token_hash        TEXT   NOT NULL,
    state             TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    last_activity_at  BIGINT NOT NULL
);

CREATE TABLE interact_events (
    session_id  TEXT   NOT NULL,
    seq         BIGINT NOT NULL,
    event       TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq)
);

CREATE TABLE interact_messages (
    session_id         TEXT   NOT NULL,
    client_message_id  TEXT   NOT NULL,
    PRIMARY KEY (session_id, client_message_id)
);
