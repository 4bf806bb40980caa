-- When the first invitation of a session was sent (time to offer, for reporting).
ALTER TABLE report_sessions ADD COLUMN offered_at BIGINT;
