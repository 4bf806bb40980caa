//! Files between agent and customer.
//!
//! Agent → customer: a file the agent attaches in their personal chat with the bot (the
//! personal-chat chatroom) reaches the bot as a `file.download.info` attachment with a
//! pre-authenticated `downloadUrl`. It is fetched (only from SharePoint or an allowed service
//! host, no redirects, within `interact.upload_max_bytes`), checked like a customer's upload
//! (type from its name, and that the bytes are of that type), stored with the session and sent
//! to the customer as a link. Teams gives a bot no file attached in a group chat: the agent is
//! told so, and nothing is lost silently.
//!
//! Customer → agent: an upload's message (a link to `/api/interact/v1/files/{id}`) is shown to
//! the agent as a file card (name, size, type, an image inline, and until when the link works:
//! `interact.file_link_hours`).

use serde_json::{Value, json};

use crate::app::App;
use crate::botframework::activity::Activity;
use crate::cards::markdown;
use crate::customer::files::{self, StoredFile};

/// What Teams attaches for a file in a personal chat.
pub const DOWNLOAD_INFO: &str = "application/vnd.microsoft.teams.file.download.info";

/// A file the agent sent, stored: the customer's link to it.
pub struct Sent {
    pub name: String,
    pub size: usize,
    pub link: String,
}

/// The type of a file by its name's extension, among those a customer may be sent.
fn type_of(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        _ => return None,
    })
}

/// Whether the bot may fetch `url`: SharePoint (where Teams keeps files), or a host the
/// service URLs allow (a mock in tests).
fn may_fetch(app: &App, url: &url::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let sharepoint = url.scheme() == "https"
        && [".sharepoint.com", ".sharepoint.us", ".sharepoint-df.com"]
            .iter()
            .any(|s| host.ends_with(s));
    sharepoint
        || app
            .settings
            .bot
            .allowed_service_urls
            .allows_str(&format!("{}/", url.origin().ascii_serialization()))
}

pub fn human_size(bytes: usize) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// The link to a stored file.
pub fn link(app: &App, id: &str) -> String {
    format!("{}/api/interact/v1/files/{id}", app.public_base)
}

/// Fetches, checks and stores the files of an agent's message for the customer of
/// `session`; what was sent, and why anything was not.
pub async fn from_agent(
    app: &App,
    tenant: &str,
    session: &str,
    activity: &Activity,
) -> anyhow::Result<(Vec<Sent>, Vec<String>)> {
    let mut sent = Vec::new();
    let mut refused = Vec::new();
    for a in activity.attachments.iter().flatten() {
        if a.content_type != DOWNLOAD_INFO {
            continue;
        }
        let name: String = a
            .name
            .clone()
            .unwrap_or_else(|| "file".into())
            .chars()
            .filter(|c| !c.is_control())
            .take(120)
            .collect();
        let url = a
            .content
            .as_ref()
            .and_then(|c| c.get("downloadUrl"))
            .and_then(Value::as_str)
            .and_then(|u| url::Url::parse(u).ok());
        let allowed = &app.settings.interact.file_types;
        let Some(content_type) = type_of(&name).filter(|t| allowed.contains(t)) else {
            refused.push(format!(
                "{name}: only these types can be sent: {}",
                allowed.join(", ")
            ));
            continue;
        };
        let Some(url) = url.filter(|u| may_fetch(app, u)) else {
            refused.push(format!(
                "{name}: Teams gave no address the file can be fetched from"
            ));
            continue;
        };
        let max = app.settings.interact.upload_max_bytes;
        let bytes = match fetch(&app.http, &url, max).await {
            Ok(bytes) => bytes,
            Err(why) => {
                refused.push(format!("{name}: {why}"));
                continue;
            }
        };
        if !files::looks_like(content_type, &bytes) {
            refused.push(format!("{name}: its content is not a {content_type} file"));
            continue;
        }
        let file = StoredFile {
            id: uuid::Uuid::new_v4().simple().to_string(),
            name: name.clone(),
            content_type: content_type.to_owned(),
            bytes,
        };
        files::store(&app.pool, tenant, session, &file, app.clock.now_ms()).await?;
        tracing::info!(session.id = %session, file.size = file.bytes.len(), "agent sent a file");
        sent.push(Sent {
            link: link(app, &file.id),
            size: file.bytes.len(),
            name,
        });
    }
    Ok((sent, refused))
}

async fn fetch(client: &reqwest::Client, url: &url::Url, max: usize) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|_| "it could not be fetched from Teams".to_owned())?;
    if !response.status().is_success() {
        return Err(format!(
            "Teams answered {} when it was fetched",
            response.status().as_u16()
        ));
    }
    let too_large = || format!("it is larger than {}", human_size(max));
    if response.content_length().is_some_and(|l| l > max as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| "it could not be fetched from Teams".to_owned())?
    {
        if bytes.len() + chunk.len() > max {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A customer's message that is an upload's link: the card the agent is shown instead.
pub async fn upload_card(app: &App, customer: &str, text: &str) -> anyhow::Result<Option<Value>> {
    let prefix = format!("{}/api/interact/v1/files/", app.public_base);
    let Some(id) = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&prefix))
        .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return Ok(None);
    };
    let Some((file, created_at)) = files::find_meta(&app.pool, id).await? else {
        return Ok(None);
    };
    let until =
        created_at + i64::try_from(app.settings.interact.file_link.as_millis()).unwrap_or(i64::MAX);
    let until = chrono::DateTime::from_timestamp_millis(until)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let url = link(app, id);
    let mut body = vec![
        json!({"type": "TextBlock", "wrap": true,
               "text": format!("**{}** sent a file", markdown::escape(customer))}),
        json!({"type": "FactSet", "facts": [
            {"title": "Name", "value": markdown::escape(&file.name)},
            {"title": "Size", "value": human_size(file.size)},
            {"title": "Type", "value": file.content_type},
        ]}),
    ];
    if file.content_type.starts_with("image/") {
        body.push(json!({"type": "Image", "url": url, "altText": file.name, "size": "Large"}));
    }
    body.push(
        json!({"type": "TextBlock", "wrap": true, "isSubtle": true, "size": "Small",
                     "text": format!("The link works until {until}.")}),
    );
    Ok(Some(json!({
        "type": "AdaptiveCard", "version": "1.5", "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": "Open", "url": url}],
    })))
}
