//! Read receipts: in a personal chat Teams tells the bot up to which message the agent has
//! read (`event` `application/vnd.microsoft.readReceipt`, `value.lastReadMessageId`; the app
//! asks for `ChatMessageReadReceipt.Read.Chat`, and users may turn receipts off). The customer
//! messages posted up to it are read: their widget shows it (`read` event, `upTo` their seq).
//! A message is read when its id is the one named or, both being numbers as Teams' are, at or
//! below it — and then so is every message posted before it in the chat.

use crate::app::App;
use crate::customer::store::{self as customer_store, CustomerEvent};
use crate::store::{AsConn, AsPool};

/// The event's name.
pub const READ_RECEIPT: &str = "application/vnd.microsoft.readReceipt";

/// Records that outbox call `outbox_id` posts customer message `seq` of `session` into
/// `conversation`.
pub async fn posted(
    conn: &mut (impl AsConn + ?Sized),
    conversation: &str,
    outbox_id: i64,
    session: &str,
    seq: i64,
) -> sqlx::Result<()> {
    crate::db!(conn.conn(), |c| {
        sqlx::query(
            "INSERT INTO agent_reads (conversation_id, outbox_id, session_id, seq) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(conversation)
        .bind(outbox_id)
        .bind(session)
        .bind(seq)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Whether the message `id` is read when the agent read up to `last`.
fn read(id: &str, last: &str) -> bool {
    id == last
        || matches!((id.parse::<u64>(), last.parse::<u64>()), (Ok(id), Ok(last)) if id <= last)
}

/// What became of a read receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// The customers were told.
    Applied,
    /// It names no message posted here that is not read yet.
    Nothing,
    /// It names none of the delivered posts, but some posts' outcomes are not recorded yet:
    /// it may name one of them (the agent read it as it appeared).
    Early,
}

/// A read receipt, applied now or, when it came before the outcome of the post it names was
/// recorded, again a little later: every 300 ms for up to 6 s, since under load the outcome of a
/// post can be recorded seconds after Teams showed it (a receipt given up on is a customer who
/// never sees "Read").
pub async fn receipt_with_retries(app: crate::app::AppState, conversation: String, last: String) {
    const ATTEMPTS: usize = 20;
    for attempt in 0..ATTEMPTS {
        match receipt(&app, &conversation, &last).await {
            Ok(Receipt::Early) if attempt + 1 < ATTEMPTS => {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "a read receipt was not applied");
                return;
            }
        }
    }
}

/// A read receipt in `conversation`: the customers of the messages read are told.
pub async fn receipt(app: &App, conversation: &str, last: &str) -> anyhow::Result<Receipt> {
    // (outbox id, session, seq, the post's id once delivered, the outbox call's state)
    let rows: Vec<(i64, String, i64, Option<String>, String)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "SELECT r.outbox_id, r.session_id, r.seq, o.result_id, o.state FROM agent_reads r
             JOIN outbox o ON o.id = r.outbox_id
             WHERE r.conversation_id = $1 AND r.read = 0
             ORDER BY r.outbox_id",
        )
        .bind(conversation)
        .fetch_all(c)
        .await
    })?;
    // The last message read; all before it in the chat are read too.
    let mut upto: Option<i64> = None;
    let mut unrecorded = false;
    for (outbox_id, _, _, id, state) in &rows {
        if state != "delivered" {
            unrecorded |= state == "pending";
            continue;
        }
        if id.as_deref().is_some_and(|id| read(id, last)) {
            upto = Some(*outbox_id);
        }
    }
    let Some(upto) = upto else {
        return Ok(if unrecorded {
            Receipt::Early
        } else {
            Receipt::Nothing
        });
    };
    let mut sessions: std::collections::BTreeMap<String, i64> = Default::default();
    for (outbox_id, session, seq, _, _) in rows {
        if outbox_id <= upto {
            let entry = sessions.entry(session).or_insert(seq);
            *entry = (*entry).max(seq);
        }
    }
    crate::db!(app.pool.on(), |c| {
        sqlx::query(
            "UPDATE agent_reads SET read = 1 WHERE conversation_id = $1 AND outbox_id <= $2",
        )
        .bind(conversation)
        .bind(upto)
        .execute(c)
        .await?;
    });
    let now = app.clock.now_ms();
    for (session, seq) in sessions {
        let event = CustomerEvent::Read { up_to: seq };
        if customer_store::append_unless_ended(&app.pool, &session, &event, now)
            .await?
            .is_some()
        {
            app.events.notify(&session);
        }
    }
    Ok(Receipt::Applied)
}

#[cfg(test)]
mod tests {
    use super::read;

    #[test]
    fn a_message_is_read_when_named_or_numerically_at_or_below() {
        assert!(read("1700000000001", "1700000000001"));
        assert!(read("1700000000000", "1700000000001"));
        assert!(!read("1700000000002", "1700000000001"));
        assert!(read("act-3", "act-3"));
        assert!(!read("act-2", "act-3"), "not numbers: only the one named");
    }
}
