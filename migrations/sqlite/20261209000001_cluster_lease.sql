-- The lease of the instance that owns the tenants (DESIGN §8b). Only a PostgreSQL store is
-- served by several instances; the table exists on SQLite too so the two schemas stay one
-- (an SQLite file is served by one process, which holds the file instead).
-- One row: `epoch` is the fencing number, raised by every takeover; `expires_at` (ms, the
-- database's clock) is pushed forward by the owner's heartbeats; `secret` authenticates the
-- requests instances forward to the owner.
CREATE TABLE cluster_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL,
    instance TEXT NOT NULL,
    advertise_url TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    secret TEXT NOT NULL
);
