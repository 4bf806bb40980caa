-- Inbound Bot Framework activities already handled, by (conversation, activity id), for a
-- few minutes: Teams re-sends an activity it got no answer to within 15 s, and the re-send
-- must do nothing. Old rows are purged as new ones are written (see `bot::resends`).
CREATE TABLE bot_activities_seen (
    conversation_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, activity_id)
) WITHOUT ROWID;
CREATE INDEX bot_activities_seen_at ON bot_activities_seen (seen_at);

-- Agents' messages answered at once and carried out in the background, in order per
-- conversation (a file to fetch, and whatever the agent sent after it while it was fetched).
-- A row lives from the answer until it is carried out, so a restart resumes it
-- (see `bot::in_order`).
CREATE TABLE bot_queued_activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    activity TEXT NOT NULL,
    queued_at INTEGER NOT NULL
);
