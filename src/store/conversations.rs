//! Conversation references: everything needed to message a conversation proactively, stored
//! from every verified activity so proactive messages work after a restart.

use std::time::Duration;

use sqlx::Row;

use super::{AsPool, Pool};

/// How long a reference this process wrote is trusted to still be in the store unchanged.
const RECENT_FOR: Duration = Duration::from_secs(3600);

/// Writes conversation references, skipping the write when this process stored the very same
/// reference within the last hour: a busy chat would otherwise rewrite one row per message.
pub struct ConversationReferences {
    pool: Pool,
    recent: moka::sync::Cache<(String, String), ConversationReference>,
}

impl ConversationReferences {
    pub fn new(pool: Pool) -> Self {
        ConversationReferences {
            pool,
            recent: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(RECENT_FOR)
                .build(),
        }
    }

    /// Stores `reference` unless it was stored unchanged recently.
    pub async fn record(&self, reference: &ConversationReference, now_ms: i64) -> sqlx::Result<()> {
        let key = (
            reference.channel_id.clone(),
            reference.conversation_id.clone(),
        );
        if self.recent.get(&key).as_ref() == Some(reference) {
            return Ok(());
        }
        upsert(&self.pool, reference, now_ms).await?;
        self.recent.insert(key, reference.clone());
        Ok(())
    }
}

/// Where and how to reach one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationReference {
    pub channel_id: String,
    pub conversation_id: String,
    pub service_url: String,
    pub tenant_id: Option<String>,
    pub conversation_type: Option<String>,
    pub bot_id: String,
    pub user_id: Option<String>,
    pub user_aad_object_id: Option<String>,
}

/// Inserts or refreshes a reference.
pub async fn upsert(
    pool: &(impl AsPool + ?Sized),
    reference: &ConversationReference,
    now_ms: i64,
) -> sqlx::Result<()> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
        "INSERT INTO conversation_references
            (channel_id, conversation_id, service_url, tenant_id, conversation_type, bot_id,
             user_id, user_aad_object_id, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (channel_id, conversation_id) DO UPDATE SET
            service_url = excluded.service_url,
            tenant_id = COALESCE(excluded.tenant_id, conversation_references.tenant_id),
            conversation_type = COALESCE(excluded.conversation_type, conversation_references.conversation_type),
            bot_id = excluded.bot_id,
            user_id = COALESCE(excluded.user_id, conversation_references.user_id),
            user_aad_object_id = COALESCE(excluded.user_aad_object_id, conversation_references.user_aad_object_id),
            updated_at = excluded.updated_at",
    )
    .bind(&reference.channel_id)
    .bind(&reference.conversation_id)
    .bind(&reference.service_url)
    .bind(&reference.tenant_id)
    .bind(&reference.conversation_type)
    .bind(&reference.bot_id)
    .bind(&reference.user_id)
    .bind(&reference.user_aad_object_id)
    .bind(now_ms)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// The stored reference of a conversation.
pub async fn find(
    pool: &(impl AsPool + ?Sized),
    channel_id: &str,
    conversation_id: &str,
) -> sqlx::Result<Option<ConversationReference>> {
    crate::db!(pool.on(), |c| {
        sqlx::query(
            "SELECT channel_id, conversation_id, service_url, tenant_id, conversation_type, bot_id,
                user_id, user_aad_object_id
         FROM conversation_references WHERE channel_id = $1 AND conversation_id = $2",
        )
        .bind(channel_id)
        .bind(conversation_id)
        .fetch_optional(c)
        .await?
        .map(|r| {
            Ok(ConversationReference {
                channel_id: r.try_get("channel_id")?,
                conversation_id: r.try_get("conversation_id")?,
                service_url: r.try_get("service_url")?,
                tenant_id: r.try_get("tenant_id")?,
                conversation_type: r.try_get("conversation_type")?,
                bot_id: r.try_get("bot_id")?,
                user_id: r.try_get("user_id")?,
                user_aad_object_id: r.try_get("user_aad_object_id")?,
            })
        })
        .transpose()
    })
}
