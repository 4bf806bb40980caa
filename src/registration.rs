//! A user's registration with the bot, the same from wherever it is made (the bot on install
//! and uninstall, the Preferences page): the registration is stored, the user welcomed in
//! their personal chat (through the outbox, in the same transaction), and the engine brought
//! in step ([`crate::engine::sync`]). Serves no HTTP and reads no activity: the edges do.

use crate::botframework::activity::{Activity, card_activity};
use crate::cards::CardCatalog;
use crate::cards::data::RegistrationWelcome;
use crate::clock::Clock;
use crate::directory::model::User;
use crate::directory::store::{self as docs, Kind};
use crate::engine::registry::Engines;
use crate::engine::sync::{Scope, sync};
use crate::outbox::Outbox;
use crate::store::Pool;
use crate::store::registrations::{self, Registration};

/// What a registration needs of the application: the store, the clock, the engines, the
/// outbox and the cards the welcome is rendered with, and the Preferences page's address. The
/// application's `App` converts into it, so the edges pass themselves.
#[derive(Clone)]
pub struct Deps<'a> {
    pub pool: &'a Pool,
    pub clock: &'a dyn Clock,
    pub engines: &'a Engines,
    pub outbox: &'a Outbox,
    pub cards: &'a CardCatalog,
    pub preferences_url: String,
}

/// Records a registration and welcomes the user in its conversation. Returns `false` when the
/// user was already registered there (nothing is sent again).
pub async fn enroll<'a>(app: impl Into<Deps<'a>>, reg: &Registration) -> anyhow::Result<bool> {
    let app = app.into();
    let service_url = crate::botframework::service_url::ServiceUrl::parse(&reg.service_url)?;
    let welcome = card_activity(app.cards.render_data(&RegistrationWelcome {
        preferences_url: app.preferences_url.clone(),
    })?);
    let mut tx = crate::store::begin_write(app.pool).await?;
    if !registrations::put_registration(&mut tx, reg, app.clock.now_ms()).await? {
        // The other install event of the pair (or the Preferences page) got here first.
        return Ok(false);
    }
    let call = |activity| crate::botframework::connector::ConnectorCall::Send {
        conversation_id: reg.conversation_id.clone(),
        activity,
    };
    app.outbox
        .enqueue(&mut tx, &service_url, &call(welcome))
        .await?;
    if let Some(problem) = agent_problem(app.clone(), &reg.tenant_id, &reg.user_id).await? {
        app.outbox
            .enqueue(&mut tx, &service_url, &call(Activity::message(problem)))
            .await?;
    }
    tx.commit().await?;
    sync(
        app.pool,
        app.engines,
        &reg.tenant_id,
        Scope::User(&reg.user_id),
    )
    .await?;
    tracing::info!(tenant.id = %reg.tenant_id, user.id = %reg.user_id, "user registered with the bot");
    Ok(true)
}

/// Ends a user's registration (uninstall, or the Connector refusing writes to them).
pub async fn unregister<'a>(
    app: impl Into<Deps<'a>>,
    tenant: &str,
    user: &str,
) -> anyhow::Result<()> {
    let app = app.into();
    let Some(mut reg) = registrations::registration_of(app.pool, tenant, user).await? else {
        return Ok(());
    };
    reg.registered = false;
    let mut conn = app.pool.acquire().await?;
    registrations::put_registration(&mut conn, &reg, app.clock.now_ms()).await?;
    drop(conn);
    sync(app.pool, app.engines, tenant, Scope::User(user)).await?;
    tracing::info!(tenant.id = %tenant, user.id = %user, "user unregistered from the bot");
    Ok(())
}

/// Why a registered user will not get chats, in words for them (`None`: they will).
pub async fn agent_problem<'a>(
    app: impl Into<Deps<'a>>,
    tenant: &str,
    user: &str,
) -> anyhow::Result<Option<String>> {
    let app = app.into();
    let Some(u) = docs::get::<User>(app.pool, tenant, Kind::User, user).await? else {
        return Ok(Some(
            "You are registered, but Switchboard does not know you as an agent yet: ask your \
             Switchboard admin to add you to a service."
                .into(),
        ));
    };
    if !u.value.licenses.im {
        return Ok(Some(
            "You are registered, but you do not have the IM license, so no chats are offered to \
             you: ask your Switchboard admin."
                .into(),
        ));
    }
    Ok(None)
}
