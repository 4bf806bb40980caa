//! The agent's side of WhatsApp's 24-hour window: the templates card's Send template button.
//! The chosen approved template (checked against the tenant's list, with as many values as
//! its body has placeholders) is added to the session's events; the WhatsApp courier sends it
//! whether the window is open or not, and the transcript shows it as the agent's.

use serde_json::Value;

use super::agents::Actor;
use super::answer::Answer;
use super::store;
use crate::app::App;
use crate::customer::store::{self as customer_store, CustomerEvent};
use crate::directory::model::User;
use crate::directory::store::{self as docs, Kind};

/// Values per template at most, and characters per value.
const MAX_VALUES: usize = 10;
const MAX_VALUE_CHARS: usize = 500;

/// `im.whatsapp.template`: sends the chosen template to the customer of the chat.
pub async fn send_template(app: &App, actor: &Actor, data: &Value) -> anyhow::Result<Answer> {
    let say = |text: &str| Ok(Answer::Message(text.to_owned()));
    let Some(session) = data["sessionId"].as_str() else {
        return say("This chat is not valid.");
    };
    let Some(room) = store::chatroom_of(&app.pool, session).await? else {
        return say("This chat is not valid.");
    };
    if room.user_id != actor.user_id || room.tenant_id != actor.tenant {
        return say("This chat is someone else's.");
    }
    if room.closed_at.is_some() {
        return say("This chat has ended: nothing was sent.");
    }
    let Some((name, language)) = data["template"].as_str().and_then(|t| t.split_once('|')) else {
        return say("Choose a template first.");
    };
    let values: Vec<String> = data["values"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(MAX_VALUE_CHARS).collect())
        .take(MAX_VALUES + 1)
        .collect();
    let mut conn = app.pool.acquire().await?;
    let credentials = crate::store::whatsapp::credentials(&mut conn, &actor.tenant).await?;
    drop(conn);
    let (Some(token), Some(account)) = (credentials.access_token, credentials.business_account_id)
    else {
        return say("The tenant's WhatsApp settings have no access token or account id.");
    };
    let templates = match app.whatsapp_cloud.templates(&token, &account).await {
        Ok(t) => t,
        Err(e) => {
            return say(&format!(
                "The templates could not be listed ({}): nothing was sent.",
                e.code()
            ));
        }
    };
    let Some(template) = templates
        .iter()
        .find(|t| t.name == name && t.language == language)
    else {
        return say("This template is not approved (any more): nothing was sent.");
    };
    if values.len() != template.parameters {
        return say(&format!(
            "“{}” needs {} value(s), one per line; you gave {}. Nothing was sent.",
            template.name,
            template.parameters,
            values.len()
        ));
    }
    let agent =
        match docs::get::<User>(&app.pool, &actor.tenant, Kind::User, &actor.user_id).await? {
            Some(u) => u.value.display_name,
            None => actor.name.clone().unwrap_or_else(|| "Agent".into()),
        };
    let event = CustomerEvent::Template {
        name: template.name.clone(),
        language: template.language.clone(),
        text: template.filled(&values),
        values,
        agent: Some(agent),
    };
    let now = app.clock.now_ms();
    if customer_store::append_unless_ended(&app.pool, session, &event, now)
        .await?
        .is_none()
    {
        return say("This chat has ended: nothing was sent.");
    }
    app.events.notify(session);
    tracing::info!(tenant.id = %actor.tenant, session.id = %session, "agent sent a WhatsApp template");
    say(&format!(
        "Template “{}” sent. When the customer answers, you can write freely again.",
        template.name
    ))
}
