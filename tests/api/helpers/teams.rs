//! The Teams side of the black-box tests: the agents, the demo-like tenant seeded through
//! the store, the `Teams` driver (installs, invokes, messages as the mock channel sends them),
//! customers starting chats, and what the mock Connector received.

use super::{TestApp, TestConfig};
use crate::mock_bf::{APP_ID, TENANT_ID};
use serde_json::{Value, json};
use std::time::Duration;
use switchboard::directory::model::{Service, User};
use switchboard::directory::store::{self, Kind};

pub const CONTACT: &str = "support-web";

pub const KEY: &str = "k-123";

pub const TEAMS_APP: &str = "a1b2c3d4-0000-4000-8000-00000000c0de";

/// An agent as Teams shows them to the bot.
#[derive(Clone, Copy)]
pub struct Agent {
    pub aad: &'static str,
    pub mri: &'static str,
    pub name: &'static str,
    pub personal: &'static str,
}

pub const ANNE: Agent = Agent {
    aad: "00000000-0000-0000-0000-0000000000a1",
    mri: "29:anne",
    name: "Anne Agent",
    personal: "a:personal-anne",
};

pub const BOB: Agent = Agent {
    aad: "00000000-0000-0000-0000-0000000000b2",
    mri: "29:bob",
    name: "Bob Agent",
    personal: "a:personal-bob",
};

pub fn config() -> TestConfig {
    TestConfig::default()
        .env("SWITCHBOARD_GRAPH__TEAMS_APP_ID", TEAMS_APP)
        .env(
            "SWITCHBOARD_GRAPH__TOKEN_URL",
            "{mock}/{tenant}/oauth2/v2.0/token",
        )
}

pub async fn spawn() -> TestApp {
    spawn_with(config()).await
}

pub async fn spawn_with(config: TestConfig) -> TestApp {
    let mock = crate::mock_bf::MockBotFramework::start().await;
    let mut config = config;
    for (_, value) in &mut config.env {
        *value = value.replace("{mock}", &mock.base_url);
    }
    crate::helpers::spawn_app_on(mock, config).await
}

/// A workflow that accepts and queues with `distribution`, then waits.
pub fn queue_workflow(id: &str, distribution: &str, ring_seconds: u32) -> Value {
    json!({"id": id, "name": id, "start": "accept", "activities": {
        "accept": {"type": "Accept", "next": "queue"},
        "queue": {"type": "QueueTask", "distribution": distribution, "ringTimeoutSeconds": ring_seconds,
                  "exits": {"queued": "wait", "failed": "end"}},
        "wait": {"type": "Delay", "seconds": 3600, "next": "wait2"},
        "wait2": {"type": "Delay", "seconds": 3600, "next": "wait"},
        "end": {"type": "Disconnect", "text": "Sorry, nobody is there."}
    }})
}

/// Seeds a service whose workflow queues with `distribution`, and the agents as members.
pub async fn seed(app: &TestApp, distribution: &str, ring_seconds: u32, agents: &[Agent]) {
    let workflow = queue_workflow("im", distribution, ring_seconds);
    let members: Vec<&str> = agents.iter().map(|a| a.aad).collect();
    let service: Service = serde_json::from_value(json!({
        "id": "support", "name": "Support", "workflow": "im", "members": members,
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "distribution": {"acwSeconds": 20, "ronaResetSeconds": 600},
        "interact": {"enabled": true, "instantMessage": true, "contactId": CONTACT, "widgetKey": KEY}
    }))
    .expect("service");
    crate::helpers::put_service(app, TENANT_ID, &workflow, &service).await;
    for agent in agents {
        seed_agent(app, *agent).await;
    }
}

/// Stores an agent (IM license, active in `support` and `web`) in the directory.
pub async fn seed_agent(app: &TestApp, agent: Agent) {
    seed_agent_in(app, agent, &["support", "web"]).await;
}

/// Stores an agent with the IM license, active in `services`, in the directory.
pub async fn seed_agent_in(app: &TestApp, agent: Agent, services: &[&str]) {
    store_user(
        app,
        agent,
        json!({"licenses": {"im": true}, "activeIn": services}),
    )
    .await;
}

/// Stores an agent in the directory with the fields of `more` besides their id and names.
pub async fn store_user(app: &TestApp, agent: Agent, mut more: Value) {
    more["id"] = json!(agent.aad);
    more["upn"] = json!(format!("{}@example.com", agent.mri));
    more["displayName"] = json!(agent.name);
    let user: User = serde_json::from_value(more).expect("user");
    store::put(
        &app.state.pool,
        TENANT_ID,
        Kind::User,
        agent.aad,
        &user,
        None,
        0,
    )
    .await
    .expect("user");
}

/// Drives the bot as Teams would: signed activities from an agent.
pub struct Teams<'a> {
    pub app: &'a TestApp,
}

impl Teams<'_> {
    pub fn activity(&self, agent: Agent, conversation: &str, kind: &str) -> Value {
        let personal = conversation.starts_with("a:");
        json!({
            "type": kind,
            "id": format!("in-{}", uuid::Uuid::new_v4()),
            "serviceUrl": self.app.mock.service_url(),
            "channelId": "msteams",
            "from": {"id": agent.mri, "name": agent.name, "aadObjectId": agent.aad},
            "conversation": {"conversationType": if personal {"personal"} else {"groupChat"},
                             "isGroup": !personal, "tenantId": TENANT_ID, "id": conversation},
            "recipient": {"id": format!("28:{APP_ID}"), "name": "Switchboard"},
            "channelData": {"tenant": {"id": TENANT_ID}},
            "locale": "en-US"
        })
    }

    pub async fn post(&self, activity: &Value) -> reqwest::Response {
        self.app
            .post_with_token(&self.app.valid_token(), activity)
            .await
    }

    pub async fn install(&self, agent: Agent) {
        let mut a = self.activity(agent, agent.personal, "installationUpdate");
        a["action"] = json!("add");
        assert_eq!(self.post(&a).await.status(), 200);
        let mut c = self.activity(agent, agent.personal, "conversationUpdate");
        c["membersAdded"] =
            json!([{"id": agent.mri, "aadObjectId": agent.aad}, {"id": format!("28:{APP_ID}")}]);
        assert_eq!(self.post(&c).await.status(), 200);
    }

    pub async fn say(&self, agent: Agent, conversation: &str, text: &str) -> reqwest::Response {
        let mut a = self.activity(agent, conversation, "message");
        a["text"] = json!(text);
        a["textFormat"] = json!("plain");
        self.post(&a).await
    }

    /// Presses a card button; returns the invoke response body.
    pub async fn press(&self, agent: Agent, conversation: &str, verb: &str, data: Value) -> Value {
        let mut a = self.activity(agent, conversation, "invoke");
        a["name"] = json!("adaptiveCard/action");
        a["value"] = json!({"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"});
        let response = self.post(&a).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("invoke body")
    }

    /// Presses Accept or Decline (`verb`) on an invitation card in the agent's personal chat.
    pub async fn answer(&self, agent: Agent, verb: &str, invitation: &str) -> Value {
        self.press(
            agent,
            agent.personal,
            verb,
            json!({"invitationId": invitation}),
        )
        .await
    }
}

/// The first TextBlock of a posted card, or the text of a message.
pub fn headline(body: &Value) -> String {
    body.pointer("/attachments/0/content/body/0/text")
        .or_else(|| body.get("text"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// `(method, conversation, headline, body)` of every call the mock Connector accepted.
pub fn posts(app: &TestApp) -> Vec<(String, String, String, Value)> {
    app.mock
        .calls()
        .into_iter()
        .filter(|c| c.status < 300)
        .filter_map(|c| {
            let segments: Vec<&str> = c.path.split('/').collect();
            let conversation = segments.get(4).map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })?;
            let body = c.body.unwrap_or(Value::Null);
            Some((c.method, conversation, headline(&body), body))
        })
        .collect()
}

/// Waits until some accepted Connector call matches.
pub async fn wait_post(
    app: &TestApp,
    what: &str,
    found: impl Fn(&(String, String, String, Value)) -> bool,
) -> (String, String, String, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(p) = posts(app).into_iter().find(|p| found(p)) {
            return p;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what}; posts: {:#?}",
            posts(app)
                .iter()
                .map(|(m, c, h, _)| format!("{m} {c} {h}"))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct Customer {
    pub session: String,
    pub token: String,
}

pub async fn start_chat(app: &TestApp, name: &str, first: Option<&str>) -> Customer {
    start_chat_on(app, CONTACT, KEY, name, "ada@example.com", first).await
}

/// Starts a chat on a contact as a customer would; `first` is the opening message.
pub async fn start_chat_on(
    app: &TestApp,
    contact: &str,
    key: &str,
    name: &str,
    email: &str,
    first: Option<&str>,
) -> Customer {
    let mut body =
        json!({"widgetKey": key, "displayName": name, "email": email, "privacyConsent": true});
    if let Some(first) = first {
        body["message"] = json!(first);
    }
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/interact/v1/contacts/{contact}/sessions",
            app.address
        ))
        .json(&body)
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 201);
    let v: Value = response.json().await.expect("json");
    Customer {
        session: v["sessionId"].as_str().expect("id").to_owned(),
        token: v["token"].as_str().expect("token").to_owned(),
    }
}

impl Customer {
    pub async fn say(&self, app: &TestApp, text: &str) {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/api/interact/v1/sessions/{}/messages",
                app.address, self.session
            ))
            .bearer_auth(&self.token)
            .json(&json!({"text": text, "clientMessageId": uuid::Uuid::new_v4().to_string()}))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
    }

    pub async fn leave(&self, app: &TestApp) {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/api/interact/v1/sessions/{}/end",
                app.address, self.session
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("end");
        assert!(response.status().is_success());
    }

    /// The events stored for the customer so far.
    pub async fn events(&self, app: &TestApp) -> Vec<Value> {
        app.event_texts(&self.session)
            .await
            .iter()
            .map(|event| serde_json::from_str(event).expect("event"))
            .collect()
    }

    pub async fn wait_event(
        &self,
        app: &TestApp,
        what: &str,
        found: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.events(app).await.into_iter().find(|e| found(e)) {
                return e;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what}: {:?}",
                self.events(app).await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub async fn outcome(app: &TestApp, session: &str) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let outcome = app
            .text(
                "SELECT outcome FROM report_sessions WHERE session_id = $1",
                &[session],
            )
            .await;
        if outcome.is_some() {
            return outcome;
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn offer_outcomes(app: &TestApp, session: &str) -> Vec<(String, String)> {
    app.text_pairs(
        "SELECT user_id, outcome FROM report_offers WHERE session_id = $1 ORDER BY offer_id",
        &[session],
    )
    .await
}

pub(crate) fn invitation_id(body: &Value) -> String {
    body.pointer("/attachments/0/content/body")
        .and_then(Value::as_array)
        .and_then(|blocks| {
            blocks.iter().find_map(|b| {
                b.pointer("/actions/0/data/invitationId")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
        })
        .expect("invitation id on the card")
}

/// Waits for the invitation card of `agent` for the `n`th time (1-based) and returns its id.
pub async fn invitation_for(app: &TestApp, agent: Agent, n: usize) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let cards: Vec<Value> = posts(app)
            .into_iter()
            .filter(|(m, c, h, _)| m == "POST" && c == agent.personal && h == "New chat request")
            .map(|(_, _, _, b)| b)
            .collect();
        if cards.len() >= n {
            return invitation_id(&cards[n - 1]);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no invitation #{n} for {}",
            agent.name
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn card_updates(app: &TestApp, agent: Agent) -> Vec<String> {
    posts(app)
        .into_iter()
        .filter(|(m, c, _, _)| m == "PUT" && c == agent.personal)
        .map(|(_, _, h, _)| h)
        .collect()
}

pub(crate) async fn wait_update(app: &TestApp, agent: Agent, headline: &str) {
    wait_post(app, headline, |(m, c, h, _)| {
        m == "PUT" && c == agent.personal && h == headline
    })
    .await;
}

/// Registers Anne, starts a chat and has her accept it; returns the chatroom conversation.
pub(crate) async fn connected_chat(
    app: &TestApp,
    teams: &Teams<'_>,
    first: Option<&str>,
) -> (Customer, String) {
    teams.install(ANNE).await;
    let ada = start_chat(app, "Ada", first).await;
    let id = invitation_for(app, ANNE, 1).await;
    teams.answer(ANNE, "im.invitation.accept", &id).await;
    let (_, chat, _, _) = wait_post(app, "chat started", |(_, _, h, _)| h == "Chat started").await;
    ada.wait_event(app, "connected", |e| e["state"] == "connected")
        .await;
    (ada, chat)
}

/// The texts posted in the group chat `chat`, in order.
pub fn chat_texts(app: &TestApp, chat: &str) -> Vec<String> {
    posts(app)
        .into_iter()
        .filter(|(m, c, _, b)| m == "POST" && c == chat && b.get("text").is_some())
        .map(|(_, _, h, _)| h)
        .collect()
}

/// The template choices (`name|language`) of a "Re-engage on WhatsApp" card.
pub fn template_choices(card: &Value) -> Vec<String> {
    card.pointer("/attachments/0/content/body/2/choices")
        .and_then(Value::as_array)
        .expect("choices")
        .iter()
        .filter_map(|c| c["value"].as_str().map(str::to_owned))
        .collect()
}

/// The activity id Teams gave the bot's post into `chat` whose text contains `text` (as the
/// mock Connector answered it), waiting for it.
pub async fn posted_id(app: &TestApp, chat: &str, text: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = app.mock.calls().into_iter().find(|c| {
            c.method == "POST"
                && c.status < 300
                && c.path.split('/').nth(4).is_some_and(|s| {
                    percent_encoding::percent_decode_str(s).decode_utf8_lossy() == chat
                })
                && c.body
                    .as_ref()
                    .is_some_and(|b| b.to_string().contains(text))
        });
        if let Some(id) = found.and_then(|c| c.answer?["id"].as_str().map(str::to_owned)) {
            return id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no post of {text:?} in {chat}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
