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
//!
//! The cost per activity: marks that are recorded at the same time share one transaction (the
//! first caller writes every mark queued so far, the others wait for it), and the instance that
//! owns the tenants keeps the hashes of the keys the store may hold ([`Resends::load`] at
//! start or takeover, then each mark it writes), so a new activity — almost every one — is
//! known to be new without a read. The hashes are a superset of the store's keys: a key whose
//! hash is there (a re-send, or a collision) is looked up in the store as before.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::botframework::activity::InboundActivity;
use crate::store::{AsConn, AsPool};

/// How long an activity is known after it was handled.
pub const WINDOW: Duration = Duration::from_secs(600);

/// Rows older than [`WINDOW`] are deleted once every this many marks.
const PURGE_EVERY: u32 = 256;

/// Marks written in one statement at most.
const MARKS_PER_STATEMENT: usize = 256;

/// Hashes kept per generation at most (8 bytes each, about 16 MiB for both at most); past
/// that, every activity is looked up until the generation is dropped.
const MAX_KNOWN: usize = 500_000;

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

/// The activities being handled now, the marks waiting to be written, the hashes of the keys
/// the store may hold, and when the store was last purged.
#[derive(Default)]
pub struct Resends {
    handling: Mutex<HashSet<Key>>,
    marks: AtomicU32,
    /// Marks queued for the next write, with their number.
    queued: Mutex<Vec<(u64, Key, i64)>>,
    /// The number of the last mark queued.
    last_queued: AtomicU64,
    /// Every mark numbered up to this one is written.
    written: AtomicU64,
    /// One writer at a time.
    writer: tokio::sync::Mutex<()>,
    /// Answers "surely new" only once [`Resends::load`] has read the store's keys; every
    /// mark is added to it from the start, so none written meanwhile is missed.
    known: Mutex<Known>,
}

/// The hashes of the keys the store may hold: marks of this generation and the one before,
/// each generation [`WINDOW`] long, so a key is kept at least that long.
#[derive(Default)]
struct Known {
    /// Whether the store's keys were read: until then nothing is surely new.
    read: bool,
    hasher: RandomState,
    current: HashSet<u64>,
    previous: HashSet<u64>,
    /// A generation that outgrew [`MAX_KNOWN`] no longer answers "new".
    current_full: bool,
    previous_full: bool,
    started_at: i64,
}

impl Known {
    fn hash(&self, key: &Key) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Whether the store surely does not hold `key`.
    fn surely_new(&self, key: &Key) -> bool {
        let h = self.hash(key);
        self.read
            && !self.current_full
            && !self.previous_full
            && !self.current.contains(&h)
            && !self.previous.contains(&h)
    }

    fn insert(&mut self, key: &Key, now_ms: i64) {
        if now_ms - self.started_at >= window_ms() {
            self.previous = std::mem::take(&mut self.current);
            self.previous_full = std::mem::take(&mut self.current_full);
            self.started_at = now_ms;
        }
        if self.current.len() >= MAX_KNOWN {
            self.current_full = true;
            return;
        }
        let h = self.hash(key);
        self.current.insert(h);
    }
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
        let surely_new = self.known.lock().is_ok_and(|known| known.surely_new(key));
        if surely_new {
            return Ok(Some(handling));
        }
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

    /// Records that the activity of `handling` was handled; answers once that is stored.
    /// Marks recorded meanwhile by other activities are written in the same transaction.
    pub async fn handled(
        &self,
        pool: &(impl AsPool + ?Sized),
        handling: Handling<'_>,
        now_ms: i64,
    ) -> sqlx::Result<()> {
        // Known from now on (a superset may hold a key not stored yet): were the write to fail
        // here, another writer may still store this mark later, and a re-send must be looked up.
        if let Ok(mut known) = self.known.lock() {
            known.insert(&handling.key, now_ms);
        }
        let number = {
            let mut queued = self
                .queued
                .lock()
                .map_err(|_| sqlx::Error::Protocol("the queue of marks was poisoned".into()))?;
            let number = self.last_queued.fetch_add(1, Ordering::SeqCst) + 1;
            queued.push((number, handling.key.clone(), now_ms));
            number
        };
        let _writer = self.writer.lock().await;
        if self.written.load(Ordering::SeqCst) < number {
            self.write_queued(pool).await?;
        }
        // Handled (and stored) before it stops being handled: a re-send is never missed between.
        drop(handling);
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

    /// Writes every mark queued so far in one transaction (the caller holds the writer). If
    /// that fails they are queued again, for the next writer.
    async fn write_queued(&self, pool: &(impl AsPool + ?Sized)) -> sqlx::Result<()> {
        let batch = match self.queued.lock() {
            Ok(mut queued) => std::mem::take(&mut *queued),
            Err(_) => {
                return Err(sqlx::Error::Protocol(
                    "the queue of marks was poisoned".into(),
                ));
            }
        };
        let Some(last) = batch.iter().map(|(n, _, _)| *n).max() else {
            return Ok(());
        };
        // One row per key (the latest time): a statement may not update a row twice.
        let mut rows: std::collections::HashMap<&Key, i64> = std::collections::HashMap::new();
        for (_, key, at) in &batch {
            let entry = rows.entry(key).or_insert(*at);
            *entry = (*entry).max(*at);
        }
        let rows: Vec<(&Key, i64)> = rows.into_iter().collect();
        let written = async {
            let mut tx = crate::store::begin_write(pool).await?;
            for chunk in rows.chunks(MARKS_PER_STATEMENT) {
                crate::db!(tx.conn(), |c| {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO bot_activities_seen (conversation_id, activity_id, seen_at) ",
                    );
                    insert.push_values(chunk, |mut row, (key, at)| {
                        row.push_bind(&key.conversation)
                            .push_bind(&key.activity)
                            .push_bind(*at);
                    });
                    insert.push(
                        " ON CONFLICT (conversation_id, activity_id) DO UPDATE SET seen_at = excluded.seen_at",
                    );
                    insert.build().execute(c).await?;
                });
            }
            tx.commit().await
        }
        .await;
        match written {
            Ok(()) => {
                self.written.fetch_max(last, Ordering::SeqCst);
                Ok(())
            }
            Err(e) => {
                if let Ok(mut queued) = self.queued.lock() {
                    let newer = std::mem::take(&mut *queued);
                    *queued = batch;
                    queued.extend(newer);
                }
                Err(e)
            }
        }
    }

    /// Reads the keys the store holds (within [`WINDOW`]), so that new activities need no
    /// read from now on. Called by the instance that owns the tenants once it does (no other
    /// instance writes marks meanwhile: they forward activities to it).
    pub async fn load(&self, pool: &(impl AsPool + ?Sized), now_ms: i64) -> sqlx::Result<()> {
        let keys: Vec<(String, String)> = crate::db!(pool.on(), |c| {
            sqlx::query_as(
                "SELECT conversation_id, activity_id FROM bot_activities_seen WHERE seen_at >= $1",
            )
            .bind(now_ms - window_ms())
            .fetch_all(c)
            .await?
        });
        let read = keys.len();
        if let Ok(mut known) = self.known.lock() {
            for (conversation, activity) in keys {
                known.insert(
                    &Key {
                        conversation,
                        activity,
                    },
                    now_ms,
                );
            }
            known.read = true;
        }
        tracing::debug!(read, "handled activity ids loaded");
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

    fn k(id: &str) -> Key {
        Key {
            conversation: "a:chat".into(),
            activity: id.into(),
        }
    }

    #[test]
    fn a_key_marked_is_looked_up_for_at_least_a_window_and_others_are_known_new() {
        let window = window_ms();
        let mut known = Known::default();
        assert!(
            !known.surely_new(&k("1")),
            "nothing is surely new before the read"
        );
        known.read = true;
        assert!(known.surely_new(&k("1")));
        known.insert(&k("1"), 10);
        assert!(!known.surely_new(&k("1")));
        assert!(known.surely_new(&k("2")));
        // A mark made just before the generation ends is kept through the next one.
        known.insert(&k("2"), window - 1);
        known.insert(&k("3"), window);
        assert!(!known.surely_new(&k("2")), "kept one more generation");
        known.insert(&k("4"), 2 * window);
        assert!(known.surely_new(&k("1")), "dropped after two generations");
        assert!(!known.surely_new(&k("3")));
    }

    #[test]
    fn a_generation_that_outgrew_its_bound_answers_new_for_nothing() {
        let mut known = Known {
            read: true,
            ..Known::default()
        };
        known.current.extend(0..MAX_KNOWN as u64);
        known.insert(&k("x"), 1);
        assert!(!known.surely_new(&k("never marked")));
        known.insert(&k("y"), window_ms());
        assert!(
            !known.surely_new(&k("never marked")),
            "the full one is the previous now"
        );
        known.insert(&k("z"), 2 * window_ms());
        assert!(known.surely_new(&k("never marked")));
    }

    #[test]
    fn invokes_typing_and_events_are_handled_every_time() {
        for kind in ["invoke", "typing", "event"] {
            assert_eq!(key(kind, Some("1"), None), None, "{kind}");
        }
    }
}
