//! Supervision of live chats — which the product we model does not offer. A service's
//! `supervisors` type `chats` in their personal chat with the bot: the live chats of their
//! services, each with **Monitor** (both sides mirrored into their personal chat, in order),
//! **Whisper** (a note in the agent's chat only, marked as such; never the customer's),
//! **Barge in** (added to the Graph group chat — their messages there reach the customer with
//! their name; in the personal-chat fallback what they write in their personal chat goes to
//! the customer as from the service — and the customer is told they joined) and **Take over**
//! (the chat is theirs at once, no acceptance). Only a supervisor of the chat's service may
//! act; every action is logged with who and when (`supervision_log`, in the transcript).

use serde_json::{Value, json};

use crate::app::App;
use crate::botframework::activity::Activity;
use crate::botframework::connector::ConnectorCall;
use crate::botframework::service_url::ServiceUrl;
use crate::cards::markdown;
use crate::customer::store::{self as customer_store, CustomerEvent};
use crate::directory::model::{Service, User};
use crate::directory::store::{self as docs, Kind};
use crate::engine::messages::{Command, Effect, SessionState};
use crate::store::registrations;
use crate::store::{AsConn, AsPool, On};

use super::agents::Actor;
use super::answer::{Answer, Handled, string_field};
use super::store::{self, Chatroom};

pub const MONITOR: &str = "im.supervise.monitor";
pub const WHISPER: &str = "im.supervise.whisper";
pub const BARGE: &str = "im.supervise.barge";
pub const TAKE_OVER: &str = "im.supervise.takeover";

/// Whether `verb` is a supervision button.
pub fn is_verb(verb: &str) -> bool {
    [MONITOR, WHISPER, BARGE, TAKE_OVER].contains(&verb)
}

pub(super) async fn display_name(app: &App, tenant: &str, user: &str) -> anyhow::Result<String> {
    Ok(docs::get::<User>(&app.pool, tenant, Kind::User, user)
        .await?
        .map_or_else(|| user.to_owned(), |u| u.value.display_name))
}

/// The services `actor` supervises.
async fn supervised(app: &App, actor: &Actor) -> anyhow::Result<Vec<Service>> {
    Ok(
        docs::list::<Service>(&app.pool, &actor.tenant, Kind::Service)
            .await?
            .into_iter()
            .map(|d| d.value)
            .filter(|s| s.supervisors.contains(&actor.user_id))
            .collect(),
    )
}

/// `chats`: the card of the live chats `actor` supervises; `None` when they supervise nothing.
pub async fn chats(app: &App, actor: &Actor) -> anyhow::Result<Option<Value>> {
    let services = supervised(app, actor).await?;
    if services.is_empty() {
        return Ok(None);
    }
    let live = app.engines.get(&actor.tenant).await?.live().await?;
    let mut body = vec![
        json!({"type": "TextBlock", "text": "Live chats", "weight": "Bolder",
                               "size": "Medium", "wrap": true}),
    ];
    let mut shown = 0;
    for session in live
        .sessions
        .iter()
        .filter(|s| services.iter().any(|v| v.id == s.service))
    {
        let service = services
            .iter()
            .find(|v| v.id == session.service)
            .map_or("", |v| v.name.as_str());
        let room = store::chatroom_of(&app.pool, &session.id)
            .await?
            .filter(|r| r.closed_at.is_none());
        let customer = room.as_ref().map_or_else(
            || "A customer".to_owned(),
            |r| r.brief.customer.display_name.clone(),
        );
        let state = match (&session.state, &session.agent) {
            (SessionState::Connected, Some(agent)) => {
                format!("with {}", display_name(app, &actor.tenant, agent).await?)
            }
            (SessionState::Queued, _) => format!(
                "waiting {} s",
                session.waiting_seconds.unwrap_or(session.age_seconds)
            ),
            _ => "in the workflow".to_owned(),
        };
        let line = format!(
            "**{}** – {} – {state} – {} min",
            markdown::escape(&customer),
            markdown::escape(service),
            session.age_seconds / 60
        );
        body.push(json!({"type": "TextBlock", "text": line, "wrap": true, "separator": true}));
        if room.is_some() && session.state == SessionState::Connected {
            let data = json!({"sessionId": session.id});
            let button = |title: &str, verb: &str| json!({"type": "Action.Execute", "title": title, "verb": verb, "data": data});
            body.push(json!({"type": "ActionSet", "actions": [
                button("Monitor", MONITOR),
                {"type": "Action.ShowCard", "title": "Whisper", "card": {
                    "type": "AdaptiveCard", "version": "1.5",
                    "body": [{"type": "Input.Text", "id": "whisper", "label": "To the agent only",
                              "isMultiline": true, "maxLength": 2000, "isRequired": true,
                              "errorMessage": "Write the note"}],
                    "actions": [button("Whisper", WHISPER)]}},
                button("Barge in", BARGE),
                button("Take over", TAKE_OVER),
            ]}));
        }
        shown += 1;
    }
    if shown == 0 {
        body.push(json!({"type": "TextBlock", "wrap": true, "isSubtle": true,
                         "text": "No live chats in your services now."}));
    }
    Ok(Some(
        json!({"type": "AdaptiveCard", "version": "1.5", "body": body}),
    ))
}

/// The open chat `data.sessionId` names, when `actor` supervises its service.
async fn authorized(app: &App, actor: &Actor, data: &Value) -> Handled<Chatroom> {
    let Some(session) = string_field(data, "sessionId") else {
        return Ok(Err("This chat is not valid."));
    };
    let Some(room) = store::chatroom_of(&app.pool, &session)
        .await?
        .filter(|r| r.tenant_id == actor.tenant && r.closed_at.is_none())
    else {
        return Ok(Err("This chat has ended."));
    };
    // By the service's id: names are neither unique nor required, and a direct chat has none.
    let supervises = match &room.brief.service_id {
        Some(id) => supervised(app, actor).await?.iter().any(|s| &s.id == id),
        None => false,
    };
    Ok(if supervises {
        Ok(room)
    } else {
        Err("Only a supervisor of this chat's service can do this.")
    })
}

async fn record(app: &App, actor: &Actor, session: &str, action: &str) -> anyhow::Result<()> {
    let now = app.clock.now_ms();
    crate::db!(app.pool.on(), |c| {
        sqlx::query(
            "INSERT INTO supervision_log (tenant_id, session_id, user_id, action, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&actor.tenant)
        .bind(session)
        .bind(&actor.user_id)
        .bind(action)
        .bind(now)
        .execute(c)
        .await?;
    });
    tracing::info!(session.id = %session, supervision.action = action, "supervisor acted on a chat");
    Ok(())
}

/// `/reply TEXT` in the chat `room`: the agent answers the supervisor who last whispered in it,
/// in the supervisor's personal chat with the bot; never the customer. What the agent is told.
pub async fn reply(
    app: &App,
    actor: &Actor,
    room: &Chatroom,
    answer: &str,
) -> anyhow::Result<String> {
    let answer: String = answer.trim().chars().take(2000).collect();
    if answer.is_empty() {
        return Ok("Nothing was sent: write /reply and your answer to the supervisor.".into());
    }
    let whisperer: Option<(String,)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "SELECT user_id FROM supervision_log WHERE tenant_id = $1 AND session_id = $2
             AND action = 'whisper' ORDER BY at DESC LIMIT 1",
        )
        .bind(&actor.tenant)
        .bind(&room.session_id)
        .fetch_optional(c)
        .await
    })?;
    let Some((supervisor,)) = whisperer else {
        return Ok("Nothing was sent: no supervisor whispered in this chat.".into());
    };
    let Some(reg) = registrations::registered(&app.pool, &actor.tenant, &supervisor).await? else {
        return Ok("Nothing was sent: the supervisor cannot be reached in Teams now.".into());
    };
    let me = display_name(app, &actor.tenant, &actor.user_id).await?;
    let mut line = Activity::message(format!(
        "↩ **{}** answers your whisper (chat with {}): {}",
        markdown::escape(&me),
        markdown::escape(&room.brief.customer.display_name),
        markdown::escape(&answer)
    ));
    line.text_format = Some("markdown".into());
    post(app, &reg.service_url, &reg.conversation_id, line).await?;
    let name = display_name(app, &actor.tenant, &supervisor).await?;
    Ok(format!(
        "Sent to {} only; the customer does not see it.",
        markdown::escape(&name)
    ))
}

/// Posts `activity` into a conversation through the outbox.
async fn post(
    app: &App,
    service_url: &str,
    conversation: &str,
    activity: Activity,
) -> anyhow::Result<()> {
    let url = ServiceUrl::parse(service_url)?;
    let call = ConnectorCall::Send {
        conversation_id: conversation.to_owned(),
        activity,
    };
    app.outbox.send(&url, &call).await?;
    Ok(())
}

/// Starts mirroring the chat of `room` into `actor`'s personal chat.
async fn monitor(app: &App, actor: &Actor, room: &Chatroom) -> Handled<()> {
    let Some(reg) = registrations::registered(&app.pool, &actor.tenant, &actor.user_id).await?
    else {
        return Ok(Err(
            "Install the bot in Teams first: the chat is mirrored into your chat with it.",
        ));
    };
    let now = app.clock.now_ms();
    crate::db!(app.pool.on(), |c| {
        sqlx::query(
            "INSERT INTO chat_monitors (session_id, user_id, tenant_id, conversation_id, service_url, since)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&room.session_id)
        .bind(&actor.user_id)
        .bind(&actor.tenant)
        .bind(&reg.conversation_id)
        .bind(&reg.service_url)
        .bind(now)
        .execute(c)
        .await?;
    });
    Ok(Ok(()))
}

/// Whether `actor` supervises the chat of `room` now: its service (by id) lists them and they
/// are a user of the tenant. A supervisor who barged into a group chat stays a member of it in
/// Teams after losing the right; what they write there is relayed only while this holds.
pub async fn supervises_now(app: &App, actor: &Actor, room: &Chatroom) -> anyhow::Result<bool> {
    let mut conn = app.hot_reads.conn().await;
    let sql = format!(
        "SELECT CAST(1 AS BIGINT) FROM (SELECT $1 AS session_id, $2 AS user_id, $3 AS tenant_id) s
         WHERE {}",
        still_supervises(&conn.conn())
    );
    let found: Option<(i64,)> = crate::db!(conn.conn(), |c| {
        sqlx::query_as(&sql)
            .bind(&room.session_id)
            .bind(&actor.user_id)
            .bind(&actor.tenant)
            .fetch_optional(c)
            .await
    })?;
    drop(conn);
    Ok(found.is_some())
}

/// A supervision button.
pub async fn act(app: &App, actor: &Actor, verb: &str, data: &Value) -> anyhow::Result<Answer> {
    let room = match authorized(app, actor, data).await? {
        Ok(room) => room,
        Err(why) => return Ok(Answer::Message(why.into())),
    };
    let me = display_name(app, &actor.tenant, &actor.user_id).await?;
    let customer = room.brief.customer.display_name.clone();
    let answer = match verb {
        MONITOR => match monitor(app, actor, &room).await? {
            Ok(()) => format!(
                "You now see the chat with {customer} in your chat with the bot, both sides as they write."
            ),
            Err(why) => return Ok(Answer::Message(why.into())),
        },
        WHISPER => {
            let text: String = string_field(data, "whisper")
                .unwrap_or_default()
                .trim()
                .chars()
                .take(2000)
                .collect();
            if text.is_empty() {
                return Ok(Answer::Message("Write the note to whisper.".into()));
            }
            let mut note = Activity::message(format!(
                "🔒 **Whisper from {}** (only you see this, not the customer; answer with /reply \
                 and your text): {}",
                markdown::escape(&me),
                markdown::escape(&text)
            ));
            note.text_format = Some("markdown".into());
            post(app, &room.service_url, &room.conversation_id, note).await?;
            "Whispered to the agent.".to_owned()
        }
        BARGE => {
            if room.mode == store::GROUP {
                if let Err(e) = app
                    .graph
                    .add_chat_member(&actor.tenant, &room.conversation_id, &actor.user_id)
                    .await
                {
                    tracing::warn!(session.id = %room.session_id, error = %e, "adding a supervisor to a chatroom failed");
                    return Ok(Answer::Message(
                        "You could not be added to the chat now: try again.".into(),
                    ));
                }
            } else {
                let Some(reg) =
                    registrations::registered(&app.pool, &actor.tenant, &actor.user_id).await?
                else {
                    return Ok(Answer::Message("Install the bot in Teams first.".into()));
                };
                let now = app.clock.now_ms();
                app.barge_in_conversations.add(&reg.conversation_id);
                crate::db!(app.pool.on(), |c| {
                    sqlx::query(
                        "INSERT INTO chat_barge_ins (session_id, user_id, tenant_id, conversation_id, at)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(&room.session_id)
                    .bind(&actor.user_id)
                    .bind(&actor.tenant)
                    .bind(&reg.conversation_id)
                    .bind(now)
                    .execute(c)
                    .await?;
                });
                let _ = monitor(app, actor, &room).await?;
            }
            let mut joined = Activity::message(format!(
                "**{}** (supervisor) joined this chat.",
                markdown::escape(&me)
            ));
            joined.text_format = Some("markdown".into());
            post(app, &room.service_url, &room.conversation_id, joined).await?;
            let event = CustomerEvent::Message {
                from: "service".into(),
                text: format!("{me} joined the chat."),
                name: None,
                html: None,
            };
            if customer_store::append_unless_ended(
                &app.pool,
                &room.session_id,
                &event,
                app.clock.now_ms(),
            )
            .await?
            .is_some()
            {
                app.events.notify(&room.session_id);
            }
            if room.mode == store::GROUP {
                format!(
                    "You joined the chat with {customer}: what you write there reaches the customer."
                )
            } else {
                format!(
                    "You joined the chat with {customer}: what you write here now reaches the customer \
                     (as the service), and you see both sides here. Commands start with /."
                )
            }
        }
        TAKE_OVER => {
            let engine = app.engines.get(&actor.tenant).await?;
            if !engine
                .agent(&actor.user_id)
                .await?
                .is_some_and(|a| a.registered)
            {
                return Ok(Answer::Message(
                    "To take a chat over, install the bot and be an agent of the tenant.".into(),
                ));
            }
            let effects = engine
                .send(Command::TakeOver {
                    session: room.session_id.clone(),
                    user: actor.user_id.clone(),
                })
                .await?;
            // Only a hand-over the engine made is a take-over (the chat may have ended or
            // changed hands meanwhile, or be theirs already): anything else is neither
            // claimed nor logged.
            let took = effects.iter().any(|e| {
                matches!(e, Effect::OpenChatroom { session, user, .. }
                    if *session == room.session_id && *user == actor.user_id)
            });
            if !took {
                return Ok(Answer::Message(format!(
                    "The chat with {customer} could not be taken over: it has ended, or it is already yours."
                )));
            }
            format!("The chat with {customer} is yours: it opens in a new chat.")
        }
        _ => {
            return Ok(Answer::Message(
                "This button is not known to Switchboard.".into(),
            ));
        }
    };
    record(
        app,
        actor,
        &room.session_id,
        verb.trim_start_matches("im.supervise."),
    )
    .await?;
    Ok(Answer::Message(answer))
}

/// The condition, on a row `s` of `chat_monitors` or `chat_barge_ins`, that its supervisor
/// still supervises the chat's service: the service (by the id in the chatroom's brief) lists
/// them and they are still a user of the tenant. Checked at every mirrored line and barged
/// message, so removing a supervisor, or deleting the user, ends their supervision at once,
/// whichever way the directory changed (admin API, import).
const STILL_SUPERVISES: &str = "EXISTS (
    SELECT 1 FROM chatrooms c
    JOIN directory_documents svc ON svc.tenant_id = c.tenant_id AND svc.kind = 'service'
        AND svc.id = json_extract(c.brief, '$.serviceId')
    JOIN directory_documents u ON u.tenant_id = c.tenant_id AND u.kind = 'user' AND u.id = s.user_id
    WHERE c.session_id = s.session_id AND c.tenant_id = s.tenant_id
      AND EXISTS (SELECT 1 FROM json_each(svc.body, '$.supervisors') WHERE json_each.value = s.user_id))";

/// [`STILL_SUPERVISES`] on PostgreSQL. `@>` rather than `jsonb_array_elements_text`, which
/// fails on a `supervisors` that is null or not an array where SQLite's `json_each` yields no
/// rows.
const STILL_SUPERVISES_PG: &str = "EXISTS (
    SELECT 1 FROM chatrooms c
    JOIN directory_documents svc ON svc.tenant_id = c.tenant_id AND svc.kind = 'service'
        AND svc.id = (CAST(c.brief AS jsonb) ->> 'serviceId')
    JOIN directory_documents u ON u.tenant_id = c.tenant_id AND u.kind = 'user' AND u.id = s.user_id
    WHERE c.session_id = s.session_id AND c.tenant_id = s.tenant_id
      AND (CAST(svc.body AS jsonb) -> 'supervisors') @> jsonb_build_array(s.user_id))";

/// [`STILL_SUPERVISES`] in the dialect of the backend `on`.
pub(super) fn still_supervises<S, P>(on: &On<S, P>) -> &'static str {
    on.pick(STILL_SUPERVISES, STILL_SUPERVISES_PG)
}

/// The personal chats (`conversation, service URL`) the chat `session` is mirrored into, of
/// the monitors who still supervise it. Asked for every message relayed either way: on the hot
/// read connection, not through the pool.
async fn monitors(app: &App, session: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut conn = app.hot_reads.conn().await;
    let sql = format!(
        "SELECT conversation_id, service_url FROM chat_monitors s
         WHERE session_id = $1 AND {}",
        still_supervises(&conn.conn())
    );
    Ok(crate::db!(conn.conn(), |c| {
        sqlx::query_as(&sql).bind(session).fetch_all(c).await
    })?)
}

/// Mirrors a line of the chat `session` to its monitors (`who` wrote `text`).
pub async fn mirror(app: &App, session: &str, who: &str, text: &str) -> anyhow::Result<()> {
    let monitors = monitors(app, session).await?;
    for (conversation, service_url) in monitors {
        let mut line = Activity::message(format!(
            "👁 **{}**: {}",
            markdown::escape(who),
            markdown::hard_breaks(&markdown::escape_with_links(text))
        ));
        line.text_format = Some("markdown".into());
        post(app, &service_url, &conversation, line).await?;
    }
    Ok(())
}

/// The chat ended: its monitors are told and its supervision ends.
pub async fn chat_ended(app: &App, session: &str, customer: &str) -> anyhow::Result<()> {
    let monitors = monitors(app, session).await?;
    for (conversation, service_url) in monitors {
        let text = format!("👁 The chat with {} has ended.", markdown::escape(customer));
        post(app, &service_url, &conversation, Activity::message(text)).await?;
    }
    crate::db!(app.pool.on(), |c| {
        sqlx::query("DELETE FROM chat_monitors WHERE session_id = $1")
            .bind(session)
            .execute(c)
            .await?;
    });
    crate::db!(app.pool.on(), |c| {
        sqlx::query("DELETE FROM chat_barge_ins WHERE session_id = $1")
            .bind(session)
            .execute(c)
            .await?;
    });
    Ok(())
}
