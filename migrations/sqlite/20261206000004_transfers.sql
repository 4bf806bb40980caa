-- The agents who transferred a chat, in order (a JSON array of user ids; the session's
-- `agent` had it last).
ALTER TABLE report_sessions ADD COLUMN transferred_by TEXT NOT NULL DEFAULT '[]';
