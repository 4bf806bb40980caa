//! Registering with the bot from the Preferences page, and the page's body.
//!
//! Register: a user whose registration was ended keeps their personal chat, so they are
//! simply registered again there. Otherwise the bot is installed for them with Graph
//! (reference §5, `POST /users/{id}/teamwork/installedApps`; 409 = already installed) and the
//! personal chat is opened with the Connector (`POST /v3/conversations` with the user's Entra
//! object id, which Teams accepts in personal scope once the app is installed). The install
//! events Teams then sends land on the same conversation and change nothing (registration is
//! an atomic conditional upsert), so the welcome card is sent once.

use std::collections::HashMap;

use serde_json::json;

use crate::app::App;
use crate::botframework::activity::{ChannelAccount, ConversationParameters};
use crate::botframework::service_url::ServiceUrl;
use crate::graph::GraphError;
use crate::http::html::escape_html;
use crate::store::AsPool;
use crate::store::registrations::{self, ChosenPresence, Registration};

use super::sessions::WebSession;

/// How a Register press ended (the code goes into the page's `done` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOutcome {
    Registered,
    AlreadyRegistered,
    /// Installed; Teams' install event will complete the registration.
    Installing,
    NotConsented,
    InstallNotConfigured,
    TeamsUnavailable,
    Failed,
}

impl RegisterOutcome {
    pub fn code(self) -> &'static str {
        match self {
            RegisterOutcome::Registered => "registered",
            RegisterOutcome::AlreadyRegistered => "already_registered",
            RegisterOutcome::Installing => "installing",
            RegisterOutcome::NotConsented => "not_consented",
            RegisterOutcome::InstallNotConfigured => "install_not_configured",
            RegisterOutcome::TeamsUnavailable => "teams_unavailable",
            RegisterOutcome::Failed => "failed",
        }
    }
}

/// Registers the signed-in user with the bot.
pub async fn register(app: &App, who: &WebSession) -> RegisterOutcome {
    match try_register(app, who).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, tenant.id = %who.tenant_id, user.id = %who.user_id, "registration from preferences failed");
            RegisterOutcome::Failed
        }
    }
}

async fn try_register(app: &App, who: &WebSession) -> anyhow::Result<RegisterOutcome> {
    let (tenant, user) = (&who.tenant_id, &who.user_id);
    if let Some(mut reg) = registrations::registration_of(&app.pool, tenant, user).await? {
        if reg.registered {
            return Ok(RegisterOutcome::AlreadyRegistered);
        }
        reg.registered = true;
        crate::registration::enroll(app, &reg).await?;
        return Ok(RegisterOutcome::Registered);
    }
    let installed = match app.graph.install_for_user(tenant, user).await {
        Ok(installed) => installed,
        Err(GraphError::NotConfigured) => return Ok(RegisterOutcome::InstallNotConfigured),
        Err(e) if e.needs_consent() => return Ok(RegisterOutcome::NotConsented),
        Err(e) => {
            tracing::warn!(error = %e, tenant.id = %tenant, "installing the bot for a user failed");
            return Ok(RegisterOutcome::TeamsUnavailable);
        }
    };
    let Some(app_id) = app.settings.bot.app_id() else {
        return Ok(RegisterOutcome::InstallNotConfigured);
    };
    let service_url = tenant_service_url(app, tenant).await?;
    let parameters = ConversationParameters {
        is_group: Some(false),
        bot: Some(ChannelAccount {
            id: format!("28:{app_id}"),
            ..ChannelAccount::default()
        }),
        members: vec![ChannelAccount {
            id: user.clone(),
            aad_object_id: Some(user.clone()),
            ..ChannelAccount::default()
        }],
        tenant_id: Some(tenant.clone()),
        channel_data: Some(json!({"tenant": {"id": tenant}})),
        ..ConversationParameters::default()
    };
    let conversation = match app
        .connector
        .create_conversation(&service_url, &parameters)
        .await
    {
        Ok(c) => c,
        Err(e) if installed => {
            // Teams has not caught up with the installation yet; its install event will
            // register the user.
            tracing::info!(error = %e, tenant.id = %tenant, "personal chat not open yet after install");
            return Ok(RegisterOutcome::Installing);
        }
        Err(e) => {
            tracing::warn!(error = %e, tenant.id = %tenant, "opening the personal chat failed");
            return Ok(RegisterOutcome::TeamsUnavailable);
        }
    };
    let reg = Registration {
        tenant_id: tenant.clone(),
        user_id: user.clone(),
        channel_user_id: String::new(),
        conversation_id: conversation.id,
        service_url: conversation
            .service_url
            .unwrap_or_else(|| service_url.as_str().to_owned()),
        bot_id: format!("28:{app_id}"),
        registered: true,
        presence: ChosenPresence::Available,
        locale: None,
    };
    crate::registration::enroll(app, &reg).await?;
    Ok(RegisterOutcome::Registered)
}

/// The Connector URL for a tenant: the one its users' install events came from, else the
/// configured default (reference §5).
async fn tenant_service_url(app: &App, tenant: &str) -> anyhow::Result<ServiceUrl> {
    let known: Option<String> = crate::db!(app.pool.on(), |c| {
        sqlx::query_scalar(
            "SELECT service_url FROM registrations WHERE tenant_id = $1 ORDER BY updated_at DESC LIMIT 1",
        )
        .bind(tenant)
        .fetch_optional(c)
        .await
    })?;
    let raw = known.unwrap_or_else(|| app.settings.bot.service_url.as_str().to_owned());
    Ok(ServiceUrl::parse(&raw)?)
}

fn notice(done: &str) -> Option<(&'static str, &'static str)> {
    Some(match done {
        "registered" => (
            "ok",
            "You are registered. The bot has sent you a welcome message in Teams.",
        ),
        "already_registered" => ("ok", "You were already registered."),
        "installing" => (
            "ok",
            "The bot is being installed for you in Teams; it will welcome you there in a moment.",
        ),
        "not_consented" => (
            "warn",
            "Switchboard may not install the bot for you: your organisation's admin has not \
             granted its permissions yet. Ask them to, or add the Switchboard app in Teams \
             yourself — that registers you too.",
        ),
        "install_not_configured" => (
            "warn",
            "This Switchboard cannot install the bot for you (its Teams app id is not \
             configured). Add the Switchboard app in Teams yourself — that registers you too.",
        ),
        "teams_unavailable" => (
            "error",
            "Microsoft Teams could not be reached. Nothing was changed; try again in a minute.",
        ),
        "failed" => (
            "error",
            "Something went wrong on our side. Please try again.",
        ),
        "unregistered" => (
            "ok",
            "You are unregistered: no chats will be offered to you. The bot stays in Teams.",
        ),
        "consented" => (
            "ok",
            "Thank you: the permissions are granted for your organisation.",
        ),
        "consent_refused" => (
            "warn",
            "The permissions were not granted. You can try again at any time.",
        ),
        _ => return None,
    })
}

fn form(action: &str, csrf: &str, label: &str, class: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" \
         value=\"{}\"><button class=\"{class}\" type=\"submit\">{label}</button></form>",
        escape_html(csrf)
    )
}

/// The body of the page for a signed-in user.
pub async fn render(
    app: &App,
    who: &WebSession,
    query: &HashMap<String, String>,
) -> anyhow::Result<String> {
    let mut body = String::from("<h1>Switchboard preferences</h1>");
    if !who.display_name.is_empty() {
        body.push_str(&format!(
            "<p>Signed in as <b>{}</b>.</p>",
            escape_html(&who.display_name)
        ));
    }
    if let Some((class, text)) = query.get("done").and_then(|d| notice(d)) {
        body.push_str(&format!(
            "<p class=\"state {class}\" role=\"status\">{}</p>",
            escape_html(text)
        ));
    }
    body.push_str("<h2>IM chat bot</h2>");
    let reg = registrations::registration_of(&app.pool, &who.tenant_id, &who.user_id).await?;
    if reg.as_ref().is_some_and(|r| r.registered) {
        body.push_str(
            "<p class=\"state ok\" id=\"registration\">You are <b>registered</b>: chat \
             invitations reach you in Teams.</p>",
        );
        if let Some(problem) =
            crate::registration::agent_problem(app, &who.tenant_id, &who.user_id).await?
        {
            body.push_str(&format!(
                "<p class=\"state warn\">{}</p>",
                escape_html(&problem)
            ));
        }
        body.push_str(&form(
            "/preferences/unregister",
            &who.csrf_token,
            "Unregister",
            "secondary",
        ));
    } else {
        body.push_str(
            "<p class=\"state\" id=\"registration\">You are <b>not registered</b>: no chats are \
             offered to you. Register to receive chat invitations from the Switchboard bot in \
             Teams.</p>",
        );
        body.push_str(&form(
            "/preferences/register",
            &who.csrf_token,
            "Register",
            "",
        ));
    }
    if who.is_admin {
        body.push_str("<h2>Your organisation</h2>");
        match crate::store::consents::consent_of(&app.pool, &who.tenant_id).await? {
            Some(at) => body.push_str(&format!(
                "<p class=\"state ok\">Permissions granted on {}.</p>",
                chrono::DateTime::from_timestamp_millis(at)
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default()
            )),
            None => body.push_str(
                "<p class=\"state warn\">Switchboard needs your consent to create chatrooms \
                 (group chats) in Teams and to install its bot for your users.</p>",
            ),
        }
        body.push_str(&form(
            "/preferences/consent/start",
            &who.csrf_token,
            "Grant permissions",
            "",
        ));
    }
    body.push_str(&format!(
        "<footer>{}</footer>",
        form(
            "/preferences/signout",
            &who.csrf_token,
            "Sign out",
            "secondary"
        )
    ));
    Ok(body)
}
