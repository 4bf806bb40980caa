//! Teams re-sends: an activity the bot did not answer within 15 s is sent again, with the same
//! id. A re-send must do nothing, or the customer gets the agent's message twice.
//!
//! Activities are known by (conversation id, activity id) for [`WINDOW`]: in memory while one
//! is being handled (a re-send arriving meanwhile), then in the store (`bot_activities_seen`),
//! so a re-send is recognised across a restart and by every instance sharing the database. A
//! known activity is answered 200 and nothing else.
//!
//! An activity is stored as seen once it was handled, not when it arrives: if the service dies
//! while handling it, or handling fails (answered 500), Teams' re-send is handled, so nothing
//! is lost. Two instances handling the same re-send at once remains possible while the first
//! takes over 15 s; `bot::in_order` keeps the slow part (an agent's file) out of the answer.
//!
//! An edit (`messageUpdate`) or a deletion (`messageDelete`) carries the id of the message it
//! changes, so every edit of one message has the same id: those are known by their kind, id
//! and `timestamp` (a re-send's is the same), and handled every time when they have none.
//!
//! Not deduplicated: invokes (card buttons, message-extension queries), whose answer is a
//! body only handling gives, and which Teams shows as failed rather than re-sending. Their
//! handlers act on the state, so a second press finds it changed (an invitation already
//! accepted, a chat already ended) and answers with the card of that state. Typing
//! indicators and read receipts are not either: repeating them is harmless, and they are the
//! most frequent activities, so they cost no write.
//!
//! Old rows are purged as new ones are written (one `DELETE` every [`PURGE_EVERY`] marks), so
//! an idle server writes nothing.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::botframework::activity::InboundActivity;
use crate::store::AsPool;

/// How long an activity is known after it was handled.
pub const WINDOW: Duration = Duration::from_secs(600);

/// Rows older than [`WINDOW`] are deleted once every this many marks.
const PURGE_EVERY: u32 = 256;

/// What an activity is known by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    conversation: String,
    activity: String,
}

/// The key of an activity whose re-send must do nothing; `None` for those that are handled
/// every time (see the module docs) and activities without an id.
pub fn key_of(inbound: &InboundActivity) -> Option<Key> {
    let activity = &inbound.activity;
    if matches!(activity.kind.as_str(), "invoke" | "typing" | "event") {
        return None;
    }
    let id = activity.id.as_deref().filter(|id| !id.is_empty())?;
    let activity = match activity.kind.as_str() {
        // An edit or a deletion carries the id of the message it changes, the same for every
        // edit of it: one is known by its time too (a re-send has the same), else not at all.
        kind @ ("messageUpdate" | "messageDelete") => {
            let at = activity.timestamp.as_deref().filter(|t| !t.is_empty())?;
            format!("{kind}:{id}@{at}")
        }
        _ => id.to_owned(),
    };
    Some(Key {
        conversation: inbound.conversation_id.clone(),
        activity,
    })
}

/// The activities being handled now, and when the store was last purged.
#[derive(Default)]
pub struct Resends {
    handling: Mutex<HashSet<Key>>,
    marks: AtomicU32,
}

/// An activity being handled; it is no longer while this lives (dropped).
pub struct Handling<'a> {
    resends: &'a Resends,
    key: Key,
}

impl Drop for Handling<'_> {
    fn drop(&mut self) {
        if let Ok(mut handling) = self.resends.handling.lock() {
            handling.remove(&self.key);
        }
    }
}

impl Resends {
    /// Starts handling the activity of `key`, or `None` when it is a re-send: being handled
    /// now, or handled within [`WINDOW`].
    pub async fn begin(
        &self,
        pool: &(impl AsPool + ?Sized),
        key: &Key,
        now_ms: i64,
    ) -> sqlx::Result<Option<Handling<'_>>> {
        if !self.claim(key) {
            return Ok(None);
        }
        let handling = Handling {
            resends: self,
            key: key.clone(),
        };
        let seen: Option<i64> = crate::db!(pool.on(), |c| {
            sqlx::query_scalar(
                "SELECT CAST(1 AS BIGINT) FROM bot_activities_seen
                 WHERE conversation_id = $1 AND activity_id = $2 AND seen_at >= $3",
            )
            .bind(&key.conversation)
            .bind(&key.activity)
            .bind(now_ms - window_ms())
            .fetch_optional(c)
            .await
        })?;
        Ok(seen.is_none().then_some(handling))
    }

    fn claim(&self, key: &Key) -> bool {
        match self.handling.lock() {
            Ok(mut handling) => handling.insert(key.clone()),
            // A panic while holding the set: treat the activity as new rather than lose it.
            Err(_) => true,
        }
    }

    /// Records that the activity of `handling` was handled.
    pub async fn handled(
        &self,
        pool: &(impl AsPool + ?Sized),
        handling: Handling<'_>,
        now_ms: i64,
    ) -> sqlx::Result<()> {
        crate::db!(pool.on(), |c| {
            sqlx::query(
                "INSERT INTO bot_activities_seen (conversation_id, activity_id, seen_at)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (conversation_id, activity_id) DO UPDATE SET seen_at = excluded.seen_at",
            )
            .bind(&handling.key.conversation)
            .bind(&handling.key.activity)
            .bind(now_ms)
            .execute(c)
            .await?;
        });
        if self
            .marks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(PURGE_EVERY)
        {
            let purged = crate::db!(pool.on(), |c| {
                sqlx::query("DELETE FROM bot_activities_seen WHERE seen_at < $1")
                    .bind(now_ms - window_ms())
                    .execute(c)
                    .await
                    .map(|done| done.rows_affected())
            })?;
            tracing::debug!(purged, "old handled activity ids purged");
        }
        Ok(())
    }
}

fn window_ms() -> i64 {
    i64::try_from(WINDOW.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::botframework::activity::{Activity, ConversationAccount};

    fn inbound(kind: &str, id: Option<&str>, timestamp: Option<&str>) -> InboundActivity {
        let activity = Activity {
            kind: kind.into(),
            id: id.map(str::to_owned),
            timestamp: timestamp.map(str::to_owned),
            service_url: Some("https://smba.trafficmanager.net/amer/".into()),
            conversation: Some(ConversationAccount {
                id: "a:chat".into(),
                ..ConversationAccount::default()
            }),
            ..Activity::default()
        };
        InboundActivity::validate(activity).expect("valid")
    }

    fn key(kind: &str, id: Option<&str>, timestamp: Option<&str>) -> Option<String> {
        key_of(&inbound(kind, id, timestamp)).map(|k| format!("{}|{}", k.conversation, k.activity))
    }

    #[test]
    fn messages_are_known_by_conversation_and_id_and_edits_by_their_time_too() {
        assert_eq!(key("message", Some("1"), None).as_deref(), Some("a:chat|1"));
        assert_eq!(key("message", None, None), None);
        assert_eq!(key("message", Some(""), None), None);
        assert_eq!(
            key("messageUpdate", Some("1"), Some("2026-12-08T10:00:01Z")).as_deref(),
            Some("a:chat|messageUpdate:1@2026-12-08T10:00:01Z")
        );
        assert_eq!(key("messageDelete", Some("1"), None), None);
    }

    #[test]
    fn invokes_typing_and_events_are_handled_every_time() {
        for kind in ["invoke", "typing", "event"] {
            assert_eq!(key(kind, Some("1"), None), None, "{kind}");
        }
    }
}
