-- Tenant webhook endpoints (the `webhooks` of the tenant settings). Kept apart from the tenant
-- document so that the secret never reaches the engine's command log or snapshots, nor an
-- export: it is read only to sign a delivery. Deliveries themselves are outbox rows of
-- operation `webhook`.
CREATE TABLE tenant_webhooks (
    tenant_id    TEXT   NOT NULL,
    endpoint_id  TEXT   NOT NULL,
    url          TEXT   NOT NULL,
    -- The HMAC key; write-only through the admin API and the tenant file.
    secret       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, endpoint_id)
);

-- The admin API's list of a tenant's recent deliveries (lanes are `webhook|{tenant}|…`).
CREATE INDEX outbox_webhook_lanes ON outbox (lane, id) WHERE operation = 'webhook';
