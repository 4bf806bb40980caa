//! The one way the directory reaches a tenant's engine: stored documents (and, for users,
//! their bot registration) become `Upsert*` commands. Every edge that changes or reads the
//! directory for the engine goes through [`sync`]: the admin API after a write, a tenant file
//! import and the boot ([`Scope::Tenant`]), the bot and the Preferences page for one user, the
//! customer API before a session starts. This module decides nothing; the engine does.

use serde_json::Value;

use crate::directory::calendar::Calendar;
use crate::directory::model::{Service, Tenant, User};
use crate::directory::store::{self as docs, Kind};
use crate::distribution::Presence;
use crate::engine::messages::Command;
use crate::engine::registry::Engines;
use crate::store::AsPool;
use crate::store::registrations::{self, ChosenPresence};

/// What of a tenant's directory its engine is brought in step with.
pub enum Scope<'a> {
    /// Everything stored: settings, calendars, workflows, services, users, in that order
    /// (after an import; at boot for every resumed engine, so that a file imported while the
    /// service was stopped takes effect). Documents the engine already holds unchanged cost
    /// no log write.
    Tenant,
    /// One user: the services they are a member of, then the user with their registration
    /// (registered, presence). Nothing, and no engine started, when the directory does not
    /// know the user.
    User(&'a str),
    /// A document an admin just stored (`before`: the value it replaced). A service also
    /// brings every member it had or has, as [`Scope::User`] does.
    Stored {
        kind: Kind,
        before: Option<&'a Value>,
        after: &'a Value,
    },
    /// The service a customer session is about to start in, as the contact lookup read it:
    /// its workflow and calendars as stored (skipped when absent), then the service itself.
    SessionService(&'a Service),
}

/// Brings `tenant`'s engine in step with `scope` of its stored directory.
pub async fn sync(
    pool: &(impl AsPool + ?Sized),
    engines: &Engines,
    tenant: &str,
    scope: Scope<'_>,
) -> anyhow::Result<()> {
    match scope {
        Scope::Tenant => sync_tenant(pool, engines, tenant).await,
        Scope::User(user) => sync_user(pool, engines, tenant, user).await,
        Scope::Stored {
            kind,
            before,
            after,
        } => sync_stored(pool, engines, tenant, kind, before, after).await,
        Scope::SessionService(service) => {
            sync_session_service(pool, engines, tenant, service).await
        }
    }
}

async fn sync_tenant(
    pool: &(impl AsPool + ?Sized),
    engines: &Engines,
    tenant: &str,
) -> anyhow::Result<()> {
    let engine = engines.get(tenant).await?;
    if let Some(t) = docs::get::<Tenant>(pool, tenant, Kind::Tenant, tenant).await? {
        engine
            .send(Command::UpsertTenant {
                tenant: Box::new(t.value),
            })
            .await?;
    }
    for c in docs::list::<Calendar>(pool, tenant, Kind::Calendar).await? {
        engine
            .send(Command::UpsertCalendar {
                calendar: Box::new(c.value),
            })
            .await?;
    }
    for w in docs::list::<Value>(pool, tenant, Kind::Workflow).await? {
        engine
            .send(Command::UpsertWorkflow { document: w.value })
            .await?;
    }
    for s in docs::list::<Service>(pool, tenant, Kind::Service).await? {
        engine
            .send(Command::UpsertService {
                service: Box::new(s.value),
            })
            .await?;
    }
    for u in docs::list::<User>(pool, tenant, Kind::User).await? {
        engine
            .send(upsert_user(pool, tenant, u.value).await?)
            .await?;
    }
    Ok(())
}

async fn sync_stored(
    pool: &(impl AsPool + ?Sized),
    engines: &Engines,
    tenant: &str,
    kind: Kind,
    before: Option<&Value>,
    after: &Value,
) -> anyhow::Result<()> {
    let engine = engines.get(tenant).await?;
    match kind {
        // Read where they are used: the engine does not route by them.
        Kind::CannedAnswer => {}
        Kind::Service => {
            let service: Service = serde_json::from_value(after.clone())?;
            engine
                .send(Command::UpsertService {
                    service: Box::new(service.clone()),
                })
                .await?;
            let mut members = service.members.clone();
            if let Some(before) =
                before.and_then(|b| serde_json::from_value::<Service>(b.clone()).ok())
            {
                members.extend(before.members);
            }
            for user in members {
                sync_user(pool, engines, tenant, &user).await?;
            }
        }
        Kind::User => {
            let id = after["id"].as_str().unwrap_or_default();
            sync_user(pool, engines, tenant, id).await?;
        }
        Kind::Workflow => {
            engine
                .send(Command::UpsertWorkflow {
                    document: after.clone(),
                })
                .await?;
        }
        Kind::Calendar => {
            let calendar: Calendar = serde_json::from_value(after.clone())?;
            engine
                .send(Command::UpsertCalendar {
                    calendar: Box::new(calendar),
                })
                .await?;
        }
        Kind::Tenant => {
            let tenant: Tenant = serde_json::from_value(after.clone())?;
            engine
                .send(Command::UpsertTenant {
                    tenant: Box::new(tenant),
                })
                .await?;
        }
    }
    Ok(())
}

async fn sync_session_service(
    pool: &(impl AsPool + ?Sized),
    engines: &Engines,
    tenant: &str,
    service: &Service,
) -> anyhow::Result<()> {
    let engine = engines.get(tenant).await?;
    if let Some(workflow) = &service.workflow
        && let Some(doc) = docs::get::<Value>(pool, tenant, Kind::Workflow, workflow).await?
    {
        engine
            .send(Command::UpsertWorkflow {
                document: doc.value,
            })
            .await?;
    }
    for calendar in [&service.calendars.primary, &service.calendars.secondary]
        .into_iter()
        .flatten()
    {
        if let Some(doc) = docs::get::<Calendar>(pool, tenant, Kind::Calendar, calendar).await? {
            engine
                .send(Command::UpsertCalendar {
                    calendar: Box::new(doc.value),
                })
                .await?;
        }
    }
    engine
        .send(Command::UpsertService {
            service: Box::new(service.clone()),
        })
        .await?;
    Ok(())
}

/// The services `user` belongs to first, then the user (registered, presence).
async fn sync_user(
    pool: &(impl AsPool + ?Sized),
    engines: &Engines,
    tenant: &str,
    user: &str,
) -> anyhow::Result<()> {
    let Some(u) = docs::get::<User>(pool, tenant, Kind::User, user).await? else {
        return Ok(());
    };
    let engine = engines.get(tenant).await?;
    for service in docs::list::<Service>(pool, tenant, Kind::Service).await? {
        if service.value.members.contains(user) {
            engine
                .send(Command::UpsertService {
                    service: Box::new(service.value),
                })
                .await?;
        }
    }
    engine
        .send(upsert_user(pool, tenant, u.value).await?)
        .await?;
    Ok(())
}

/// The engine command that tells it about a directory user and their registration.
async fn upsert_user(
    pool: &(impl AsPool + ?Sized),
    tenant: &str,
    user: User,
) -> anyhow::Result<Command> {
    let reg = registrations::registration_of(pool, tenant, &user.id).await?;
    Ok(Command::UpsertUser {
        registered: reg.as_ref().is_some_and(|r| r.registered),
        presence: match reg.as_ref().map(|r| r.presence) {
            Some(ChosenPresence::Away) => Presence::Away,
            _ => Presence::Available,
        },
        user: Box::new(user),
    })
}
