//! A mock Bot Framework on loopback: OpenID metadata + JWKS (test RSA keys with endorsements,
//! rotation, failure injection), the OAuth2 token endpoint, the Bot Connector (records every
//! call; can answer scripted statuses with `Retry-After`, delay, and go down and come back on
//! the same port) and a Graph stub that records calls for later issues.
//!
//! Self-contained so the load benchmark can include it too.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const APP_ID: &str = "8d2f0a66-7bb6-4c1e-9d1c-5a0b1f3e2c11";
pub const APP_PASSWORD: &str = "test-client-secret";
pub const TENANT_ID: &str = "2b5d7f3a-1c4e-4f60-8a9b-0c1d2e3f4a5b";
pub const OTHER_TENANT_ID: &str = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a";
pub const ISSUER: &str = "https://api.botframework.com";

/// A test RSA key pair (fixtures generated with `openssl genpkey`, test-only).
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    encoding: EncodingKey,
    n: String,
    e: String,
    pub endorsements: Vec<String>,
}

fn jwk_parts(json: &str) -> (String, String) {
    let v: Value = serde_json::from_str(json).expect("fixture JWK");
    (
        v["n"].as_str().expect("n").to_owned(),
        v["e"].as_str().expect("e").to_owned(),
    )
}

impl TestKey {
    fn from_fixture(pem: &str, jwk: &str, kid: &str, endorsements: &[&str]) -> Self {
        let (n, e) = jwk_parts(jwk);
        TestKey {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("fixture PEM"),
            n,
            e,
            endorsements: endorsements.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    pub fn one() -> Self {
        Self::from_fixture(
            include_str!("fixtures/test_key1.pem"),
            include_str!("fixtures/test_key1.jwk.json"),
            "key-1",
            &["msteams", "webchat"],
        )
    }

    pub fn two() -> Self {
        Self::from_fixture(
            include_str!("fixtures/test_key2.pem"),
            include_str!("fixtures/test_key2.jwk.json"),
            "key-2",
            &["msteams"],
        )
    }

    /// A key endorsed for another channel only.
    pub fn webchat_only() -> Self {
        Self::from_fixture(
            include_str!("fixtures/test_key3.pem"),
            include_str!("fixtures/test_key3.jwk.json"),
            "key-3-webchat",
            &["webchat"],
        )
    }

    /// The same private key published under another kid.
    pub fn with_kid(&self, kid: &str) -> Self {
        TestKey {
            kid: kid.to_owned(),
            ..self.clone()
        }
    }

    pub fn jwk(&self) -> Value {
        json!({"kty": "RSA", "use": "sig", "kid": self.kid, "n": self.n, "e": self.e,
               "x5t": self.kid, "endorsements": self.endorsements})
    }

    /// Signs `claims` with RS256 under this key's kid.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }

    /// Signs with HS256 using the public modulus as the HMAC secret (the key-confusion attack).
    pub fn sign_hs256_with_public_key(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(self.n.as_bytes()),
        )
        .expect("sign")
    }
}

/// A token with `alg: none` and no signature.
pub fn unsigned_token(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// One request the mock Connector received.
#[derive(Debug, Clone)]
pub struct RecordedCall {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Option<Value>,
    pub status: u16,
    pub at: Instant,
    /// The JSON the mock answered with.
    pub answer: Option<Value>,
}

/// A scripted Connector answer, used before the default answers.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Option<Value>,
}

impl Scripted {
    pub fn status(status: u16) -> Self {
        Scripted {
            status,
            retry_after: None,
            body: None,
        }
    }
    pub fn retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_owned());
        self
    }
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

#[derive(Default)]
pub struct MockState {
    keys: Mutex<Vec<TestKey>>,
    jwks_failing: std::sync::atomic::AtomicBool,
    pub metadata_fetches: AtomicUsize,
    pub jwks_fetches: AtomicUsize,
    token_expires_in: AtomicU64,
    issued_tokens: Mutex<Vec<String>>,
    pub token_requests: Mutex<Vec<HashMap<String, String>>>,
    calls: Mutex<Vec<RecordedCall>>,
    script: Mutex<VecDeque<Scripted>>,
    delay_ms: AtomicU64,
    activity_counter: AtomicUsize,
    pub graph_calls: Mutex<Vec<GraphCall>>,
    /// Whether the tenant has granted the Graph permissions (else Graph answers 403).
    pub graph_refused: std::sync::atomic::AtomicBool,
    /// Whether Graph is down (503 on every call).
    pub graph_down: std::sync::atomic::AtomicBool,
    /// While set, Graph calls are recorded but not answered (a slow Graph).
    pub graph_held: std::sync::atomic::AtomicBool,
    graph_chats: AtomicUsize,
    /// Users the bot was installed for with `POST /users/{id}/teamwork/installedApps`.
    pub graph_user_installs: Mutex<Vec<String>>,
    /// The mock Entra ID sign-in (Preferences page).
    pub entra: Mutex<Entra>,
}

/// How the mock Entra ID signs the next user in.
#[derive(Default)]
pub struct Entra {
    /// Claims of the user who signs in next (`oid`, `tid`, `name`, `wids`, …).
    pub user: Value,
    /// Spoils the id token: `nonce`, `aud`, `issuer`, `key` (unpublished key), `expired`.
    pub tamper: Option<String>,
    /// Authorization codes issued: code → (PKCE challenge, nonce, redirect URI, claims).
    codes: HashMap<String, (String, String, String, Value)>,
    /// Every authorize request's query, in order.
    pub authorize_requests: Vec<HashMap<String, String>>,
    /// Every admin-consent request's query, in order.
    pub consent_requests: Vec<HashMap<String, String>>,
}

/// One request the mock Graph received.
#[derive(Debug, Clone)]
pub struct GraphCall {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Option<Value>,
}

/// The running mock.
pub struct MockBotFramework {
    pub base_url: String,
    pub state: Arc<MockState>,
    connector_addr: SocketAddr,
    connector: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl MockBotFramework {
    /// Starts the mock with `key-1` published and tokens valid for an hour.
    pub async fn start() -> Arc<Self> {
        let state = Arc::new(MockState::default());
        *state.keys.lock().expect("lock") = vec![TestKey::one()];
        state.token_expires_in.store(3600, Ordering::SeqCst);

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind mock");
        let addr = listener.local_addr().expect("addr");
        let base_url = format!("http://{addr}");
        let login = Router::new()
            .route("/v1/.well-known/openidconfiguration", get(metadata))
            .route("/v1/.well-known/keys", get(jwks))
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/graph/{*rest}", axum::routing::any(graph))
            .route(
                "/entra/{tenant}/v2.0/.well-known/openid-configuration",
                get(entra_metadata),
            )
            .route(
                "/entra/{tenant}/oauth2/v2.0/authorize",
                get(entra_authorize),
            )
            .route("/entra/{tenant}/oauth2/v2.0/token", post(entra_token))
            .route("/entra/{tenant}/adminconsent", get(entra_consent))
            .with_state((Arc::clone(&state), base_url.clone()));
        tokio::spawn(async move {
            axum::serve(listener, login).await.expect("mock serve");
        });

        let connector_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind connector");
        let connector_addr = connector_listener.local_addr().expect("addr");
        let mock = Arc::new(MockBotFramework {
            base_url,
            state,
            connector_addr,
            connector: Mutex::new(None),
        });
        mock.serve_connector(connector_listener);
        mock
    }

    fn serve_connector(&self, listener: TcpListener) {
        let (tx, rx) = oneshot::channel();
        let app = Router::new()
            .fallback(connector)
            .with_state(Arc::clone(&self.state));
        let handle = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .expect("connector serve");
        });
        *self.connector.lock().expect("lock") = Some((tx, handle));
    }

    /// The Connector's service URL, shaped like Teams' `https://smba.trafficmanager.net/amer/`.
    pub fn service_url(&self) -> String {
        format!("http://{}/amer/", self.connector_addr)
    }

    pub fn metadata_url(&self) -> String {
        format!("{}/v1/.well-known/openidconfiguration", self.base_url)
    }

    /// The Entra ID authority (`preferences.authority_url`).
    pub fn authority_url(&self) -> String {
        format!("{}/entra", self.base_url)
    }

    /// The user who signs in next with Entra ID.
    pub fn sign_in_as(&self, oid: &str, tid: &str, name: &str, admin: bool) {
        let wids: Vec<&str> = if admin {
            vec!["62e90394-69f5-4237-9190-012177145e10"]
        } else {
            vec!["b79fbf4d-3ef9-4689-8143-76b194e85509"]
        };
        let mut entra = self.state.entra.lock().expect("lock");
        entra.user = json!({"oid": oid, "tid": tid, "name": name, "wids": wids});
        entra.tamper = None;
    }

    pub fn tamper_id_token(&self, how: Option<&str>) {
        self.state.entra.lock().expect("lock").tamper = how.map(str::to_owned);
    }

    pub fn token_url(&self) -> String {
        format!("{}/{TENANT_ID}/oauth2/v2.0/token", self.base_url)
    }

    /// Stops the Connector: connections are refused until [`Self::start_connector`].
    pub async fn stop_connector(&self) {
        let running = self.connector.lock().expect("lock").take();
        if let Some((tx, handle)) = running {
            let _ = tx.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), handle).await;
        }
    }

    /// Starts the Connector again on the same port.
    pub async fn start_connector(&self) {
        let listener = TcpListener::bind(self.connector_addr)
            .await
            .expect("rebind connector");
        self.serve_connector(listener);
    }

    pub fn publish_keys(&self, keys: Vec<TestKey>) {
        *self.state.keys.lock().expect("lock") = keys;
    }

    pub fn fail_jwks(&self, failing: bool) {
        self.state.jwks_failing.store(failing, Ordering::SeqCst);
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn set_token_lifetime(&self, secs: u64) {
        self.state.token_expires_in.store(secs, Ordering::SeqCst);
    }

    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.state.token_requests.lock().expect("lock").clone()
    }

    /// Revokes every token issued so far: the Connector answers 401 to them.
    pub fn revoke_tokens(&self) {
        self.state.issued_tokens.lock().expect("lock").clear();
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.state.script.lock().expect("lock").extend(answers);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// How many calls the mock has recorded (without copying them).
    pub fn call_count(&self) -> usize {
        self.state.calls.lock().expect("lock").len()
    }

    pub fn calls(&self) -> Vec<RecordedCall> {
        self.state.calls.lock().expect("lock").clone()
    }

    /// The texts of the messages the Connector accepted, in arrival order.
    pub fn delivered_texts(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.status < 300)
            .filter_map(|c| c.body?.get("text")?.as_str().map(str::to_owned))
            .collect()
    }

    /// Claims of a valid channel token for `service_url`.
    pub fn claims(&self, service_url: &str) -> Value {
        let now = unix_now();
        json!({
            "iss": ISSUER,
            "aud": APP_ID,
            "exp": now + 3600,
            "nbf": now - 10,
            "iat": now - 10,
            "serviceurl": service_url,
        })
    }
}

type LoginState = (Arc<MockState>, String);

async fn metadata(State((state, base)): State<LoginState>) -> Response {
    state.metadata_fetches.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://invalid.example/unused",
        "jwks_uri": format!("{base}/v1/.well-known/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }))
    .into_response()
}

async fn jwks(State((state, _)): State<LoginState>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if state.jwks_failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let keys: Vec<Value> = state
        .keys
        .lock()
        .expect("lock")
        .iter()
        .map(TestKey::jwk)
        .collect();
    axum::Json(json!({ "keys": keys })).into_response()
}

async fn token(
    State((state, _)): State<LoginState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    state
        .token_requests
        .lock()
        .expect("lock")
        .push(form.clone());
    let valid = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_id").map(String::as_str) == Some(APP_ID)
        && form.get("client_secret").map(String::as_str) == Some(APP_PASSWORD);
    if !valid {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "bad credentials"})),
        )
            .into_response();
    }
    let n = state.token_requests.lock().expect("lock").len();
    let access_token = format!("mock-access-token-{n}");
    state
        .issued_tokens
        .lock()
        .expect("lock")
        .push(access_token.clone());
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": state.token_expires_in.load(Ordering::SeqCst),
        "ext_expires_in": 3600,
        "access_token": access_token,
    }))
    .into_response()
}

/// A faithful slice of Graph (reference §5): `POST /chats` (201 with a `19:…@thread.v2` id)
/// and `POST /chats/{id}/installedApps` (201), bearer token required; 403 when the tenant has
/// not consented.
async fn graph(
    State((state, _)): State<LoginState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    let path = uri.path().trim_start_matches("/graph/v1.0").to_owned();
    state.graph_calls.lock().expect("lock").push(GraphCall {
        method: method.to_string(),
        path: path.clone(),
        authorization: authorization.clone(),
        body: body.clone(),
    });
    while state.graph_held.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let error = |status: StatusCode, code: &str| {
        (
            status,
            axum::Json(json!({"error": {"code": code, "message": code}})),
        )
            .into_response()
    };
    let issued = state.issued_tokens.lock().expect("lock").clone();
    let token_ok = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| issued.iter().any(|i| i == t));
    if !token_ok {
        return error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    }
    if state.graph_refused.load(Ordering::SeqCst) {
        return error(StatusCode::FORBIDDEN, "Forbidden");
    }
    if state.graph_down.load(Ordering::SeqCst) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "ServiceNotAvailable");
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["chats"]) => {
            let Some(body) = body else {
                return error(StatusCode::BAD_REQUEST, "BadRequest");
            };
            if body["chatType"] != "group" || !body["members"].is_array() {
                return error(StatusCode::BAD_REQUEST, "BadRequest");
            }
            let n = state.graph_chats.fetch_add(1, Ordering::SeqCst) + 1;
            (
                StatusCode::CREATED,
                axum::Json(json!({
                    "id": format!("19:chat{n}@thread.v2"),
                    "topic": body["topic"],
                    "chatType": "group",
                })),
            )
                .into_response()
        }
        ("POST", ["users", user, "teamwork", "installedApps"]) => {
            let bound = body
                .as_ref()
                .and_then(|b| b["teamsApp@odata.bind"].as_str())
                .is_some_and(|b| b.contains("/appCatalogs/teamsApps/"));
            if !bound {
                return error(StatusCode::BAD_REQUEST, "BadRequest");
            }
            let mut installs = state.graph_user_installs.lock().expect("lock");
            if installs.iter().any(|u| u == user) {
                return error(StatusCode::CONFLICT, "Conflict");
            }
            installs.push((*user).to_owned());
            StatusCode::CREATED.into_response()
        }
        ("POST", ["chats", _, "members"]) => {
            let member = body.as_ref().filter(|b| {
                b["@odata.type"] == "#microsoft.graph.aadUserConversationMember"
                    && b["user@odata.bind"]
                        .as_str()
                        .is_some_and(|u| u.contains("/users('"))
            });
            match member {
                Some(b) => (
                    StatusCode::CREATED,
                    axum::Json(json!({"id": "member-1", "roles": b["roles"]})),
                )
                    .into_response(),
                None => error(StatusCode::BAD_REQUEST, "BadRequest"),
            }
        }
        ("POST", ["chats", _, "installedApps"]) => {
            let bound = body
                .as_ref()
                .and_then(|b| b["teamsApp@odata.bind"].as_str())
                .is_some_and(|b| b.contains("/appCatalogs/teamsApps/"));
            if bound {
                StatusCode::CREATED.into_response()
            } else {
                error(StatusCode::BAD_REQUEST, "BadRequest")
            }
        }
        _ => error(StatusCode::NOT_FOUND, "NotFound"),
    }
}

async fn entra_metadata(
    State((_, base)): State<LoginState>,
    axum::extract::Path(tenant): axum::extract::Path<String>,
) -> Response {
    axum::Json(json!({
        "issuer": format!("{base}/entra/{{tenantid}}/v2.0"),
        "authorization_endpoint": format!("{base}/entra/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/entra/{tenant}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/v1/.well-known/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

fn found(location: &str) -> Response {
    (StatusCode::FOUND, [("location", location.to_owned())]).into_response()
}

/// The user "signs in" at once: a code bound to the PKCE challenge and nonce, back to the
/// redirect URI with the state.
async fn entra_authorize(
    State((state, _)): State<LoginState>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let mut entra = state.entra.lock().expect("lock");
    entra.authorize_requests.push(q.clone());
    let ok = q.get("client_id").map(String::as_str) == Some(APP_ID)
        && q.get("response_type").map(String::as_str) == Some("code")
        && q.get("code_challenge_method").map(String::as_str) == Some("S256")
        && q.get("scope")
            .is_some_and(|s| s.split(' ').any(|x| x == "openid"));
    let (Some(redirect), Some(st), Some(challenge), Some(nonce)) = (
        q.get("redirect_uri"),
        q.get("state"),
        q.get("code_challenge"),
        q.get("nonce"),
    ) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if !ok {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let code = format!("code-{}", entra.codes.len() + 1);
    let user = entra.user.clone();
    entra.codes.insert(
        code.clone(),
        (challenge.clone(), nonce.clone(), redirect.clone(), user),
    );
    let mut to = url::Url::parse(redirect).expect("redirect URI");
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", st);
    found(to.as_str())
}

/// Redeems a code once: client secret, redirect URI and PKCE verifier (S256) must match.
async fn entra_token(
    State((state, base)): State<LoginState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let refuse = |error: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": error, "error_description": error})),
        )
            .into_response()
    };
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return refuse("unsupported_grant_type");
    }
    if form.get("client_id").map(String::as_str) != Some(APP_ID)
        || form.get("client_secret").map(String::as_str) != Some(APP_PASSWORD)
    {
        return refuse("invalid_client");
    }
    let mut entra = state.entra.lock().expect("lock");
    let Some((challenge, nonce, redirect, user)) =
        form.get("code").and_then(|c| entra.codes.remove(c))
    else {
        return refuse("invalid_grant");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let computed =
        URL_SAFE_NO_PAD.encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    if computed != challenge || form.get("redirect_uri") != Some(&redirect) {
        return refuse("invalid_grant");
    }
    let now = unix_now();
    let tid = user["tid"].as_str().unwrap_or_default().to_owned();
    let mut claims = json!({
        "iss": format!("{base}/entra/{tid}/v2.0"),
        "aud": APP_ID,
        "exp": now + 3600,
        "nbf": now - 10,
        "iat": now - 10,
        "nonce": nonce,
        "ver": "2.0",
    });
    for (k, v) in user.as_object().into_iter().flatten() {
        claims[k] = v.clone();
    }
    let mut key = TestKey::one();
    match entra.tamper.as_deref() {
        Some("nonce") => claims["nonce"] = json!("another-nonce"),
        Some("aud") => claims["aud"] = json!("some-other-app"),
        Some("issuer") => claims["iss"] = json!(format!("{base}/entra/{OTHER_TENANT_ID}/v2.0")),
        Some("expired") => {
            claims["exp"] = json!(now - 3600);
            claims["nbf"] = json!(now - 7200);
        }
        Some("key") => key = TestKey::two().with_kid("unpublished-key"),
        _ => {}
    }
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": 3600,
        "access_token": "user-access-token",
        "id_token": key.sign(&claims),
    }))
    .into_response()
}

/// The admin grants consent at once, and Graph stops refusing.
async fn entra_consent(
    State((state, _)): State<LoginState>,
    axum::extract::Path(tenant): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    state
        .entra
        .lock()
        .expect("lock")
        .consent_requests
        .push(q.clone());
    let (Some(redirect), Some(st)) = (q.get("redirect_uri"), q.get("state")) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if q.get("client_id").map(String::as_str) != Some(APP_ID) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    state.graph_refused.store(false, Ordering::SeqCst);
    let mut to = url::Url::parse(redirect).expect("redirect URI");
    to.query_pairs_mut()
        .append_pair("admin_consent", "True")
        .append_pair("tenant", &tenant)
        .append_pair("state", st);
    found(to.as_str())
}

async fn connector(
    State(state): State<Arc<MockState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body_json: Option<Value> = serde_json::from_slice(&body).ok();
    let path = uri.path().to_owned();
    // Files an agent attached, as Teams' pre-authenticated download URLs serve them.
    if method == Method::GET
        && let Some(name) = path.strip_prefix("/files/")
    {
        return match name {
            "invoice.pdf" => (StatusCode::OK, b"%PDF-1.4\nmock invoice\n".to_vec()).into_response(),
            "fake.pdf" => (StatusCode::OK, b"MZ not a pdf".to_vec()).into_response(),
            "huge.pdf" => (StatusCode::OK, vec![b'%'; 2 * 1024 * 1024]).into_response(),
            // A slow host: Teams re-sends an activity it got no answer to within 15 s.
            "slow.pdf" => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                (StatusCode::OK, b"%PDF-1.4\nslow invoice\n".to_vec()).into_response()
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        };
    }

    let scripted = state.script.lock().expect("lock").pop_front();
    let (status, retry_after, reply) = if let Some(s) = scripted {
        (s.status, s.retry_after, s.body)
    } else if !token_accepted(&state, authorization.as_deref()) {
        (
            401,
            None,
            Some(json!({"error": {"code": "Unauthorized", "message": "token"}})),
        )
    } else {
        let n = state.activity_counter.fetch_add(1, Ordering::SeqCst) + 1;
        default_answer(&method, &path, n)
    };
    state.calls.lock().expect("lock").push(RecordedCall {
        method: method.to_string(),
        path,
        authorization,
        body: body_json,
        status,
        at: Instant::now(),
        answer: reply.clone(),
    });
    let mut response = match reply {
        Some(body) => (
            StatusCode::from_u16(status).expect("status"),
            axum::Json(body),
        )
            .into_response(),
        None => StatusCode::from_u16(status)
            .expect("status")
            .into_response(),
    };
    if let Some(ra) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", ra.parse().expect("header value"));
    }
    response
}

/// Without any issued token (anonymous mode) the Connector accepts requests without one,
/// like the Agents Playground; otherwise the bearer must be a live token.
fn token_accepted(state: &MockState, authorization: Option<&str>) -> bool {
    let issued = state.issued_tokens.lock().expect("lock");
    let requested_any = !state.token_requests.lock().expect("lock").is_empty();
    if !requested_any {
        return authorization.is_none();
    }
    authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| issued.iter().any(|i| i == t))
}

fn default_answer(method: &Method, path: &str, n: usize) -> (u16, Option<String>, Option<Value>) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", [_, "v3", "conversations"]) => (
            201,
            None,
            Some(json!({"id": format!("a:conv-{n}"), "activityId": format!("act-{n}")})),
        ),
        ("POST", [_, "v3", "conversations", _, "activities"])
        | ("POST", [_, "v3", "conversations", _, "activities", _]) => {
            (201, None, Some(json!({"id": format!("act-{n}")})))
        }
        ("PUT", [_, "v3", "conversations", _, "activities", id]) => {
            (200, None, Some(json!({"id": id})))
        }
        ("DELETE", [_, "v3", "conversations", _, "activities", _]) => (200, None, None),
        ("GET", [_, "v3", "conversations", _, "members"]) => (
            200,
            None,
            Some(
                json!([{"id": "29:user-1", "name": "Agent One", "aadObjectId": "00000000-0000-0000-0000-000000000020"}]),
            ),
        ),
        _ => (
            404,
            None,
            Some(json!({"error": {"code": "NotFound", "message": "no such route"}})),
        ),
    }
}
