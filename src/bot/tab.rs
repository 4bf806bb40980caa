//! "My Sessions": a personal tab of the Teams app (a page of ours inside Teams). The page gets
//! an Entra token for the app with Teams single sign-on (the Teams JavaScript library, vendored
//! in `assets/`, MIT) — the same app registration the Preferences page signs in with — and
//! calls `GET /api/tab/v1/me` (the agent's ringing invitation, open chats, after-contact work,
//! recent sessions, and for supervisors the live chats of their services) and
//! `POST /api/tab/v1/actions` (accept, decline, end, ACW done or extended: the same actions as
//! the cards). Tokens are checked like the Preferences sign-in's (signature, audience — the
//! app id or its `api://` resource —, issuer: the tenant's v2 or v1 issuer, expiry, allowed
//! tenants) and must carry scopes; why one is refused is logged at WARN, without the token.
//! Without the bot's Entra app (anonymous dev mode) the API answers 503 `signin_unavailable`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sqlx::Row;

use crate::app::{App, AppState};
use crate::directory::model::{Service, User};
use crate::directory::store::{self as docs, Kind};
use crate::engine::messages::SessionState;
use crate::http::problem::{ApiResult, Refused};
use crate::store::AsPool;

use super::actions;
use super::agents::Actor;
use super::answer::Answer;

const PAGE: &str = include_str!("assets/my-sessions.html");
const SCRIPT: &str = include_str!("assets/my-sessions.js");
const TEAMS_JS: &str = include_str!("assets/teams-js-2.58.0.min.js");

/// The actions the tab offers (the cards' verbs).
const VERBS: [&str; 5] = [
    "im.invitation.accept",
    "im.invitation.decline",
    "im.session.end",
    "im.acw.done",
    "im.acw.extend",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tabs/my-sessions", get(page))
        .route("/tabs/my-sessions.js", get(|| async { asset(SCRIPT) }))
        .route("/tabs/teams.js", get(|| async { asset(TEAMS_JS) }))
        .route("/api/tab/v1/me", get(me))
        .route("/api/tab/v1/actions", post(act))
}

fn asset(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The page: shown inside Teams (its hosts may frame it), its own scripts only.
async fn page() -> Response {
    let mut response = (StatusCode::OK, PAGE).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; \
             img-src 'self' data:; frame-ancestors 'self' https://teams.microsoft.com \
             https://*.teams.microsoft.com https://*.cloud.microsoft https://*.office.com \
             https://*.microsoft365.com",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The agent a bearer token names, or why not.
async fn actor(app: &App, headers: &HeaderMap) -> Result<(Actor, String), Refused> {
    let Some(signin) = app.signin.as_ref() else {
        return Err(Refused::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "signin_unavailable",
            "My Sessions signs in with the bot's Entra app, which this deployment does not have",
        ));
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::http::bearer_credentials)
        .ok_or_else(|| {
            Refused::new(
                StatusCode::UNAUTHORIZED,
                "token_missing",
                "a bearer token is required",
            )
        })?;
    let signed = signin.verify_access_token(token).await.map_err(|e| {
        // The reason only, never the token; WARN, since a refused tab is usually a setup fault
        // (the app registration's token version, audience or tenant).
        tracing::warn!(reason = %e, "a tab token was refused");
        Refused::new(
            StatusCode::UNAUTHORIZED,
            "token_invalid",
            "the token is not valid for this app",
        )
    })?;
    let name = docs::get::<User>(&app.pool, &signed.tenant_id, Kind::User, &signed.user_id)
        .await
        .map_err(anyhow::Error::from)?
        .map(|u| u.value.display_name);
    let Some(name) = name else {
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            "not_an_agent",
            "you are not an agent or supervisor of this contact center",
        ));
    };
    Ok((
        Actor {
            tenant: signed.tenant_id,
            user_id: signed.user_id,
            channel_user_id: String::new(),
            name: Some(name.clone()),
        },
        name,
    ))
}

/// `GET /api/tab/v1/me`.
async fn me(State(app): State<AppState>, headers: HeaderMap) -> ApiResult {
    let (actor, name) = actor(&app, &headers).await?;
    let engine = app.engines.get(&actor.tenant).await?;
    let agent = engine.agent(&actor.user_id).await?;
    let now = app.clock.now_ms();
    let mut invitations = Vec::new();
    if let Some(offer) = agent.as_ref().and_then(|a| a.ringing) {
        let offer = i64::try_from(offer).unwrap_or(i64::MAX);
        if let Some(inv) = super::store::invitation(&app.pool, &actor.tenant, offer).await? {
            invitations.push(json!({
                "invitationId": offer.to_string(),
                "customer": inv.brief.customer.display_name,
                "service": inv.brief.service,
                "waitSeconds": (now - inv.brief.since) / 1000,
            }));
        }
    }
    let live: Vec<Value> = crate::db!(app.pool.on(), |c| {
        sqlx::query(
            "SELECT session_id, brief, opened_at FROM chatrooms
             WHERE tenant_id = $1 AND user_id = $2 AND closed_at IS NULL ORDER BY opened_at",
        )
        .bind(&actor.tenant)
        .bind(&actor.user_id)
        .fetch_all(c)
        .await
        .map_err(anyhow::Error::from)?
        .iter()
        .filter_map(|r| {
            let brief: crate::engine::messages::Brief =
                serde_json::from_str(&r.try_get::<String, _>("brief").ok()?).ok()?;
            Some(json!({
                "sessionId": r.try_get::<String, _>("session_id").ok()?,
                "customer": brief.customer.display_name,
                "service": brief.service,
                "openedAt": rfc3339(r.try_get("opened_at").ok()?),
            }))
        })
        .collect()
    });
    let recent: Vec<Value> = crate::db!(app.pool.on(), |c| {
        sqlx::query(
            "SELECT session_id, service, channel, outcome, ended_at FROM report_sessions
             WHERE tenant_id = $1 AND agent = $2 ORDER BY ended_at DESC LIMIT 10",
        )
        .bind(&actor.tenant)
        .bind(&actor.user_id)
        .fetch_all(c)
        .await
        .map_err(anyhow::Error::from)?
        .iter()
        .filter_map(|r| {
            Some(json!({
                "sessionId": r.try_get::<String, _>("session_id").ok()?,
                "service": r.try_get::<String, _>("service").ok()?,
                "channel": r.try_get::<String, _>("channel").ok()?,
                "outcome": r.try_get::<String, _>("outcome").ok()?,
                "endedAt": rfc3339(r.try_get("ended_at").ok()?),
            }))
        })
        .collect()
    });
    let acw = agent
        .as_ref()
        .and_then(|a| a.acw_until)
        .filter(|until| *until > now)
        .map(|until| json!({"until": rfc3339(until)}));
    let supervised = supervised_chats(&app, &actor).await?;
    Ok(axum::Json(json!({
        "displayName": name,
        "invitations": invitations,
        "live": live,
        "acw": acw,
        "recent": recent,
        "supervised": supervised,
    }))
    .into_response())
}

/// The live chats of the services `actor` supervises (none when they supervise none).
async fn supervised_chats(app: &App, actor: &Actor) -> anyhow::Result<Vec<Value>> {
    let services: Vec<Service> = docs::list::<Service>(&app.pool, &actor.tenant, Kind::Service)
        .await?
        .into_iter()
        .map(|d| d.value)
        .filter(|s| s.supervisors.contains(&actor.user_id))
        .collect();
    if services.is_empty() {
        return Ok(Vec::new());
    }
    let live = app.engines.get(&actor.tenant).await?.live().await?;
    Ok(live
        .sessions
        .iter()
        .filter_map(|s| {
            let service = services.iter().find(|v| v.id == s.service)?;
            Some(json!({
                "sessionId": s.id,
                "service": service.name,
                "state": match s.state {
                    SessionState::Workflow => "workflow",
                    SessionState::Queued => "queued",
                    SessionState::Connected => "connected",
                    SessionState::Ended => "ended",
                },
                "agent": s.agent,
                "ageSeconds": s.age_seconds,
                "waitingSeconds": s.waiting_seconds,
            }))
        })
        .collect())
}

/// `POST /api/tab/v1/actions` `{verb, data}`: a card's action, from the tab.
async fn act(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let (actor, _) = actor(&app, &headers).await?;
    let request: Value = serde_json::from_slice(&body).map_err(|_| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the body must be JSON",
        )
    })?;
    let verb = request
        .get("verb")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !VERBS.contains(&verb) {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "unknown_action",
            "verb must be one of im.invitation.accept, im.invitation.decline, im.session.end, im.acw.done, im.acw.extend",
        ));
    }
    let data = request.get("data").cloned().unwrap_or(Value::Null);
    let message = match actions::act(&app, &actor, verb, &data).await? {
        Answer::Message(text) => text,
        Answer::Card(card) => card
            .pointer("/body/0/text")
            .and_then(Value::as_str)
            .unwrap_or("Done.")
            .to_owned(),
    };
    tracing::info!(action = verb, "agent acted from the My Sessions tab");
    Ok(axum::Json(json!({"message": message})).into_response())
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
