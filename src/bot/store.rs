//! The bot's tables: the invitation cards sent, chatrooms, and the chat an agent writes to
//! when their personal chat holds several. Registrations are beneath the edges, in
//! [`crate::store::registrations`].

use sqlx::Row;

use crate::engine::messages::Brief;
use crate::store::{AsConn, AsPool};

/// An invitation card sent to a user.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub tenant_id: String,
    pub offer_id: i64,
    pub user_id: String,
    pub session_id: String,
    pub conversation_id: String,
    pub service_url: String,
    pub outbox_id: i64,
    pub brief: Brief,
    pub ring_seconds: i64,
}

pub async fn put_invitation(
    conn: &mut (impl AsConn + ?Sized),
    i: &Invitation,
    now: i64,
) -> anyhow::Result<()> {
    let brief = serde_json::to_string(&i.brief)?;
    crate::db!(conn.conn(), |c| {
        sqlx::query(
            "INSERT INTO teams_invitations (tenant_id, offer_id, user_id, session_id, conversation_id,
                service_url, outbox_id, brief, ring_seconds, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (tenant_id, offer_id) DO NOTHING",
        )
        .bind(&i.tenant_id)
        .bind(i.offer_id)
        .bind(&i.user_id)
        .bind(&i.session_id)
        .bind(&i.conversation_id)
        .bind(&i.service_url)
        .bind(i.outbox_id)
        .bind(&brief)
        .bind(i.ring_seconds)
        .bind(now)
        .execute(c)
        .await?;
    });
    Ok(())
}

pub async fn invitation(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    offer: i64,
) -> anyhow::Result<Option<Invitation>> {
    crate::db!(pool.on(), |c| {
        let Some(r) = sqlx::query(
            "SELECT tenant_id, offer_id, user_id, session_id, conversation_id, service_url, outbox_id,
                    brief, ring_seconds
             FROM teams_invitations WHERE tenant_id = $1 AND offer_id = $2",
        )
        .bind(tenant)
        .bind(offer)
        .fetch_optional(c)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(Invitation {
            tenant_id: r.try_get("tenant_id")?,
            offer_id: r.try_get("offer_id")?,
            user_id: r.try_get("user_id")?,
            session_id: r.try_get("session_id")?,
            conversation_id: r.try_get("conversation_id")?,
            service_url: r.try_get("service_url")?,
            outbox_id: r.try_get("outbox_id")?,
            brief: serde_json::from_str(&r.try_get::<String, _>("brief")?)?,
            ring_seconds: r.try_get("ring_seconds")?,
        }))
    })
}

pub async fn set_invitation_outcome(
    conn: &mut (impl AsConn + ?Sized),
    tenant: &str,
    offer: i64,
    outcome: &str,
) -> sqlx::Result<()> {
    crate::db!(conn.conn(), |c| {
        sqlx::query(
            "UPDATE teams_invitations SET outcome = $3 WHERE tenant_id = $1 AND offer_id = $2",
        )
        .bind(tenant)
        .bind(offer)
        .bind(outcome)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// A chatroom in a Graph group chat made for it.
pub const GROUP: &str = "group";
/// A chatroom in the agent's personal chat with the bot (when no group chat could be made);
/// that chat may hold several.
pub const PERSONAL: &str = "personal";

/// Where a connected chat takes place.
#[derive(Debug, Clone)]
pub struct Chatroom {
    pub session_id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub conversation_id: String,
    pub service_url: String,
    /// [`GROUP`] or [`PERSONAL`].
    pub mode: String,
    pub brief: Brief,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
}

/// The chatroom of a row of [`CHATROOM_COLUMNS`], of either backend (an
/// `anyhow::Result<Chatroom>`).
macro_rules! chatroom {
    ($r:expr) => {{
        let r = $r;
        Ok::<_, anyhow::Error>(Chatroom {
            session_id: r.try_get("session_id")?,
            tenant_id: r.try_get("tenant_id")?,
            user_id: r.try_get("user_id")?,
            conversation_id: r.try_get("conversation_id")?,
            service_url: r.try_get("service_url")?,
            mode: r.try_get("mode")?,
            brief: serde_json::from_str(&r.try_get::<String, _>("brief")?)?,
            opened_at: r.try_get("opened_at")?,
            closed_at: r.try_get("closed_at")?,
        })
    }};
}

const CHATROOM_COLUMNS: &str = "session_id, tenant_id, user_id, conversation_id, service_url, mode, brief, opened_at, closed_at";

/// Stores a session's chatroom. Idempotent for its agent (an effect carried out again changes
/// nothing); another agent's (a transfer) replaces it.
pub async fn put_chatroom(
    conn: &mut (impl AsConn + ?Sized),
    room: &Chatroom,
) -> anyhow::Result<()> {
    let brief = serde_json::to_string(&room.brief)?;
    crate::db!(conn.conn(), |c| {
        sqlx::query(
            "INSERT INTO chatrooms (session_id, tenant_id, user_id, conversation_id, service_url, mode,
                brief, opened_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (session_id) DO UPDATE SET user_id = excluded.user_id,
                conversation_id = excluded.conversation_id, service_url = excluded.service_url,
                mode = excluded.mode, brief = excluded.brief, opened_at = excluded.opened_at,
                closed_at = NULL
             WHERE chatrooms.user_id <> excluded.user_id",
        )
        .bind(&room.session_id)
        .bind(&room.tenant_id)
        .bind(&room.user_id)
        .bind(&room.conversation_id)
        .bind(&room.service_url)
        .bind(&room.mode)
        .bind(&brief)
        .bind(room.opened_at)
        .execute(c)
        .await?;
    });
    Ok(())
}

pub async fn chatroom_of(
    pool: &(impl AsPool + ?Sized),
    session: &str,
) -> anyhow::Result<Option<Chatroom>> {
    let sql = format!("SELECT {CHATROOM_COLUMNS} FROM chatrooms WHERE session_id = $1");
    crate::db!(pool.on(), |c| {
        sqlx::query(&sql)
            .bind(session)
            .fetch_optional(c)
            .await?
            .map(|r| chatroom!(r))
            .transpose()
    })
}

/// The open chatrooms in a Teams conversation, newest first (a personal chat may hold several).
pub async fn open_chatrooms_in(
    conn: &mut (impl AsConn + ?Sized),
    conversation: &str,
) -> anyhow::Result<Vec<Chatroom>> {
    let sql = format!(
        "SELECT {CHATROOM_COLUMNS} FROM chatrooms
         WHERE conversation_id = $1 AND closed_at IS NULL ORDER BY opened_at DESC, session_id"
    );
    crate::db!(conn.conn(), |c| {
        sqlx::query(&sql)
            .bind(conversation)
            .fetch_all(c)
            .await?
            .iter()
            .map(|r| chatroom!(r))
            .collect()
    })
}

/// The conversation of each open chatroom (once per chatroom).
pub async fn open_chatroom_conversations(
    pool: &(impl AsPool + ?Sized),
) -> sqlx::Result<Vec<String>> {
    crate::db!(pool.on(), |c| {
        sqlx::query_scalar("SELECT conversation_id FROM chatrooms WHERE closed_at IS NULL")
            .fetch_all(c)
            .await
    })
}

pub async fn close_chatroom(
    conn: &mut (impl AsConn + ?Sized),
    session: &str,
    now: i64,
) -> sqlx::Result<()> {
    crate::db!(conn.conn(), |c| {
        sqlx::query(
            "UPDATE chatrooms SET closed_at = $2 WHERE session_id = $1 AND closed_at IS NULL",
        )
        .bind(session)
        .bind(now)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// The chat an agent writes to in a personal chat holding several chatrooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Focus {
    pub session_id: String,
    /// The open sessions the agent knew of when choosing.
    pub seen: Vec<String>,
}

pub async fn focus_in(
    pool: &(impl AsPool + ?Sized),
    conversation: &str,
) -> anyhow::Result<Option<Focus>> {
    let found: Option<(String, String)> = crate::db!(pool.on(), |c| {
        sqlx::query_as(
            "SELECT session_id, seen FROM personal_chat_focus WHERE conversation_id = $1",
        )
        .bind(conversation)
        .fetch_optional(c)
        .await
    })?;
    let Some((session_id, seen)) = found else {
        return Ok(None);
    };
    Ok(Some(Focus {
        session_id,
        seen: serde_json::from_str(&seen)?,
    }))
}

/// Records the chat the agent writes to (`None`: no choice, as when no chat is left).
pub async fn set_focus(
    pool: &(impl AsPool + ?Sized),
    conversation: &str,
    focus: Option<&Focus>,
    now: i64,
) -> anyhow::Result<()> {
    let Some(focus) = focus else {
        crate::db!(pool.on(), |c| {
            sqlx::query("DELETE FROM personal_chat_focus WHERE conversation_id = $1")
                .bind(conversation)
                .execute(c)
                .await?;
        });
        return Ok(());
    };
    let seen = serde_json::to_string(&focus.seen)?;
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "INSERT INTO personal_chat_focus (conversation_id, session_id, seen, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (conversation_id) DO UPDATE SET session_id = excluded.session_id,
                seen = excluded.seen, updated_at = excluded.updated_at",
        )
        .bind(conversation)
        .bind(&focus.session_id)
        .bind(&seen)
        .bind(now)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Records that the agent's message `activity_id` in `conversation` became customer event
/// `seq` of `session` (so its later edit or deletion finds it).
pub async fn record_relayed(
    conn: &mut (impl AsConn + ?Sized),
    conversation: &str,
    activity_id: &str,
    session: &str,
    seq: i64,
) -> sqlx::Result<()> {
    crate::db!(conn.conn(), |c| {
        sqlx::query(
            "INSERT INTO agent_messages (conversation_id, activity_id, session_id, seq)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(conversation)
        .bind(activity_id)
        .bind(session)
        .bind(seq)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// The session and customer event an agent's message `activity_id` in `conversation` became.
pub async fn relayed(
    pool: &(impl AsPool + ?Sized),
    conversation: &str,
    activity_id: &str,
) -> sqlx::Result<Option<(String, i64)>> {
    crate::db!(pool.on(), |c| {
        sqlx::query_as(
            "SELECT session_id, seq FROM agent_messages WHERE conversation_id = $1 AND activity_id = $2",
        )
        .bind(conversation)
        .bind(activity_id)
        .fetch_optional(c)
        .await
    })
}

/// Whether the message `activity_id` of `conversation` is a line of the chat `session`: a
/// customer message the bot posted there for it, or an agent's message relayed to its
/// customer. Anything else the bot posts (whispers, mirrors, notices) is not.
pub async fn line_of_chat(
    pool: &(impl AsPool + ?Sized),
    conversation: &str,
    session: &str,
    activity_id: &str,
) -> anyhow::Result<bool> {
    let found: Option<(i64,)> = crate::db!(pool.on(), |c| {
        sqlx::query_as(
            "SELECT CAST(1 AS BIGINT) FROM agent_messages
             WHERE conversation_id = $1 AND activity_id = $2 AND session_id = $3
             UNION ALL
             SELECT CAST(1 AS BIGINT) FROM agent_reads r JOIN outbox o ON o.id = r.outbox_id
             WHERE r.session_id = $3 AND r.conversation_id = $1 AND o.result_id = $2
             LIMIT 1",
        )
        .bind(conversation)
        .bind(activity_id)
        .bind(session)
        .fetch_optional(c)
        .await
    })?;
    Ok(found.is_some())
}
