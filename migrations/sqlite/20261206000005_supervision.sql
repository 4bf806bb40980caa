-- Supervision of live chats (issue 18): who monitors which chat (a mirror of both sides into
-- the supervisor's personal chat with the bot), who barged into which (in the personal-chat
-- fallback their messages there go to the customer), and every supervision action with who
-- and when. Monitors and barge-ins end with the chat; the log is kept with the transcript.
CREATE TABLE chat_monitors (
    session_id       TEXT   NOT NULL,
    user_id          TEXT   NOT NULL,
    tenant_id        TEXT   NOT NULL,
    conversation_id  TEXT   NOT NULL,
    service_url      TEXT   NOT NULL,
    since            BIGINT NOT NULL,
    PRIMARY KEY (session_id, user_id)
);

CREATE TABLE chat_barge_ins (
    session_id       TEXT   NOT NULL,
    user_id          TEXT   NOT NULL,
    tenant_id        TEXT   NOT NULL,
    conversation_id  TEXT   NOT NULL,
    at               BIGINT NOT NULL,
    PRIMARY KEY (session_id, user_id)
);
CREATE INDEX chat_barge_ins_conversation ON chat_barge_ins (conversation_id);

CREATE TABLE supervision_log (
    tenant_id   TEXT   NOT NULL,
    session_id  TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX supervision_log_session ON supervision_log (session_id);
