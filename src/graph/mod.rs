//! Microsoft Graph client (reference §5): the group chat that becomes a chatroom, and the
//! installation of our Teams app into it. App-only tokens (client credentials, scope
//! `https://graph.microsoft.com/.default`) are requested per customer tenant and cached until
//! five minutes before they expire.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use url::Url;

use crate::botframework::tokens::AccessTokens;

pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Why a Graph call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    #[error("Graph is not configured (no app credentials or no Teams app id)")]
    NotConfigured,
    #[error("no Graph token: {0}")]
    Token(String),
    #[error("Graph answered HTTP {status}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status { status: u16, code: Option<String> },
    #[error("Graph unreachable: {0}")]
    Transport(String),
    #[error("Graph response unreadable")]
    InvalidResponse,
}

impl GraphError {
    /// The tenant has not granted the permissions (or Graph is not set up): use the fallback.
    pub fn needs_consent(&self) -> bool {
        matches!(
            self,
            GraphError::NotConfigured
                | GraphError::Status {
                    status: 401 | 403,
                    ..
                }
        )
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            GraphError::Status { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            GraphError::Transport(_) | GraphError::Token(_) => true,
            _ => false,
        }
    }
}

struct Credentials {
    app_id: String,
    secret: SecretString,
    /// Token endpoint; `{tenant}` is replaced by the customer tenant.
    token_url: String,
}

/// The Graph client shared by the service.
pub struct GraphClient {
    http: reqwest::Client,
    base_url: Url,
    credentials: Option<Credentials>,
    teams_app_id: Option<String>,
    tokens: Mutex<HashMap<String, Arc<AccessTokens>>>,
}

impl GraphClient {
    /// `token_url` may contain `{tenant}`; without credentials or a Teams app id every call
    /// fails with [`GraphError::NotConfigured`].
    pub fn new(
        http: reqwest::Client,
        base_url: Url,
        app: Option<(String, SecretString, String)>,
        teams_app_id: Option<String>,
    ) -> Self {
        GraphClient {
            http,
            base_url,
            credentials: app.map(|(app_id, secret, token_url)| Credentials {
                app_id,
                secret,
                token_url,
            }),
            teams_app_id,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_configured(&self) -> bool {
        self.credentials.is_some() && self.teams_app_id.is_some()
    }

    async fn token(&self, tenant: &str) -> Result<String, GraphError> {
        let creds = self.credentials.as_ref().ok_or(GraphError::NotConfigured)?;
        let tokens = {
            let mut map = self.tokens.lock().await;
            if let Some(t) = map.get(tenant) {
                Arc::clone(t)
            } else {
                let url = creds.token_url.replace("{tenant}", tenant);
                let url = Url::parse(&url).map_err(|e| GraphError::Token(e.to_string()))?;
                let t = Arc::new(AccessTokens::client_credentials(
                    self.http.clone(),
                    &url,
                    &creds.app_id,
                    &creds.secret,
                ));
                map.insert(tenant.to_owned(), Arc::clone(&t));
                t
            }
        };
        match tokens.token(GRAPH_SCOPE).await {
            Ok(Some(t)) => Ok(t.secret().to_owned()),
            Ok(None) => Err(GraphError::NotConfigured),
            Err(e) => Err(GraphError::Token(e.to_string())),
        }
    }

    fn url(&self, path: &str) -> Result<Url, GraphError> {
        let base = self.base_url.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}")).map_err(|_| GraphError::InvalidResponse)
    }

    async fn call(
        &self,
        tenant: &str,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, GraphError> {
        let token = self.token(tenant).await?;
        let response = self
            .http
            .request(method, self.url(path)?)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(|e| GraphError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| GraphError::Transport(e.without_url().to_string()))?;
        if !status.is_success() {
            let code = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
            return Err(GraphError::Status {
                status: status.as_u16(),
                code,
            });
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|_| GraphError::InvalidResponse)
    }

    fn app_binding(&self) -> Result<String, GraphError> {
        let app = self
            .teams_app_id
            .as_ref()
            .ok_or(GraphError::NotConfigured)?;
        Ok(format!(
            "{}/appCatalogs/teamsApps/{app}",
            self.base_url.as_str().trim_end_matches('/')
        ))
    }

    /// Creates a group chat with `members` (Entra object ids, all owners); returns its id.
    pub async fn create_group_chat(
        &self,
        tenant: &str,
        topic: &str,
        members: &[&str],
    ) -> Result<String, GraphError> {
        if !self.is_configured() {
            return Err(GraphError::NotConfigured);
        }
        let base = self.base_url.as_str().trim_end_matches('/');
        let members: Vec<Value> = members
            .iter()
            .map(|id| {
                json!({
                    "@odata.type": "#microsoft.graph.aadUserConversationMember",
                    "roles": ["owner"],
                    "user@odata.bind": format!("{base}/users('{id}')"),
                })
            })
            .collect();
        let body = json!({"chatType": "group", "topic": topic, "members": members});
        let chat = self.call(tenant, Method::POST, "/chats", &body).await?;
        chat["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or(GraphError::InvalidResponse)
    }

    /// Installs our Teams app (the bot) into a chat; an existing installation is fine.
    pub async fn install_in_chat(&self, tenant: &str, chat: &str) -> Result<(), GraphError> {
        let body = json!({"teamsApp@odata.bind": self.app_binding()?});
        let path = format!("/chats/{}/installedApps", encode(chat));
        match self.call(tenant, Method::POST, &path, &body).await {
            Ok(_) | Err(GraphError::Status { status: 409, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl GraphClient {
    /// Adds a user to a group chat as an owner who sees its whole history (a supervisor
    /// barging in). An existing membership is fine.
    pub async fn add_chat_member(
        &self,
        tenant: &str,
        chat: &str,
        user: &str,
    ) -> Result<(), GraphError> {
        if !self.is_configured() {
            return Err(GraphError::NotConfigured);
        }
        let base = self.base_url.as_str().trim_end_matches('/');
        let body = json!({
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "roles": ["owner"],
            "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
            "user@odata.bind": format!("{base}/users('{}')", encode(user)),
        });
        let path = format!("/chats/{}/members", encode(chat));
        match self.call(tenant, Method::POST, &path, &body).await {
            Ok(_) | Err(GraphError::Status { status: 409, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Installs our Teams app for a user (their personal chat with the bot, reference §5
    /// "Proactive install for a user"). `Ok(true)`: installed now; `Ok(false)`: it already was.
    pub async fn install_for_user(&self, tenant: &str, user: &str) -> Result<bool, GraphError> {
        let body = json!({"teamsApp@odata.bind": self.app_binding()?});
        let path = format!("/users/{}/teamwork/installedApps", encode(user));
        match self.call(tenant, Method::POST, &path, &body).await {
            Ok(_) => Ok(true),
            Err(GraphError::Status { status: 409, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Drops the tenant's cached token: after an admin grants consent, the next token carries
    /// the new permissions.
    pub async fn forget_token(&self, tenant: &str) {
        self.tokens.lock().await.remove(tenant);
    }
}

/// Characters escaped in a path segment: everything but RFC 3986 `pchar` (so chat ids such as
/// `19:…@thread.v2` stay as Graph documents them).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}
