//! `GET /`: a small page saying the service runs, and where to go from here — in anonymous
//! dev mode the demo's preview page, the WhatsApp simulator and what to do next; in every mode
//! the Preferences page and the health endpoints. It shows no tenant data.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};

use crate::app::AppState;

pub async fn landing(State(app): State<AppState>) -> Response {
    let dev = app.settings.is_anonymous();
    let mut links = Vec::new();
    if dev {
        links.push(format!(
            "<li><a href=\"/interact/preview/{}\">Chat as a customer</a> — the demo's preview page \
             (until an agent is signed in, it shows what a customer sees when nobody is available)</li>",
            crate::demo::DEMO_CONTACT
        ));
        if app.settings.whatsapp.app_secret.is_none() {
            links.push(
                "<li><a href=\"/dev/whatsapp\">WhatsApp simulator</a> — write as a WhatsApp customer</li>"
                    .to_owned(),
            );
        }
    }
    links.push(
        "<li><a href=\"/preferences\">Preferences</a> — agents sign in with Microsoft to take chats</li>"
            .to_owned(),
    );
    links.push(
        "<li><a href=\"/healthz\">Health</a> and <a href=\"/readyz\">readiness</a></li>".to_owned(),
    );
    let next = if dev {
        "<p>This is <strong>anonymous dev mode</strong>: no accounts, a demo tenant (<code>demo</code> \
         on the command line). To answer chats as an agent, run <code>scripts/playground.sh</code> \
         or Microsoft's Agents Playground against <code>/api/messages</code> (see the README's \
         quick start).</p>"
    } else {
        "<p>Agents work in Microsoft Teams; admins use the administration API \
         (<code>/api/admin/v1</code>) with a key from <code>switchboard admin create-key</code>.</p>"
    };
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Switchboard</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#1b1b1f}}\
         a{{color:#0f5ba7}}code{{background:#f1f1f4;padding:0 .25rem;border-radius:3px}}</style></head>\
         <body><h1>Switchboard {}</h1><p>Website and WhatsApp chats, answered in Microsoft Teams.</p>\
         {next}<ul>{}</ul></body></html>\n",
        env!("CARGO_PKG_VERSION"),
        links.join("")
    );
    Html(page).into_response()
}
