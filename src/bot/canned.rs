//! Canned answers in Teams: the message extension's search (`composeExtension/query`) lists
//! the answers the chat at hand may use, filled in for its customer, as cards the agent inserts
//! and sends (the relay passes a card's text on); `canned NAME` (`/canned NAME` in the
//! personal chat) sends one straight to the customer. See [`crate::directory::canned`].

use serde_json::{Value, json};

use crate::app::App;
use crate::botframework::activity::{ADAPTIVE_CARD, Activity};
use crate::cards::markdown;
use crate::directory::canned::{self, CannedAnswer, Fill};
use crate::directory::model::{Service, User};
use crate::directory::store::{self as docs, Kind};

use super::agents::Actor;
use super::answer::Relayed;
use super::at_hand;
use super::relay;
use super::store::Chatroom;
use super::teams_html::Converted;

/// The message extension's search command (the manifest's `composeExtensions` command id).
pub const COMMAND: &str = "cannedAnswers";

/// Results shown at most (Teams asks for 25 at a time).
const MAX_RESULTS: usize = 25;

/// The tenant's answers.
async fn answers(app: &App, tenant: &str) -> anyhow::Result<Vec<CannedAnswer>> {
    Ok(
        docs::list::<CannedAnswer>(&app.pool, tenant, Kind::CannedAnswer)
            .await?
            .into_iter()
            .map(|d| d.value)
            .collect(),
    )
}

/// The service of a chat, by the id its brief carries (`None`: a direct chat, or a service
/// since deleted).
struct ChatService {
    id: String,
    name: String,
    /// The name answers may scope by: the service's name when no other service of the tenant
    /// has it (case aside), else empty — names are neither unique nor required.
    scope_name: String,
}

impl ChatService {
    fn scope(&self) -> (&str, &str) {
        (&self.id, &self.scope_name)
    }
}

async fn service_of(
    app: &App,
    tenant: &str,
    room: &Chatroom,
) -> anyhow::Result<Option<ChatService>> {
    let Some(id) = &room.brief.service_id else {
        return Ok(None);
    };
    let services = docs::list::<Service>(&app.pool, tenant, Kind::Service).await?;
    let Some(service) = services.iter().find(|s| &s.value.id == id) else {
        return Ok(None);
    };
    let name = service.value.name.clone();
    let shared = services
        .iter()
        .filter(|s| s.value.name.eq_ignore_ascii_case(&name))
        .count()
        > 1;
    Ok(Some(ChatService {
        id: id.clone(),
        scope_name: if shared || name.trim().is_empty() {
            String::new()
        } else {
            name.clone()
        },
        name,
    }))
}

/// The agent's display name in the directory (`None`: not an agent of the tenant).
async fn agent_name(app: &App, actor: &Actor) -> anyhow::Result<Option<String>> {
    Ok(
        docs::get::<User>(&app.pool, &actor.tenant, Kind::User, &actor.user_id)
            .await?
            .map(|u| u.value.display_name),
    )
}

/// `composeExtension/query`: the body of the invoke response.
pub async fn query(app: &App, actor: &Actor, activity: &Activity) -> anyhow::Result<Value> {
    let value = activity.value.clone().unwrap_or(Value::Null);
    let message = |text: &str| json!({"composeExtension": {"type": "message", "text": text}});
    if value.get("commandId").and_then(Value::as_str) != Some(COMMAND) {
        return Ok(message("This app has no such search."));
    }
    let Some(agent) = agent_name(app, actor).await? else {
        return Ok(message(
            "Canned answers are for the agents of this contact center.",
        ));
    };
    // The initial run names its parameter `initialRun`; a search, the manifest's parameter.
    let search = value
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p.get("name").and_then(Value::as_str) != Some("initialRun"))
        .and_then(|p| p.get("value"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let skip = value
        .pointer("/queryOptions/skip")
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    let conversation = activity
        .conversation
        .as_ref()
        .map(|c| c.id.as_str())
        .unwrap_or_default();
    let room = at_hand::chat_at_hand(app, actor, conversation).await?;
    let service = match &room {
        Some(room) => service_of(app, &actor.tenant, room).await?,
        None => None,
    };
    let all = answers(app, &actor.tenant).await?;
    // Outside a chat every answer is offered (filled in as far as known).
    let scope = service.as_ref().map(ChatService::scope);
    let found: Vec<&CannedAnswer> = if room.is_some() {
        canned::search(&all, scope, &search, skip + MAX_RESULTS)
    } else {
        all.iter().filter(|a| a.score(&search) > 0).collect()
    };
    let fill = fill(
        room.as_ref(),
        service.as_ref().map(|s| s.name.as_str()),
        &agent,
    );
    let attachments: Vec<Value> = found
        .into_iter()
        .skip(skip)
        .take(MAX_RESULTS)
        .map(|a| result(a, &fill))
        .collect();
    if attachments.is_empty() && skip == 0 {
        return Ok(message(if all.is_empty() {
            "There are no canned answers yet: your administrator adds them."
        } else {
            "No canned answer matches."
        }));
    }
    tracing::info!(results = attachments.len(), "canned answers searched");
    Ok(json!({"composeExtension": {
        "type": "result", "attachmentLayout": "list", "attachments": attachments,
    }}))
}

fn fill<'a>(room: Option<&'a Chatroom>, service: Option<&'a str>, agent: &'a str) -> Fill<'a> {
    Fill {
        customer_name: room.map(|r| r.brief.customer.display_name.as_str()),
        customer_email: room
            .map(|r| r.brief.customer.email.as_str())
            .filter(|e| !e.is_empty()),
        service_name: service,
        agent_name: Some(agent),
    }
}

/// The longest preview text, in characters shown.
const PREVIEW_CHARS: usize = 120;

/// One search result: the card inserted (its text with the values escaped for Teams'
/// markdown) and its preview, cut from the same escaped text: Teams renders a thumbnail's text
/// as markdown and some HTML, so a customer named `<b>Eve</b>` or `[Eve](https://evil.example)`
/// is shown there as written, never as markup.
fn result(answer: &CannedAnswer, fill: &Fill<'_>) -> Value {
    let markdown = answer.render(fill, true);
    let preview = preview_text(&markdown);
    let card = json!({
        "type": "AdaptiveCard", "version": "1.5",
        "body": [{"type": "TextBlock", "text": markdown, "wrap": true}],
    });
    json!({
        "contentType": ADAPTIVE_CARD,
        "content": card,
        "preview": {"contentType": "application/vnd.microsoft.card.thumbnail",
                    "content": {"title": answer.title, "text": preview}},
    })
}

/// The first [`PREVIEW_CHARS`] characters of a card's markdown, an escape kept whole (never
/// cut after its backslash) and an escaped `<` / `>` written as an HTML entity.
fn preview_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len().min(4 * PREVIEW_CHARS));
    let mut chars = markdown.chars();
    let mut shown = 0;
    while shown < PREVIEW_CHARS {
        let Some(c) = chars.next() else { break };
        shown += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('<') => out.push_str("&lt;"),
            Some('>') => out.push_str("&gt;"),
            Some(escaped) => {
                out.push('\\');
                out.push(escaped);
            }
            None => {}
        }
    }
    out
}

/// `canned NAME` in a chat: sends the answer to the customer of `room`, and shows the agent
/// what was sent; `canned` alone lists the answers the chat may use.
pub async fn send(
    app: &App,
    actor: &Actor,
    room: &Chatroom,
    activity: &Activity,
    name: &str,
) -> anyhow::Result<Relayed> {
    let all = answers(app, &actor.tenant).await?;
    let service = service_of(app, &actor.tenant, room).await?;
    let scope = service.as_ref().map(ChatService::scope);
    let usable: Vec<&CannedAnswer> = all.iter().filter(|a| a.serves(scope)).collect();
    let list = |answers: &[&CannedAnswer]| {
        answers
            .iter()
            .take(15)
            .map(|a| {
                format!(
                    "- {} – {}",
                    markdown::escape(&a.id),
                    markdown::escape(&a.title)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let name = name.trim();
    let chosen = usable.iter().find(|a| a.id.eq_ignore_ascii_case(name));
    let Some(answer) = chosen else {
        if usable.is_empty() {
            return Ok(Relayed::Done(Some(
                "There are no canned answers for this chat: your administrator adds them.".into(),
            )));
        }
        let near = canned::search(&all, scope, name, 15);
        let (intro, shown) = if name.is_empty() || near.is_empty() {
            (
                if name.is_empty() {
                    "Canned answers for this chat (write canned and a name):".to_owned()
                } else {
                    format!(
                        "There is no canned answer {}. These are:",
                        markdown::escape(name)
                    )
                },
                list(&usable),
            )
        } else {
            (
                format!(
                    "There is no canned answer {}. Did you mean:",
                    markdown::escape(name)
                ),
                list(&near),
            )
        };
        return Ok(Relayed::Done(Some(format!("{intro}\n{shown}"))));
    };
    let agent = agent_name(app, actor).await?.unwrap_or_default();
    let fill = fill(
        Some(room),
        service.as_ref().map(|s| s.name.as_str()),
        &agent,
    );
    let text = answer.render(&fill, false);
    let sent = relay::to_customer(
        app,
        actor,
        room,
        activity,
        Converted {
            text: text.clone(),
            html: None,
            images: 0,
        },
    )
    .await?;
    tracing::info!(session.id = %room.session_id, "agent sent a canned answer");
    Ok(match sent {
        Relayed::Done(None) => Relayed::Done(Some(format!(
            "Sent to the customer:\n\n{}",
            markdown::escape(&text)
        ))),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_shows_the_escaped_text_and_no_markup() {
        assert_eq!(
            preview_text(r"Hello \<b\>Eve\</b\> \[x\]\(https://evil.example\)"),
            r"Hello &lt;b&gt;Eve&lt;/b&gt; \[x\]\(https://evil.example\)"
        );
    }

    #[test]
    fn a_long_preview_is_cut_between_escapes() {
        let text = format!("{}\\*", "a".repeat(PREVIEW_CHARS - 1));
        assert_eq!(
            preview_text(&text),
            format!("{}\\*", "a".repeat(PREVIEW_CHARS - 1))
        );
        let text = format!("{}\\*", "a".repeat(PREVIEW_CHARS));
        assert_eq!(preview_text(&text), "a".repeat(PREVIEW_CHARS));
        assert_eq!(preview_text("trailing \\"), "trailing ");
    }
}
