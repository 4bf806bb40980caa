//! The widget script, the preview page an admin uses to try a contact, and the snippet they
//! paste into their site.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::directory::contacts;
use crate::http::html::snippet;
use crate::http::problem::Problem;

const WIDGET_JS: &str = include_str!("assets/widget.js");

/// The preview's sample website (static; no external assets).
const PREVIEW_STYLE: &str = "body{margin:0;font:16px/1.5 Georgia,serif;color:#222;background:#faf8f3}\
header{display:flex;justify-content:space-between;align-items:center;padding:16px 32px;background:#2f3e46;color:#fff}\
header nav a{color:#fff;margin-left:20px;text-decoration:none}\
.hero{padding:64px 32px;background:#e9e4d8}.hero h1{font-size:40px;margin:0 0 8px}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:24px;padding:32px}\
.card{background:#fff;border-radius:12px;padding:20px;box-shadow:0 1px 3px rgba(0,0,0,.1)}\
.note{margin:32px;padding:12px 16px;border:1px dashed #888;font:14px system-ui,sans-serif}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/interact/widget.js", get(widget))
        .route("/interact/preview/{contact}", get(preview))
}

async fn widget() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        WIDGET_JS,
    )
        .into_response()
}

/// `frame-ancestors` for a contact: its domain templates with Restrict Access, else any.
fn frame_ancestors(restrict: bool, templates: &[String]) -> String {
    if !restrict {
        return "frame-ancestors *".into();
    }
    let sources: Vec<&str> = templates
        .iter()
        .map(String::as_str)
        .filter(|t| super::origin::DomainTemplate::parse(t).is_some())
        .collect();
    if sources.is_empty() {
        "frame-ancestors 'none'".into()
    } else {
        format!("frame-ancestors {}", sources.join(" "))
    }
}

async fn preview(State(app): State<AppState>, Path(contact_id): Path<String>) -> Response {
    let contact = match contacts::find(&app.pool, &contact_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Problem::new(
                StatusCode::NOT_FOUND,
                "unknown_contact",
                "no such contact".to_owned(),
            )
            .into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "preview failed");
            return Problem::internal().into_response();
        }
    };
    let interact = contact.interact();
    let key = interact.widget_key.clone().unwrap_or_default();
    let snippet = snippet("", &contact_id, &key);
    let dev_note = if app.settings.is_anonymous() {
        "<p class=\"note\">Dev mode: with no agent signed in, the widget shows what a customer sees \
         when nobody is available (a form to leave a message). To answer chats as an agent, run \
         <code>scripts/playground.sh</code> or the Agents Playground (README, Quick start), then \
         reload this page.</p>"
    } else {
        ""
    };
    // A sample company website, so the widget is seen as customers will see it: a launcher in
    // the corner of someone else's page.
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Chat preview</title><style>{PREVIEW_STYLE}</style></head><body>\
         <header><strong>Acme Tea Co.</strong><nav><a href=\"#\">Shop</a><a href=\"#\">About</a>\
         <a href=\"#\">Contact</a></nav></header>\
         <section class=\"hero\"><h1>Fine teas since 1901</h1><p>This is a sample website: the chat \
         button in the corner is the widget, as your customers will see it.</p></section>\
         <section class=\"grid\"><div class=\"card\"><h2>Green</h2><p>Sencha, matcha, gyokuro.</p></div>\
         <div class=\"card\"><h2>Black</h2><p>Assam, Darjeeling, Ceylon.</p></div>\
         <div class=\"card\"><h2>Herbal</h2><p>Rooibos, mint, chamomile.</p></div></section>\
         {dev_note}<p class=\"note\">Preview of contact <code>{}</code>. Paste this snippet before \
         &lt;/body&gt; on your site: <code>{}</code></p>\n{snippet}\n</body></html>\n",
        crate::http::html::escape_html(&contact_id),
        crate::http::html::escape_html(&snippet),
    );
    let csp = frame_ancestors(interact.restrict_access, &interact.domain_templates);
    let mut response = Html(page).into_response();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ancestors_follow_restrict_access() {
        assert_eq!(frame_ancestors(false, &[]), "frame-ancestors *");
        assert_eq!(
            frame_ancestors(true, &["https://*.example.com".into(), "bogus".into()]),
            "frame-ancestors https://*.example.com"
        );
        assert_eq!(frame_ancestors(true, &[]), "frame-ancestors 'none'");
    }
}
