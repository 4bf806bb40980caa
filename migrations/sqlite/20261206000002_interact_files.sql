-- Files customers upload in the widget: the bytes with their checked type, kept with the
-- session (deleted with its transcript). `id` is the random, unguessable key of the link the
-- agent gets.
CREATE TABLE interact_files (
    id            TEXT   NOT NULL PRIMARY KEY,
    tenant_id     TEXT   NOT NULL,
    session_id    TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    content_type  TEXT   NOT NULL,
    size          BIGINT NOT NULL,
    bytes         BLOB   NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX interact_files_session ON interact_files (session_id);
