-- WhatsApp webhooks, verified and stored before they are answered. One row per inbound message
-- (by its wamid) and per delivery status (wamid, status): Meta delivers at least once and
-- retries for days, so a retry finds its row and is stored no second time. `handled_at` is set
-- once the item has reached its session.
CREATE TABLE whatsapp_inbound (
    dedupe_key TEXT PRIMARY KEY,
    phone_number_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    wamid TEXT NOT NULL,
    item TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    handled_at INTEGER
);

CREATE INDEX whatsapp_inbound_pending ON whatsapp_inbound (received_at) WHERE handled_at IS NULL;
