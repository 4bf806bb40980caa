//! The WhatsApp templates card: offered in the chat when a customer's 24-hour window has
//! closed, with the tenant's approved templates listed from its WhatsApp Business Account.

use serde_json::Value;

use crate::app::App;
use crate::bot::invitation_cards::customer;
use crate::cards::data::{Id, TemplateChoice, WhatsAppTemplates};
use crate::engine::messages::Brief;

/// The card, or why there is none, in words for the agent.
pub(super) async fn templates_card(
    app: &App,
    tenant: &str,
    session: &str,
    brief: &Brief,
) -> Result<Value, String> {
    let credentials = match app.pool.acquire().await {
        Ok(mut conn) => crate::store::whatsapp::credentials(&mut conn, tenant)
            .await
            .map_err(|_| "The templates could not be listed right now.".to_owned())?,
        Err(_) => return Err("The templates could not be listed right now.".to_owned()),
    };
    let (Some(token), Some(account)) = (credentials.access_token, credentials.business_account_id)
    else {
        return Err("No templates to offer: the tenant's WhatsApp settings need an access token and the WhatsApp Business Account id (whatsapp.businessAccountId).".to_owned());
    };
    let templates = app
        .whatsapp_cloud
        .templates(&token, &account)
        .await
        .map_err(|e| {
            tracing::warn!(tenant.id = %tenant, error = %e.code(), "listing WhatsApp templates failed");
            format!("The templates could not be listed ({}).", e.code())
        })?;
    if templates.is_empty() {
        return Err("The WhatsApp Business Account has no approved templates.".to_owned());
    }
    let choices = templates
        .iter()
        .take(100)
        .map(|t| TemplateChoice {
            title: format!(
                "{} ({}): {}",
                t.name,
                t.language,
                t.body.chars().take(120).collect::<String>()
            ),
            value: format!("{}|{}", t.name, t.language),
        })
        .collect();
    app.cards
        .render_data(&WhatsAppTemplates {
            session: Id {
                id: session.to_owned(),
            },
            customer: customer(brief),
            templates: choices,
        })
        .map_err(|e| {
            tracing::error!(error = %e, "the WhatsApp templates card did not render");
            "The templates card could not be shown.".to_owned()
        })
}
