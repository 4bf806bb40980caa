-- What customers leave besides chats: a message when nobody was available (the widget's
-- "leave a message" form; `handled_at` set when an admin marks it done), and the satisfaction
-- survey after a chat (one per session). Both hold personal data and are purged with the
-- transcripts' retention.
CREATE TABLE offline_messages (
    id            TEXT   NOT NULL PRIMARY KEY,
    tenant_id     TEXT   NOT NULL,
    contact_id    TEXT   NOT NULL,
    service_id    TEXT   NOT NULL,
    display_name  TEXT   NOT NULL,
    email         TEXT   NOT NULL,
    message       TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    handled_at    BIGINT
);
CREATE INDEX offline_messages_tenant ON offline_messages (tenant_id, created_at);

CREATE TABLE session_surveys (
    session_id  TEXT   NOT NULL PRIMARY KEY,
    tenant_id   TEXT   NOT NULL,
    rating      BIGINT NOT NULL,
    comment     TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX session_surveys_tenant ON session_surveys (tenant_id, created_at);
