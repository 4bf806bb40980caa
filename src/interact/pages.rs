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
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Chat preview</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
         <body><h1>Chat preview</h1><p>This page shows the chat widget as customers will see it.</p>\n{}\n</body></html>\n",
        snippet("", &contact_id, &key)
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
