//! The Preferences page (`/preferences`): a Teams user signs in with Entra ID, sees whether
//! they are registered with the IM chat bot, and registers (the bot is installed for them via
//! Graph and welcomes them in their personal chat) or unregisters. Tenant admins also get the
//! "Grant Permissions" admin-consent link (reference §5).
//!
//! Browser security: the sign-in is bound to the browser by a short-lived cookie holding the
//! OAuth2 state; the session cookie is `__Host-`, `Secure`, `HttpOnly`, `SameSite=Lax`; every
//! form carries the session's CSRF token; pages are `no-store` with a strict CSP.

pub mod register;
pub mod sessions;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::app::{App, AppState};
use crate::entra::SigninError;
use crate::http::html::escape_html;
use crate::security::same_hash;
use sessions::{Pending, WebSession};

const SESSION_COOKIE: &str = "__Host-switchboard_session";
const SIGNIN_COOKIE: &str = "__Host-switchboard_signin";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/preferences", get(page))
        .route("/preferences/signin", get(start_signin))
        .route("/preferences/callback", get(callback))
        .route("/preferences/register", post(register_form))
        .route("/preferences/unregister", post(unregister_form))
        .route("/preferences/signout", post(signout))
        .route("/preferences/consent/start", post(start_consent))
        .route("/preferences/consent", get(consent_callback))
}

/// A page answer that is not the main page: an explanation with a stable code.
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            status,
            code,
            message: message.into(),
        }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "preferences page failed");
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side. Please try again.",
        )
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = format!(
            "<h1>{}</h1><p>{}</p><p class=\"code\">Code: <code>{}</code></p>\
             <p><a href=\"/preferences\">Back to Preferences</a></p>",
            escape_html(self.status.canonical_reason().unwrap_or("Error")),
            escape_html(&self.message),
            self.code
        );
        let mut response = html(self.status, "Switchboard", &body);
        if let Ok(v) = HeaderValue::from_str(self.code) {
            response.headers_mut().insert("x-switchboard-code", v);
        }
        response
    }
}

/// A page with the security headers every Preferences answer carries.
fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape_html(title)
    );
    let mut response = (status, Html(page)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;\
background:#f5f5f5;color:#242424;margin:0}main{max-width:38rem;margin:3rem auto;\
background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12)}\
h1{font-size:1.4rem;margin-top:0}.state{padding:.75rem 1rem;border-radius:6px;\
background:#f0f0f0}.ok{background:#e7f4e4}.warn{background:#fdf6e3}.error{background:#fde7e9}\
button,.button{font:inherit;background:#5b5fc7;color:#fff;border:0;border-radius:4px;\
padding:.5rem 1rem;cursor:pointer;text-decoration:none;display:inline-block}\
button.secondary{background:#e0e0e0;color:#242424}form{display:inline-block;margin:.5rem .5rem 0 0}\
.code{color:#616161;font-size:.85rem}footer{margin-top:2rem;font-size:.85rem;color:#616161}";

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(name: &str, value: &str, max_age_secs: u64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

async fn current_session(app: &App, headers: &HeaderMap) -> Result<Option<WebSession>, Failure> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    sessions::session(&app.pool, &id, app.clock.now_ms())
        .await
        .map_err(Failure::internal)
}

/// The session of a form post, with its CSRF token checked.
async fn form_session(
    app: &App,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<WebSession, Failure> {
    let session = current_session(app, headers).await?.ok_or_else(|| {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            "not_signed_in",
            "You are not signed in (or your sign-in has expired). Sign in again.",
        )
    })?;
    let token = form.get("csrf").map(String::as_str).unwrap_or_default();
    if !same_hash(token, &session.csrf_token) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "This form has expired or did not come from this page. Reload the page and try again.",
        ));
    }
    Ok(session)
}

fn signin_unavailable() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "signin_not_configured",
        "Sign-in with Microsoft Entra ID is not configured on this Switchboard (demo mode).",
    )
}

/// `GET /preferences`.
async fn page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    if app.signin.is_none() {
        return Ok(html(
            StatusCode::OK,
            "Switchboard preferences",
            "<h1>Switchboard preferences</h1>\
             <p class=\"state warn\">Sign-in with Microsoft Entra ID is not configured: this \
             Switchboard runs in demo mode.</p>\
             <p>In demo mode you register by installing the bot (for example in Microsoft's \
             Agents Playground): everyone who installs it becomes an agent of the demo service \
             <b>Support</b>.</p>",
        ));
    }
    let Some(session) = current_session(&app, &headers).await? else {
        return Ok(html(
            StatusCode::OK,
            "Switchboard preferences",
            "<h1>Switchboard preferences</h1>\
             <p>Sign in with your work account to register with the Switchboard IM chat bot, so \
             that customer chats can be offered to you in Microsoft Teams.</p>\
             <p><a class=\"button\" href=\"/preferences/signin\">Sign in with Microsoft</a></p>",
        ));
    };
    let body = register::render(&app, &session, &query)
        .await
        .map_err(Failure::internal)?;
    Ok(html(StatusCode::OK, "Switchboard preferences", &body))
}

/// `GET /preferences/signin`: to Entra ID, with state, nonce and a PKCE challenge.
async fn start_signin(State(app): State<AppState>) -> Result<Response, Failure> {
    let signin = app.signin.as_ref().ok_or_else(signin_unavailable)?;
    let started = signin.start();
    let pending = Pending {
        kind: "signin".into(),
        pkce_verifier: started.pkce_verifier,
        nonce: started.nonce,
        session_hash: None,
    };
    sessions::put_login(&app.pool, &started.state, &pending, app.clock.now_ms())
        .await
        .map_err(Failure::internal)?;
    let mut response = see_other(started.authorize_url.as_str());
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(SIGNIN_COOKIE, &started.state, 600),
    );
    Ok(response)
}

/// `GET /preferences/callback`: the browser back from Entra ID.
async fn callback(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let signin = app.signin.as_ref().ok_or_else(signin_unavailable)?;
    let state = query.get("state").map(String::as_str).unwrap_or_default();
    let bound =
        cookie(&headers, SIGNIN_COOKIE).is_some_and(|c| !state.is_empty() && same_hash(&c, state));
    if !bound {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "signin_state_mismatch",
            "This sign-in was not started in this browser. Start again from the Preferences page.",
        ));
    }
    let now = app.clock.now_ms();
    let pending = sessions::take_login(&app.pool, state, "signin", now)
        .await
        .map_err(Failure::internal)?
        .ok_or_else(|| {
            Failure::new(
                StatusCode::FORBIDDEN,
                "signin_expired",
                "This sign-in has expired or was already used. Start again.",
            )
        })?;
    if let Some(error) = query.get("error") {
        tracing::info!(signin.error = %error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>(), "sign-in refused by Entra ID");
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "signin_refused",
            "Microsoft Entra ID did not sign you in (cancelled or refused). Try again, or ask \
             your admin whether Switchboard is allowed in your organisation.",
        ));
    }
    let code = query.get("code").filter(|c| !c.is_empty()).ok_or_else(|| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "signin_code_missing",
            "The sign-in answer carries no authorization code.",
        )
    })?;
    let who = signin
        .finish(code, &pending.pkce_verifier, &pending.nonce)
        .await
        .map_err(|e| {
            tracing::info!(reason = %e, "sign-in failed");
            match e {
                SigninError::KeysUnavailable => Failure::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "signin_keys_unavailable",
                    "Microsoft's signing keys could not be loaded. Try again in a minute.",
                ),
                SigninError::TenantNotAllowed => Failure::new(
                    StatusCode::FORBIDDEN,
                    "tenant_not_allowed",
                    "Users of your organisation cannot use this Switchboard.",
                ),
                SigninError::Exchange(_) | SigninError::InvalidToken(_) => Failure::new(
                    StatusCode::UNAUTHORIZED,
                    "signin_failed",
                    "Your sign-in could not be verified. Start again.",
                ),
            }
        })?;
    let ttl = app.settings.preferences.session_ttl;
    let id = sessions::create_session(&app.pool, &who, now, ttl.as_millis() as i64)
        .await
        .map_err(Failure::internal)?;
    tracing::info!(tenant.id = %who.tenant_id, user.id = %who.user_id, "signed in to preferences");
    let mut response = see_other("/preferences");
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &id, ttl.as_secs()),
    );
    cookies.append(header::SET_COOKIE, set_cookie(SIGNIN_COOKIE, "", 0));
    Ok(response)
}

/// `POST /preferences/register`.
async fn register_form(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let session = form_session(&app, &headers, &form).await?;
    let outcome = register::register(&app, &session).await;
    Ok(see_other(&format!("/preferences?done={}", outcome.code())))
}

/// `POST /preferences/unregister`.
async fn unregister_form(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let session = form_session(&app, &headers, &form).await?;
    crate::registration::unregister(&app, &session.tenant_id, &session.user_id)
        .await
        .map_err(Failure::internal)?;
    Ok(see_other("/preferences?done=unregistered"))
}

/// `POST /preferences/signout`.
async fn signout(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let session = form_session(&app, &headers, &form).await?;
    sessions::end_session(&app.pool, &session.id_hash)
        .await
        .map_err(Failure::internal)?;
    let mut response = see_other("/preferences");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0));
    Ok(response)
}

/// `POST /preferences/consent/start`: admins only, to Entra ID's admin-consent page.
async fn start_consent(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let signin = app.signin.as_ref().ok_or_else(signin_unavailable)?;
    let session = form_session(&app, &headers, &form).await?;
    if !session.is_admin {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "admin_required",
            "Only a Global Administrator or Privileged Role Administrator of your organisation \
             can grant Switchboard its permissions.",
        ));
    }
    let state = crate::security::new_secret();
    let pending = Pending {
        kind: "consent".into(),
        pkce_verifier: String::new(),
        nonce: String::new(),
        session_hash: Some(session.id_hash.clone()),
    };
    sessions::put_login(&app.pool, &state, &pending, app.clock.now_ms())
        .await
        .map_err(Failure::internal)?;
    let url = signin
        .admin_consent_url(&session.tenant_id, &state)
        .map_err(Failure::internal)?;
    Ok(see_other(url.as_str()))
}

/// `GET /preferences/consent`: back from the admin-consent page.
async fn consent_callback(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let session = current_session(&app, &headers).await?.ok_or_else(|| {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            "not_signed_in",
            "You are not signed in (or your sign-in has expired). Sign in and try again.",
        )
    })?;
    let state = query.get("state").map(String::as_str).unwrap_or_default();
    let now = app.clock.now_ms();
    let pending = sessions::take_login(&app.pool, state, "consent", now)
        .await
        .map_err(Failure::internal)?
        .filter(|p| p.session_hash.as_deref() == Some(session.id_hash.as_str()));
    if pending.is_none() {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "consent_state_mismatch",
            "This answer does not belong to a consent you started here, or it expired. Start \
             again from the Preferences page.",
        ));
    }
    let granted = query
        .get("admin_consent")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let tenant_ok = query
        .get("tenant")
        .is_some_and(|t| t.eq_ignore_ascii_case(&session.tenant_id));
    if !granted || !tenant_ok {
        return Ok(see_other("/preferences?done=consent_refused"));
    }
    crate::store::consents::record_consent(&app.pool, &session.tenant_id, &session.user_id, now)
        .await
        .map_err(Failure::internal)?;
    app.graph.forget_token(&session.tenant_id).await;
    tracing::info!(tenant.id = %session.tenant_id, "admin consent granted");
    Ok(see_other("/preferences?done=consented"))
}
