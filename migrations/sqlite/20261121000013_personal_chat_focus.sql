-- The personal-chat fallback: when an agent's personal chat with the bot holds several
-- chatrooms, the one their messages go to (chosen with `/switch`, or moved on by `/end`).
CREATE TABLE personal_chat_focus (
    conversation_id  TEXT   NOT NULL PRIMARY KEY,
    -- The session the agent writes to.
    session_id       TEXT   NOT NULL,
    -- The open sessions (a JSON array of ids) the agent knew of when choosing: a chat that
    -- opens later makes the choice unclear again until the agent chooses anew.
    seen             TEXT   NOT NULL,
    updated_at       BIGINT NOT NULL
);
