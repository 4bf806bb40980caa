//! The Teams side of engine effects: invitation cards sent and updated in place, chatrooms
//! opened (a Graph group chat, or the agent's personal chat with the bot) and closed, customer
//! messages posted into the chatroom, and the after-contact-work card. Each effect is turned
//! into outbox calls in one transaction with marking it done, so none is lost or doubled. The
//! engine hands the effects over after its commit; different sessions are carried out in
//! parallel, each session's effects in the order the engine produced them (its lane), which
//! keeps a chatroom's card, the customer's first message and everything after it in order.
//!
//! `handle` turns one effect into calls; `chatroom` opens and closes chatrooms and builds the
//! after-contact-work card.

mod chatroom;
mod handle;
mod whatsapp;

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppState};
use crate::botframework::activity::Activity;
use crate::botframework::connector::ConnectorCall;
use crate::botframework::service_url::ServiceUrl;
use crate::cards::data::{Parameter, UserText};
use crate::cards::markdown;
use crate::engine::effects::{self, EffectId, EffectState, Handed};
use crate::engine::messages::{Brief, Effect};

use crate::outbox::lanes::Lanes;

use self::handle::handle;

/// Effects under way at once (each of a different session or agent).
pub const PARALLEL: usize = 16;

/// Attempts at one effect before it is set aside as failed.
const MAX_ATTEMPTS: u32 = 5;

/// The pause after a first failed attempt, doubled after each further one.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// What an effect's order is kept with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Session(String),
    Agent(String),
}

/// A lane: a tenant's session or agent.
type Lane = (String, Subject);

/// Where a Teams effect belongs: its session (with the agent it concerns), or only an agent.
enum Target<'a> {
    Session {
        session: &'a str,
        user: &'a str,
    },
    Agent {
        user: &'a str,
    },
    /// Not a Teams effect (never handed to this worker).
    None,
}

fn target(effect: &Effect) -> Target<'_> {
    match effect {
        Effect::SendInvitation { session, user, .. }
        | Effect::UpdateInvitation { session, user, .. }
        | Effect::OpenChatroom { session, user, .. }
        | Effect::RelayToAgent { session, user, .. }
        | Effect::NoteToAgent { session, user, .. }
        | Effect::CloseChatroom { session, user, .. }
        | Effect::HandOver { session, user, .. } => Target::Session { session, user },
        Effect::InvitationUnavailable { user, .. } | Effect::AgentState { user, .. } => {
            Target::Agent { user }
        }
        Effect::ToCustomer { .. }
        | Effect::QueuePosition { .. }
        | Effect::CollectInformation { .. }
        | Effect::HttpRequest { .. }
        | Effect::Report(_) => Target::None,
    }
}

/// Puts handed-over effects in their lanes: a session's effects in its lane, in order. An
/// agent's own effects (ACW, RONA) come after what the same command did to the agent's chats,
/// in the lane of the agent's latest session while it has work (the ACW card names the chat
/// whose chatroom was just closed), else in the agent's lane.
#[derive(Default)]
struct Router {
    /// The session of each (tenant, agent)'s latest session effect.
    latest_session: HashMap<(String, String), String>,
}

impl Router {
    fn route(&mut self, lanes: &mut Lanes<Lane, Handed>, batch: Vec<Handed>) {
        let mut held: Vec<Handed> = Vec::new();
        let mut command: Option<(String, i64)> = None;
        for handed in batch {
            if command
                .as_ref()
                .is_none_or(|(t, seq)| *t != handed.tenant || *seq != handed.seq)
            {
                self.route_agents(lanes, &mut held);
                command = Some((handed.tenant.clone(), handed.seq));
            }
            match target(&handed.effect) {
                Target::Session { session, user } => {
                    let session = session.to_owned();
                    self.latest_session
                        .insert((handed.tenant.clone(), user.to_owned()), session.clone());
                    lanes.push((handed.tenant.clone(), Subject::Session(session)), handed);
                }
                Target::Agent { .. } | Target::None => held.push(handed),
            }
        }
        self.route_agents(lanes, &mut held);
    }

    fn route_agents(&self, lanes: &mut Lanes<Lane, Handed>, held: &mut Vec<Handed>) {
        for handed in held.drain(..) {
            let user = match target(&handed.effect) {
                Target::Agent { user } | Target::Session { user, .. } => user.to_owned(),
                Target::None => String::new(),
            };
            let tenant = handed.tenant.clone();
            let lane = self
                .latest_session
                .get(&(tenant.clone(), user.clone()))
                .map(|session| (tenant.clone(), Subject::Session(session.clone())))
                .filter(|lane| lanes.is_active(lane))
                .unwrap_or((tenant, Subject::Agent(user)));
            lanes.push(lane, handed);
        }
    }
}

/// What woke the worker.
enum Wake {
    Stop,
    Arrived,
    Finished(Option<Lane>),
    Blocked(Option<String>),
}

/// Runs until `shutdown`: carries out the Teams effects the engine hands over, up to
/// [`PARALLEL`] at once, each session's (and each agent's) in order.
pub async fn run(app: AppState, shutdown: CancellationToken) {
    let inbox = app.effects.teams();
    let mut lanes: Lanes<Lane, Handed> = Lanes::default();
    let mut router = Router::default();
    let mut running: JoinSet<()> = JoinSet::new();
    let mut under_way: HashMap<tokio::task::Id, Lane> = HashMap::new();
    let mut blocked = app.outbox.take_blocked();
    loop {
        router.route(&mut lanes, inbox.take(usize::MAX));
        while running.len() < PARALLEL {
            let Some((lane, handed)) = lanes.next() else {
                break;
            };
            let worker = app.clone();
            let task = running.spawn(async move { carry_out(&worker, handed).await });
            under_way.insert(task.id(), lane);
        }
        let wake = tokio::select! {
            () = shutdown.cancelled() => Wake::Stop,
            () = inbox.arrived() => Wake::Arrived,
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => {
                        tracing::error!(error = %e, "a Teams effect task ended abnormally");
                        e.id()
                    }
                };
                Wake::Finished(under_way.remove(&id))
            }
            conversation = next_blocked(&mut blocked) => Wake::Blocked(conversation),
        };
        match wake {
            Wake::Stop => break,
            Wake::Arrived | Wake::Finished(None) => {}
            Wake::Finished(Some(lane)) => lanes.finish(&lane),
            Wake::Blocked(None) => blocked = None,
            Wake::Blocked(Some(conversation)) => {
                if let Err(e) = super::agents::unregister_conversation(&app, &conversation).await {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "unregistering a blocked user failed"
                    );
                }
            }
        }
    }
    // What is under way is rolled back (each effect commits with its outbox calls) and
    // carried out after the next start.
    running.abort_all();
    while running.join_next().await.is_some() {}
}

async fn next_blocked(
    blocked: &mut Option<tokio::sync::mpsc::UnboundedReceiver<String>>,
) -> Option<String> {
    match blocked {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Carries one effect out, trying again after failures; sets it aside after
/// [`MAX_ATTEMPTS`]. Only its lane waits meanwhile.
async fn carry_out(app: &App, handed: Handed) {
    let mut pause = RETRY_AFTER;
    for attempt in 1..=MAX_ATTEMPTS {
        match handle(app, &handed).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(
                effect.id = %handed.id,
                attempt,
                error = format!("{e:#}"),
                "a Teams effect failed"
            ),
        }
        if attempt < MAX_ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    let _ = effects::finish(&app.pool, handed.id, EffectState::Failed).await;
    tracing::error!(
        effect.id = %handed.id,
        "a Teams effect was set aside after repeated failures"
    );
}

async fn done(tx: &mut crate::store::WriteTransaction, id: EffectId) -> sqlx::Result<()> {
    effects::finish(tx, id, EffectState::Done).await
}

/// Marks an effect done that needs nothing sent.
async fn skip(app: &App, id: EffectId) -> anyhow::Result<()> {
    effects::finish(&app.pool, id, EffectState::Done).await?;
    Ok(())
}

pub(crate) fn send(conversation: &str, activity: Activity) -> ConnectorCall {
    ConnectorCall::Send {
        conversation_id: conversation.to_owned(),
        activity,
    }
}

/// Queues one activity and marks the effect done, in one transaction.
async fn post_one(
    app: &App,
    id: EffectId,
    service_url: &str,
    conversation: &str,
    activity: Activity,
) -> anyhow::Result<()> {
    let url = ServiceUrl::parse(service_url)?;
    let mut tx = crate::store::begin_write(&app.pool).await?;
    app.outbox
        .enqueue(&mut tx, &url, &send(conversation, activity))
        .await?;
    done(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}

/// The workflow parameters of a brief, as card facts.
fn parameters(brief: &Brief) -> Vec<Parameter> {
    brief
        .parameters
        .iter()
        .map(|(k, v)| Parameter {
            name: k.clone(),
            value: UserText::new(v.clone()),
        })
        .collect()
}

/// A customer's message in markdown, attributed to `who`: nothing they wrote is formatting,
/// and the addresses in it are links showing their target.
pub fn attributed(who: &str, text: &str) -> Activity {
    let mut activity = Activity::message(format!(
        "**{}**: {}",
        markdown::escape(who),
        markdown::hard_breaks(&markdown::escape_with_links(text))
    ));
    activity.text_format = Some("markdown".into());
    activity
}

/// A notice from Switchboard in a chatroom, set apart from the customer's messages.
pub fn notice(text: &str) -> Activity {
    let mut activity = Activity::message(format!("⚠️ _{}_", markdown::escape(text)));
    activity.text_format = Some("markdown".into());
    activity
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::messages::AgentStateChange;

    fn handed(id: i64, seq: i64, effect: Effect) -> Handed {
        Handed {
            id: EffectId::from_raw(id),
            tenant: "t".into(),
            seq,
            effect,
        }
    }

    fn session(lane: &str) -> Lane {
        ("t".into(), Subject::Session(lane.into()))
    }

    fn drain(lanes: &mut Lanes<Lane, Handed>) -> Vec<(Lane, i64)> {
        let mut out = Vec::new();
        while let Some((lane, h)) = lanes.next() {
            out.push((lane.clone(), h.id.get()));
            lanes.finish(&lane);
        }
        out
    }

    #[test]
    fn the_acw_of_a_closed_chat_follows_its_chatroom_close_in_the_sessions_lane() {
        let mut lanes = Lanes::default();
        let mut router = Router::default();
        let acw = Effect::AgentState {
            user: "anne".into(),
            state: AgentStateChange::Acw { until: 1 },
        };
        let close = Effect::CloseChatroom {
            session: "s1".into(),
            user: "anne".into(),
            ended_by: crate::engine::messages::EndedBy::Customer,
        };
        // The engine emits the agent's ACW before the chatroom's close in the same command.
        router.route(
            &mut lanes,
            vec![handed(1, 7, acw.clone()), handed(2, 7, close)],
        );
        let first = lanes.next().expect("close");
        assert_eq!((first.0.clone(), first.1.id.get()), (session("s1"), 2));
        assert!(lanes.next().is_none(), "the ACW waits for the close");
        lanes.finish(&first.0);
        assert_eq!(drain(&mut lanes), [(session("s1"), 1)]);
        // With no chat under way, an agent's effects go to the agent's own lane.
        router.route(&mut lanes, vec![handed(3, 8, acw)]);
        assert_eq!(
            drain(&mut lanes),
            [(("t".into(), Subject::Agent("anne".into())), 3)]
        );
    }

    #[test]
    fn two_sessions_go_in_two_lanes() {
        let mut lanes = Lanes::default();
        let mut router = Router::default();
        let relay = |s: &str| Effect::RelayToAgent {
            session: s.into(),
            user: "anne".into(),
            text: "hi".into(),
            seq: None,
        };
        router.route(
            &mut lanes,
            vec![
                handed(1, 1, relay("s1")),
                handed(2, 2, relay("s1")),
                handed(3, 3, relay("s2")),
            ],
        );
        let a = lanes.next().expect("s1");
        let b = lanes.next().expect("s2 in parallel");
        assert_eq!((a.1.id.get(), b.1.id.get()), (1, 3));
        assert!(lanes.next().is_none(), "s1's second waits for its first");
    }
}
