-- The Teams side: users registered with the bot (the personal chat the bot reaches them in),
-- the invitation cards sent (so a card is updated in place when its offer ends), and the
-- chatrooms of connected sessions (where customer messages are posted, and whose agent
-- messages go back to the customer).
CREATE TABLE registrations (
    tenant_id        TEXT   NOT NULL,
    -- Entra object id (the directory user id).
    user_id          TEXT   NOT NULL,
    -- The user's id in the channel (`29:…` in Teams).
    channel_user_id  TEXT   NOT NULL,
    conversation_id  TEXT   NOT NULL,
    service_url      TEXT   NOT NULL,
    bot_id           TEXT   NOT NULL,
    registered       BOOLEAN NOT NULL,
    -- `available` or `away`, as the user set it with the bot commands.
    presence         TEXT   NOT NULL DEFAULT 'available',
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE INDEX registrations_conversation ON registrations (conversation_id);

CREATE TABLE teams_invitations (
    tenant_id        TEXT   NOT NULL,
    offer_id         BIGINT NOT NULL,
    user_id          TEXT   NOT NULL,
    session_id       TEXT   NOT NULL,
    conversation_id  TEXT   NOT NULL,
    service_url      TEXT   NOT NULL,
    -- The outbox call that sends the card; its result is the card's activity id.
    outbox_id        BIGINT NOT NULL,
    -- The card data (JSON), to render the final state from.
    brief            TEXT   NOT NULL,
    ring_seconds     BIGINT NOT NULL,
    outcome          TEXT,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, offer_id)
);

CREATE TABLE chatrooms (
    session_id       TEXT   NOT NULL PRIMARY KEY,
    tenant_id        TEXT   NOT NULL,
    user_id          TEXT   NOT NULL,
    conversation_id  TEXT   NOT NULL,
    service_url      TEXT   NOT NULL,
    -- `group` (a Teams group chat made with Graph) or `personal` (the agent's chat with the bot).
    mode             TEXT   NOT NULL,
    brief            TEXT   NOT NULL,
    opened_at        BIGINT NOT NULL,
    closed_at        BIGINT
);

CREATE INDEX chatrooms_conversation ON chatrooms (conversation_id, closed_at);
