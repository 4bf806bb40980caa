//! The customer's session token as an extractor: [`CustomerSession`] is only built for a
//! request whose Bearer token opens the session its path names (and, for the event stream,
//! [`StreamSession`] also takes `?token=`, since `EventSource` cannot set headers). A token for
//! another session, or none that matches, is a 404: it reveals nothing. The request's `Origin`
//! must be allowed for the session's contact; the CORS headers for it come with the session.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;

use super::origin;
use crate::app::AppState;
use crate::customer::store::{self, StoredSession};
use crate::directory::contacts::{self, Contact};
use crate::http::problem::Refused;
use crate::security::{hash_secret, same_hash};

/// A session the request's token opened.
pub struct CustomerSession {
    /// The session's row.
    pub row: StoredSession,
    /// The contact (service or person) the session was started on.
    pub contact: Contact,
    /// The CORS headers every answer to this request carries, refusals after this one too.
    pub cors: HeaderMap,
}

impl CustomerSession {
    pub fn id(&self) -> &str {
        &self.row.session_id
    }

    pub fn tenant(&self) -> &str {
        &self.contact.tenant
    }

    /// A refusal carrying this request's CORS headers (so the widget can read it).
    pub fn refuse(&self, status: StatusCode, code: &str, detail: &str) -> Refused {
        Refused::new(status, code, detail).with(&self.cors)
    }
}

impl FromRequestParts<AppState> for CustomerSession {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Refused> {
        authorise(parts, app, None).await
    }
}

/// [`CustomerSession`] for the event stream: the token may also come as `?token=`.
pub struct StreamSession(pub CustomerSession);

#[derive(Deserialize, Default)]
struct TokenQuery {
    token: Option<String>,
}

impl FromRequestParts<AppState> for StreamSession {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Refused> {
        let Query(query) = Query::<TokenQuery>::from_request_parts(parts, app)
            .await
            .unwrap_or_default();
        authorise(parts, app, query.token.as_deref())
            .await
            .map(StreamSession)
    }
}

async fn authorise(
    parts: &mut Parts,
    app: &AppState,
    query_token: Option<&str>,
) -> Result<CustomerSession, Refused> {
    let session = session_in_path(parts, app).await?;
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::http::bearer_token);
    let Some(token) = bearer.or(query_token) else {
        return Err(Refused::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "send the session token as a Bearer token",
        ));
    };
    let (row, contact) = session_contact(app, &session).await?;
    if !same_hash(&row.token_hash, &hash_secret(token)) {
        return Err(unknown_session());
    }
    let cors = cors(&contact, &parts.headers)?;
    Ok(CustomerSession { row, contact, cors })
}

/// The `{session}` of the route.
async fn session_in_path(parts: &mut Parts, app: &AppState) -> Result<String, Refused> {
    let Path(mut params) = Path::<BTreeMap<String, String>>::from_request_parts(parts, app)
        .await
        .map_err(|_| unknown_session())?;
    params.remove("session").ok_or_else(unknown_session)
}

fn unknown_session() -> Refused {
    Refused::new(StatusCode::NOT_FOUND, "unknown_session", "no such session")
}

/// A session's row and its contact; either missing is an unknown session.
pub(super) async fn session_contact(
    app: &AppState,
    session: &str,
) -> Result<(StoredSession, Contact), Refused> {
    let row = store::find(&app.pool, session)
        .await?
        .ok_or_else(unknown_session)?;
    // A contact id now held by another tenant (given up and claimed again) is not this
    // session's contact.
    let contact = contacts::find(&app.pool, &row.contact_id)
        .await?
        .filter(|c| c.tenant == row.tenant_id)
        .ok_or_else(unknown_session)?;
    Ok((row, contact))
}

/// `Access-Control-Allow-Origin: *`, for refusals made before the contact (and so its allowed
/// origins) is known: a page may read why it was refused (a rate limit, a wrong contact),
/// which reveals nothing and lets the widget say so. No request carries credentials, so `*`
/// grants nothing else. A site the contact does not allow reads nothing.
pub(super) fn any_origin() -> HeaderMap {
    let mut out = HeaderMap::new();
    out.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    out
}

/// CORS headers for an allowed `Origin`, or a 403 without any.
pub(super) fn cors(contact: &Contact, headers: &HeaderMap) -> Result<HeaderMap, Refused> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let interact = contact.interact();
    if !origin::allowed(interact.restrict_access, &interact.domain_templates, origin) {
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this site may not use this contact",
        ));
    }
    let mut out = HeaderMap::new();
    if let Some(value) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        out.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(out)
}
