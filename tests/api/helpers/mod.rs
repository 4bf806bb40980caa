//! `spawn_app()` and the `TestApp` driver: the real `Application::build` on port 0 with a fresh
//! SQLite database, pointed at the mock Bot Framework.

pub mod postgres;
pub mod teams;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::app::AppState;
use switchboard::botframework::connector::ConnectorCall;
use switchboard::botframework::service_url::ServiceUrl;
use switchboard::clock::{Clock, SystemClock};
use switchboard::config::Settings;
use switchboard::outbox::OutboxId;
use switchboard::startup::Application;
use switchboard::store::AsPool;
use switchboard::store::conversations::{self, ConversationReference};
use switchboard::store::outbox::Entry;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::mock_bf::{APP_ID, APP_PASSWORD, MockBotFramework, TENANT_ID};

/// How to configure the app under test.
#[derive(Clone)]
pub struct TestConfig {
    pub anonymous: bool,
    pub env: Vec<(String, String)>,
    pub clock: Arc<dyn Clock>,
    pub db_dir: Option<Arc<tempfile::TempDir>>,
    /// The PostgreSQL database of a run on PostgreSQL (`SWITCHBOARD_TEST_STORE=postgres`),
    /// kept for a restart like `db_dir`.
    pub db_url: Option<String>,
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig {
            anonymous: false,
            env: Vec::new(),
            clock: Arc::new(SystemClock),
            db_dir: None,
            db_url: None,
        }
    }
}

impl TestConfig {
    pub fn anonymous() -> Self {
        TestConfig {
            anonymous: true,
            ..TestConfig::default()
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub mock: Arc<MockBotFramework>,
    pub config: TestConfig,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestConfig::default()).await
}

pub async fn spawn_app_with(config: TestConfig) -> TestApp {
    let mock = MockBotFramework::start().await;
    spawn_app_on(mock, config).await
}

/// Spawns the app against an existing mock (and, with `config.db_dir`, an existing database).
pub async fn spawn_app_on(mock: Arc<MockBotFramework>, mut config: TestConfig) -> TestApp {
    let dir = config
        .db_dir
        .get_or_insert_with(|| Arc::new(tempfile::tempdir().expect("tempdir")))
        .clone();
    let db: PathBuf = dir.path().join("switchboard.db");
    let store_url = match (&config.db_url, test_store_is_postgres()) {
        (Some(url), _) => url.clone(),
        (None, true) => {
            let url = postgres::database("spawn_app")
                .await
                .expect("SWITCHBOARD_TEST_STORE=postgres needs the PostgreSQL server binaries");
            config.db_url = Some(url.clone());
            url
        }
        (None, false) => format!("sqlite://{}", db.display()),
    };
    let mut env: HashMap<String, String> = HashMap::from([
        ("SWITCHBOARD_SERVER__BIND".into(), "127.0.0.1:0".into()),
        ("SWITCHBOARD_STORE__URL".into(), store_url),
        (
            "SWITCHBOARD_BOT__OPENID_METADATA_URL".into(),
            mock.metadata_url(),
        ),
        ("SWITCHBOARD_BOT__TOKEN_URL".into(), mock.token_url()),
        (
            "SWITCHBOARD_BOT__ALLOWED_SERVICE_URLS".into(),
            "http://127.0.0.1:*".into(),
        ),
        (
            "SWITCHBOARD_GRAPH__BASE_URL".into(),
            format!("{}/graph/v1.0", mock.base_url),
        ),
        ("SWITCHBOARD_OUTBOX__RETRY_BASE_MS".into(), "50".into()),
        ("SWITCHBOARD_OUTBOX__RETRY_MAX_MS".into(), "2000".into()),
    ]);
    if !config.anonymous {
        env.insert("SWITCHBOARD_BOT__APP_ID".into(), APP_ID.into());
        env.insert("SWITCHBOARD_BOT__APP_PASSWORD".into(), APP_PASSWORD.into());
        env.insert("SWITCHBOARD_BOT__APP_TYPE".into(), "SingleTenant".into());
        env.insert("SWITCHBOARD_BOT__TENANT_ID".into(), TENANT_ID.into());
    }
    env.extend(config.env.iter().cloned());
    let settings = Settings::load(None, &env).expect("test settings");
    let app = Application::build_with_clock(settings, Arc::clone(&config.clock))
        .await
        .expect("build app");
    let address = format!("http://{}", app.local_addr().expect("addr"));
    let state = app.state();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        state,
        mock,
        config,
        client: reqwest::Client::new(),
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    /// A Teams personal-chat message activity addressed to the mock Connector.
    pub fn activity(&self) -> Value {
        json!({
            "type": "message",
            "id": "1485983408511",
            "timestamp": "2026-11-21T10:00:00.000Z",
            "serviceUrl": self.mock.service_url(),
            "channelId": "msteams",
            "from": {"id": "29:1a2b3c", "name": "Agent One", "aadObjectId": "00000000-0000-0000-0000-000000000020"},
            "conversation": {"conversationType": "personal", "tenantId": TENANT_ID, "id": "a:1personal"},
            "recipient": {"id": format!("28:{APP_ID}"), "name": "Switchboard"},
            "textFormat": "plain",
            "text": "hello",
            "channelData": {"tenant": {"id": TENANT_ID}},
            "locale": "en-US"
        })
    }

    /// A valid token for [`Self::activity`].
    pub fn valid_token(&self) -> String {
        crate::mock_bf::TestKey::one().sign(&self.mock.claims(&self.mock.service_url()))
    }

    pub async fn post_activity(
        &self,
        authorization: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        self.post_raw(authorization, body.to_string().into_bytes())
            .await
    }

    pub async fn post_with_token(&self, token: &str, body: &Value) -> reqwest::Response {
        self.post_activity(Some(&format!("Bearer {token}")), body)
            .await
    }

    pub async fn post_raw(&self, authorization: Option<&str>, body: Vec<u8>) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/api/messages", self.address))
            .header("content-type", "application/json")
            .body(body);
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        request.send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }

    pub async fn stored_reference(&self, conversation_id: &str) -> Option<ConversationReference> {
        conversations::find(&self.state.pool, "msteams", conversation_id)
            .await
            .expect("query")
    }

    /// Queues a plain message to `conversation_id` at the mock Connector.
    pub async fn queue_message(&self, conversation_id: &str, text: &str) -> OutboxId {
        let service_url = ServiceUrl::parse(&self.mock.service_url()).expect("service url");
        self.queue(&service_url, conversation_id, text).await
    }

    pub async fn queue(
        &self,
        service_url: &ServiceUrl,
        conversation_id: &str,
        text: &str,
    ) -> OutboxId {
        let call = ConnectorCall::Send {
            conversation_id: conversation_id.to_owned(),
            activity: switchboard::botframework::activity::Activity::message(text),
        };
        self.state
            .outbox
            .send(service_url, &call)
            .await
            .expect("enqueue")
    }

    pub async fn outbox_entry(&self, id: OutboxId) -> Entry {
        self.state
            .outbox
            .entry(id)
            .await
            .expect("query")
            .expect("row")
    }

    /// Waits (polling, bounded) until the outbox row leaves `pending`, or `timeout` passes.
    pub async fn settled(&self, id: OutboxId, timeout: Duration) -> Entry {
        self.wait_for(id, timeout, |e| e.state != "pending").await
    }

    pub async fn wait_for(
        &self,
        id: OutboxId,
        timeout: Duration,
        done: impl Fn(&Entry) -> bool,
    ) -> Entry {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let entry = self.outbox_entry(id).await;
            if done(&entry) || tokio::time::Instant::now() >= deadline {
                return entry;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A `SELECT COUNT(*) …` on the service's database, whichever backend it is.
    pub async fn count(&self, sql: &str) -> i64 {
        self.count_with(sql, &[]).await
    }

    /// [`Self::count`] with text arguments for `$1`, `$2`….
    pub async fn count_with(&self, sql: &str, args: &[&str]) -> i64 {
        switchboard::db!(self.state.pool.on(), |c| {
            let mut query = sqlx::query_scalar::<_, i64>(sql);
            for arg in args {
                query = query.bind(*arg);
            }
            query.fetch_one(c).await
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first column (text, not NULL) of every row of a query with text arguments for
    /// `$1`, `$2`…, on the service's database.
    pub async fn texts(&self, sql: &str, args: &[&str]) -> Vec<String> {
        switchboard::db!(self.state.pool.on(), |c| {
            let mut query = sqlx::query_scalar::<_, String>(sql);
            for arg in args {
                query = query.bind(*arg);
            }
            query.fetch_all(c).await
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first column (text, not NULL) of the first row, if any: [`Self::texts`] for one.
    pub async fn text(&self, sql: &str, args: &[&str]) -> Option<String> {
        switchboard::db!(self.state.pool.on(), |c| {
            let mut query = sqlx::query_scalar::<_, String>(sql);
            for arg in args {
                query = query.bind(*arg);
            }
            query.fetch_optional(c).await
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first two columns (text, not NULL) of every row, as [`Self::texts`].
    pub async fn text_pairs(&self, sql: &str, args: &[&str]) -> Vec<(String, String)> {
        switchboard::db!(self.state.pool.on(), |c| {
            let mut query = sqlx::query_as::<_, (String, String)>(sql);
            for arg in args {
                query = query.bind(*arg);
            }
            query.fetch_all(c).await
        })
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs a statement without arguments on the service's database (to set up a state the
    /// service would not reach by itself); the number of rows it changed.
    pub async fn execute(&self, sql: &str) -> u64 {
        switchboard::db!(self.state.pool.on(), |c| sqlx::query(sql)
            .execute(c)
            .await
            .map(|done| done.rows_affected()))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// What is stored of the customer conversation `session`, its events' JSON texts in
    /// order.
    pub async fn event_texts(&self, session: &str) -> Vec<String> {
        self.texts(
            "SELECT event FROM interact_events WHERE session_id = $1 ORDER BY seq",
            &[session],
        )
        .await
    }

    /// Stops the app gracefully, keeping its database for a restart.
    pub async fn stop(mut self) -> TestConfig {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("join").expect("clean shutdown");
        }
        self.config.clone()
    }
}

/// Whether the in-process apps of this run use a throw-away PostgreSQL instead of an SQLite file
/// (`SWITCHBOARD_TEST_STORE=postgres`).
pub fn test_store_is_postgres() -> bool {
    std::env::var("SWITCHBOARD_TEST_STORE").as_deref() == Ok("postgres")
}

/// Runs the `switchboard` binary in `dir` with an empty environment, as a newcomer would.
pub fn switchboard(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .current_dir(dir)
        .env_clear()
        .args(args)
        .output()
        .expect("run")
}

/// Whether `condition` holds within about five seconds (polled every 20 ms).
pub async fn eventually(condition: impl Fn() -> bool) -> bool {
    for _ in 0..250 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

/// Reads a problem+json body, checking the content type.
pub async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "status {status}");
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["status"].as_u64(), Some(u64::from(status)));
    (status, body)
}

/// Stores a workflow document and a service in a tenant's directory.
pub async fn put_service(
    app: &TestApp,
    tenant: &str,
    workflow: &Value,
    service: &switchboard::directory::model::Service,
) {
    use switchboard::directory::store::{self, Kind};
    let workflow_id = workflow["id"].as_str().expect("workflow id");
    store::put(
        &app.state.pool,
        tenant,
        Kind::Workflow,
        workflow_id,
        workflow,
        None,
        0,
    )
    .await
    .expect("workflow");
    store::put(
        &app.state.pool,
        tenant,
        Kind::Service,
        &service.id,
        service,
        None,
        0,
    )
    .await
    .expect("service");
}
