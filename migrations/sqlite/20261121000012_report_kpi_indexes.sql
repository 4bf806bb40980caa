-- KPIs read every ended session and offer of a period: covering indexes let them do so without
-- visiting the table rows.
CREATE INDEX report_sessions_kpis
    ON report_sessions (tenant_id, ended_at, service, channel, outcome, queued_at, accepted_at);
CREATE INDEX report_offers_kpis
    ON report_offers (tenant_id, ended_at, service, channel, outcome);
