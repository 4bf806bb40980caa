//! Agents and the bot: install / uninstall (recorded through [`crate::registration`]), and
//! the personal-chat commands (typed with a leading `/` while a chat is open in the personal
//! chat: see [`super::relay`]).

use crate::app::App;
use crate::botframework::activity::{Activity, InboundActivity};
use crate::cards::data::{AgentStatus, BotHelp};
use crate::demo::{DEMO_SERVICES, DEMO_TENANT};
use crate::directory::model::{Service, User, UserLicenses};
use crate::directory::store::{self as docs, Kind, StoreError};
use crate::engine::messages::Command;
use crate::engine::sync::{Scope, sync};
use crate::store::AsPool;
use crate::store::registrations::{self, ChosenPresence, Registration};

use super::card_activity;

/// The user an activity comes from: the directory id (Entra object id) and the channel id.
pub struct Actor {
    pub tenant: String,
    pub user_id: String,
    pub channel_user_id: String,
    pub name: Option<String>,
}

/// Registers the sender of a personal-chat install event and welcomes them. Install events
/// come in pairs (installationUpdate and conversationUpdate): a user already registered in this
/// conversation is not registered or welcomed again.
pub async fn register(app: &App, actor: &Actor, inbound: &InboundActivity) -> anyhow::Result<()> {
    let (activity, service_url, conversation) = (
        &inbound.activity,
        &inbound.service_url,
        inbound.conversation_id.as_str(),
    );
    let reg = Registration {
        tenant_id: actor.tenant.clone(),
        user_id: actor.user_id.clone(),
        channel_user_id: actor.channel_user_id.clone(),
        conversation_id: conversation.to_owned(),
        service_url: service_url.as_str().to_owned(),
        bot_id: activity
            .recipient
            .as_ref()
            .map(|r| r.id.clone())
            .unwrap_or_default(),
        registered: true,
        presence: ChosenPresence::Available,
        locale: activity.locale.clone().filter(|l| l.len() <= 20),
    };
    if app.settings.is_anonymous() && actor.tenant == DEMO_TENANT {
        join_demo(app, actor, app.clock.now_ms()).await?;
    }
    crate::registration::enroll(app, &reg).await?;
    Ok(())
}

/// Unregisters whoever is registered in a personal conversation (the Connector said the user
/// blocked or uninstalled the bot).
pub async fn unregister_conversation(app: &App, conversation: &str) -> anyhow::Result<()> {
    let users: Vec<(String, String)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "SELECT tenant_id, user_id FROM registrations WHERE conversation_id = $1 AND registered",
        )
        .bind(conversation)
        .fetch_all(c)
        .await
    })?;
    for (tenant, user) in users {
        crate::registration::unregister(app, &tenant, &user).await?;
    }
    Ok(())
}

/// Demo mode: every registering user becomes an agent of the demo services "Support" and
/// "WhatsApp support" (of the seeded demo tenant only).
async fn join_demo(app: &App, actor: &Actor, now: i64) -> anyhow::Result<()> {
    // Only the seeded demo: a tenant imported in dev mode keeps the members its file names.
    if !crate::demo::is_seeded_demo(&app.pool, &actor.tenant).await? {
        return Ok(());
    }
    if docs::get::<User>(&app.pool, &actor.tenant, Kind::User, &actor.user_id)
        .await?
        .is_none()
    {
        let user = User {
            id: actor.user_id.clone(),
            upn: actor.channel_user_id.clone(),
            display_name: actor.name.clone().unwrap_or_else(|| "Agent".into()),
            licenses: UserLicenses {
                im: true,
                interact: false,
            },
            capacity: 1,
            active_in: DEMO_SERVICES.iter().map(|s| (*s).to_owned()).collect(),
            on_duty: true,
            interact: Default::default(),
        };
        match docs::put(
            &app.pool,
            &actor.tenant,
            Kind::User,
            &user.id,
            &user,
            None,
            now,
        )
        .await
        {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for service in DEMO_SERVICES {
        join_service(app, &actor.tenant, service, &actor.user_id, now).await?;
    }
    Ok(())
}

/// Adds `user` to `service`'s members (nothing when the service is gone or has them).
async fn join_service(
    app: &App,
    tenant: &str,
    service: &str,
    user: &str,
    now: i64,
) -> anyhow::Result<()> {
    for _ in 0..3 {
        let Some(mut doc) = docs::get::<Service>(&app.pool, tenant, Kind::Service, service).await?
        else {
            return Ok(());
        };
        if !doc.value.members.insert(user.to_owned()) {
            return Ok(());
        }
        match docs::put(
            &app.pool,
            tenant,
            Kind::Service,
            service,
            &doc.value,
            Some(doc.version),
            now,
        )
        .await
        {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("the demo service {service} kept changing while joining it")
}

/// A personal-chat command and its answer (an activity to send back). `in_chat`: a chatroom is
/// open in the personal chat, so commands are typed with a leading `/` (and said so).
pub async fn command(
    app: &App,
    actor: &Actor,
    text: &str,
    in_chat: bool,
) -> anyhow::Result<Activity> {
    let word = text.trim().trim_start_matches('/').to_ascii_lowercase();
    let reg = registrations::registration_of(
        &mut *app.hot_reads.conn().await,
        &actor.tenant,
        &actor.user_id,
    )
    .await?;
    if !reg.as_ref().is_some_and(|r| r.registered) {
        return help(
            app,
            Some(
                "You are not registered with Switchboard, so you get no chats. Register on your \
                 preferences page, or remove and add the app again.",
            ),
        );
    }
    let slash = if in_chat { "/" } else { "" };
    let now = app.clock.now_ms();
    let notice = match word.as_str() {
        "status" => None,
        chosen @ ("available" | "away") => {
            let presence = ChosenPresence::from_word(chosen).unwrap_or_default();
            registrations::set_presence(&app.pool, &actor.tenant, &actor.user_id, presence, now)
                .await?;
            sync(
                &app.pool,
                &app.engines,
                &actor.tenant,
                Scope::User(&actor.user_id),
            )
            .await?;
            Some(if presence == ChosenPresence::Available {
                "You receive chats again".to_owned()
            } else {
                format!("Chats are paused until you say {slash}available")
            })
        }
        "back" => {
            back(app, &actor.tenant, &actor.user_id).await?;
            Some("Welcome back: you receive chats again".to_owned())
        }
        "help" => return help(app, None),
        // During a chat these are answered by the relay; here no chat is open.
        "chats" | "end" => return Ok(Activity::message("You have no open chat here.")),
        w if w == "switch" || w.starts_with("switch ") => {
            return Ok(Activity::message("You have no open chat here."));
        }
        _ if in_chat => {
            return help(
                app,
                Some("Sorry, I did not understand that. Nothing was sent to the customer."),
            );
        }
        _ => return help(app, Some("Sorry, I did not understand that.")),
    };
    if let Some(problem) =
        crate::registration::agent_problem(app, &actor.tenant, &actor.user_id).await?
    {
        return Ok(Activity::message(problem));
    }
    Ok(card_activity(
        status_card(app, &actor.tenant, &actor.user_id, notice.as_deref()).await?,
    ))
}

/// Clears the user's RONA flag.
pub async fn back(app: &App, tenant: &str, user: &str) -> anyhow::Result<()> {
    let engine = app.engines.get(tenant).await?;
    engine
        .send(Command::RonaReset {
            user: user.to_owned(),
        })
        .await?;
    Ok(())
}

fn help(app: &App, notice: Option<&str>) -> anyhow::Result<Activity> {
    Ok(card_activity(app.cards.render_data_memo(&BotHelp {
        notice: notice.map(str::to_owned),
        preferences_url: app.preferences_url(),
    })?))
}

/// The status card of a user.
pub async fn status_card(
    app: &App,
    tenant: &str,
    user: &str,
    notice: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let engine = app.engines.get(tenant).await?;
    let agent = engine.agent(user).await?;
    let services: Vec<String> = docs::list::<Service>(&app.pool, tenant, Kind::Service)
        .await?
        .into_iter()
        .filter(|s| s.value.members.contains(user))
        .map(|s| s.value.name)
        .collect();
    let reg = registrations::registration_of(&app.pool, tenant, user).await?;
    let now = app.clock.now_ms();
    let (state, sessions, capacity, on_duty) = match &agent {
        Some(a) => {
            let state = if a.rona_until.is_some_and(|t| t > now) {
                "rona"
            } else if a.acw_until.is_some_and(|t| t > now) {
                "acw"
            } else if a.ringing.is_some() {
                "ringing"
            } else if !a.connected.is_empty() {
                "inChat"
            } else {
                "free"
            };
            (
                state,
                a.connected.len() as u64,
                u64::from(a.capacity),
                a.on_duty,
            )
        }
        None => ("free", 0, 1, true),
    };
    Ok(app.cards.render_data(&AgentStatus {
        notice: notice.map(str::to_owned),
        presence: reg
            .map_or(ChosenPresence::Available, |r| r.presence)
            .as_str()
            .to_owned(),
        state: state.into(),
        sessions,
        capacity,
        on_duty,
        services,
    })?)
}
