-- Which customer event an agent's Teams message became, so that the agent's later edit or
-- deletion of it (Teams' messageUpdate / messageDelete, which name the message by its id in
-- the conversation) reaches the customer as such. Deleted with the session's transcript.
CREATE TABLE agent_messages (
    conversation_id  TEXT   NOT NULL,
    activity_id      TEXT   NOT NULL,
    session_id       TEXT   NOT NULL,
    seq              BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, activity_id)
);
CREATE INDEX agent_messages_session ON agent_messages (session_id);
