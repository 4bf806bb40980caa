-- Conversation references (reference §8 "Inbound dispatch") and the outbox of outbound calls
-- (DESIGN.md §8). Portable SQL: the types and statements also run on PostgreSQL, except the
-- autoincrement key, which the PostgreSQL migration spells BIGSERIAL. Timestamps are
-- milliseconds since the Unix epoch.

CREATE TABLE conversation_references (
    channel_id          TEXT   NOT NULL,
    conversation_id     TEXT   NOT NULL,
    service_url         TEXT   NOT NULL,
    tenant_id           TEXT,
    conversation_type   TEXT,
    bot_id              TEXT   NOT NULL,
    user_id             TEXT,
    user_aad_object_id  TEXT,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (channel_id, conversation_id)
);

CREATE INDEX conversation_references_user
    ON conversation_references (tenant_id, user_aad_object_id);

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Calls in one lane (service URL + conversation) are delivered one at a time, in id order.
    lane             TEXT    NOT NULL,
    service_url      TEXT    NOT NULL,
    operation        TEXT    NOT NULL,
    call             TEXT    NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL,
    delivered_at     BIGINT,
    result_id        TEXT,
    last_error       TEXT
);

CREATE INDEX outbox_pending_lanes ON outbox (state, lane, id);
