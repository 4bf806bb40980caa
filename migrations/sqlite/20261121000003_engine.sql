-- The engine's persistence: a command log per tenant (replayed after a restart from the last
-- snapshot), the effects each command produced (written in the same transaction), and the
-- reporting facts (one row per ended session and per ended offer).
CREATE TABLE engine_log (
    tenant_id  TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    command    TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE engine_snapshots (
    tenant_id  TEXT   NOT NULL PRIMARY KEY,
    seq        BIGINT NOT NULL,
    state      TEXT   NOT NULL,
    taken_at   BIGINT NOT NULL
);

CREATE TABLE engine_effects (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    effect      TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'pending',
    created_at  BIGINT  NOT NULL
);

CREATE INDEX engine_effects_pending ON engine_effects (state, id);

CREATE TABLE report_sessions (
    tenant_id         TEXT   NOT NULL,
    session_id        TEXT   NOT NULL,
    service           TEXT   NOT NULL,
    channel           TEXT   NOT NULL,
    outcome           TEXT   NOT NULL,
    agent             TEXT,
    created_at        BIGINT NOT NULL,
    queued_at         BIGINT,
    accepted_at       BIGINT,
    ended_at          BIGINT NOT NULL,
    transferred_from  TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, session_id)
);

CREATE TABLE report_offers (
    tenant_id   TEXT   NOT NULL,
    offer_id    BIGINT NOT NULL,
    session_id  TEXT   NOT NULL,
    service     TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    outcome     TEXT   NOT NULL,
    ended_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, offer_id)
);
