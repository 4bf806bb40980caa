-- Reporting history: offers carry their session's channel; history is read by tenant and
-- end time (the order pages are served in).
ALTER TABLE report_offers ADD COLUMN channel TEXT NOT NULL DEFAULT 'interact';
UPDATE report_offers SET channel = COALESCE(
    (SELECT s.channel FROM report_sessions s
     WHERE s.tenant_id = report_offers.tenant_id AND s.session_id = report_offers.session_id),
    'interact');

CREATE INDEX report_sessions_by_end ON report_sessions (tenant_id, ended_at, session_id);
CREATE INDEX report_offers_by_end ON report_offers (tenant_id, ended_at, offer_id);

-- Transcript retention finds ended customer sessions by their last activity.
CREATE INDEX interact_sessions_by_activity ON interact_sessions (state, last_activity_at);
