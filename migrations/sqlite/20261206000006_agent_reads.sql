-- Customer messages posted into an agent's Teams chat, by the outbox call that posted them:
-- when Teams reports that the agent read up to a message (a read receipt, personal chats
-- only), the customer's widget marks their messages up to `seq` as read.
CREATE TABLE agent_reads (
    conversation_id  TEXT    NOT NULL,
    outbox_id        BIGINT  NOT NULL PRIMARY KEY,
    session_id       TEXT    NOT NULL,
    seq              BIGINT  NOT NULL,
    read             INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX agent_reads_conversation ON agent_reads (conversation_id, read);
CREATE INDEX agent_reads_session ON agent_reads (session_id);
