-- The lease of the instance that owns the tenants (DESIGN §8b); see
-- migrations/sqlite/20261209000001_cluster_lease.sql. One row: `epoch` is the fencing number,
-- raised by every takeover; `expires_at` (ms, the database's clock) is pushed forward by the
-- owner's heartbeats; `secret` authenticates the requests instances forward to the owner.
CREATE TABLE cluster_lease (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL,
    instance TEXT COLLATE "C" NOT NULL,
    advertise_url TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
    secret TEXT COLLATE "C" NOT NULL
);

-- Each customer event notifies its session on `switchboard_events` (delivered at commit, once
-- per session and transaction): instances that do not own the tenants serve customer event
-- streams too, and wake them on it (see `cluster::listen`).
CREATE FUNCTION switchboard_notify_customer_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('switchboard_events', NEW.session_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER interact_events_notify AFTER INSERT ON interact_events
    FOR EACH ROW EXECUTE FUNCTION switchboard_notify_customer_event();
