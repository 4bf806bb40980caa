-- Admin-managed directory data (tenants, services, users, workflows, calendars) as versioned
-- JSON documents; the version gives optimistic concurrency to admin edits.
CREATE TABLE directory_documents (
    tenant_id   TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, kind, id)
);
