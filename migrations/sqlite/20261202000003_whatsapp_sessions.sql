-- The order webhook items arrived in (a counter taken in the storing transaction), so one
-- customer's messages reach their session in the order Meta sent them.
ALTER TABLE whatsapp_inbound ADD COLUMN arrival BIGINT;
CREATE INDEX whatsapp_inbound_arrival ON whatsapp_inbound (arrival);

-- WhatsApp customer sessions. The session itself is a customer session like Interact's
-- (`interact_sessions`, its events in `interact_events`: the transcript); this row says who
-- the customer is on WhatsApp and how far their events have been sent.
--   customer_key     the business-scoped user id when WhatsApp gave one, else the wa_id
--   recipient_field  `to` (a phone number) or `recipient` (a business-scoped user id)
--   last_inbound_at  the customer's last message (ms): the 24-hour window runs from it
--   sent_seq         the customer events up to this one have been queued for sending
CREATE TABLE whatsapp_sessions (
    session_id         TEXT   NOT NULL PRIMARY KEY,
    tenant_id          TEXT   NOT NULL,
    phone_number_id    TEXT   NOT NULL,
    customer_key       TEXT   NOT NULL,
    recipient_field    TEXT   NOT NULL,
    recipient          TEXT   NOT NULL,
    last_inbound_at    BIGINT NOT NULL,
    last_inbound_wamid TEXT,
    sent_seq           BIGINT NOT NULL DEFAULT 0,
    ended_at           BIGINT
);

-- One open session per customer and business number.
CREATE UNIQUE INDEX whatsapp_sessions_open
    ON whatsapp_sessions (phone_number_id, customer_key) WHERE ended_at IS NULL;

-- Messages sent to customers (by the wamid the Cloud API gave them) and their delivery status.
-- Statuses arrive out of order and may come before the send's answer is recorded, so a row is
-- made by whichever comes first; a status only moves forward (accepted < sent < delivered <
-- read; failed is final). `agent_told`: a failure has been reported in the agent's chat.
CREATE TABLE whatsapp_outbound (
    wamid        TEXT   NOT NULL PRIMARY KEY,
    session_id   TEXT,
    seq          BIGINT,
    status       TEXT   NOT NULL,
    status_rank  BIGINT NOT NULL,
    error_code   BIGINT,
    error_title  TEXT,
    agent_told   BIGINT NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL
);

CREATE INDEX whatsapp_outbound_session ON whatsapp_outbound (session_id, seq);

-- A tenant's Cloud API credentials: the system user access token (write-only in the admin
-- API; never returned, logged or exported) and the WhatsApp Business Account id (templates).
CREATE TABLE tenant_whatsapp (
    tenant_id            TEXT   NOT NULL PRIMARY KEY,
    access_token         TEXT,
    business_account_id  TEXT,
    updated_at           BIGINT NOT NULL
);

-- Media customers sent (image, document, audio, video), fetched from the Graph media endpoint
-- with the tenant's token and kept with the session (the transcript retention). `id` is the
-- random, unguessable key of the agent's link; `state`: pending, stored or failed (`error`).
CREATE TABLE whatsapp_media (
    id          TEXT   NOT NULL PRIMARY KEY,
    tenant_id   TEXT   NOT NULL,
    session_id  TEXT   NOT NULL,
    media_id    TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    mime_type   TEXT,
    filename    TEXT,
    state       TEXT   NOT NULL,
    error       TEXT,
    size        BIGINT,
    bytes       BLOB,
    created_at  BIGINT NOT NULL
);

CREATE INDEX whatsapp_media_pending ON whatsapp_media (created_at) WHERE state = 'pending';
CREATE INDEX whatsapp_media_session ON whatsapp_media (session_id);
