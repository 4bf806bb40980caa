-- The outbox dispatcher holds pending calls in memory, per lane, and reads the table only at
-- start and for the rows committed since it last looked (by id). The per-lane index the old
-- head-of-lane scan needed is replaced by a small partial index over pending ids (portable:
-- PostgreSQL has partial indexes too).
DROP INDEX outbox_pending_lanes;
CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending';
