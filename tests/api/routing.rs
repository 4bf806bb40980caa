//! How a chat finds an agent, tried from outside: customers through the Interact API, agents
//! through `/api/messages`, the admin API with a key, every Connector call recorded by the mock.
//! One test per finding of the routing review (issue 19).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::clock::ManualClock;
use switchboard::directory::model::Service;
use switchboard::directory::store::{self, Kind};
use switchboard::engine::messages::Command;

use crate::helpers::teams::{
    self, ANNE, Agent, BOB, Customer, Teams, invitation_for, offer_outcomes, outcome, posts,
    queue_workflow, wait_post, wait_update,
};
use crate::helpers::{TestApp, TestConfig};
use crate::mock_bf::TENANT_ID;

/// A service with its own contact id and widget key (`{id}-web`, `{id}-key`).
async fn put_service(app: &TestApp, id: &str, priority: &str, workflow: &Value, members: &[Agent]) {
    let members: Vec<&str> = members.iter().map(|a| a.aad).collect();
    let service: Service = serde_json::from_value(json!({
        "id": id, "name": id, "workflow": workflow["id"], "members": members,
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "distribution": {"acwSeconds": 0, "ronaResetSeconds": 600, "defaultPriority": priority},
        "interact": {"enabled": true, "instantMessage": true,
                     "contactId": format!("{id}-web"), "widgetKey": format!("{id}-key")}
    }))
    .expect("service");
    crate::helpers::put_service(app, TENANT_ID, workflow, &service).await;
}

/// Starts a chat on a contact; `first` is the opening message.
async fn chat_on(
    app: &TestApp,
    contact: &str,
    key: &str,
    name: &str,
    first: Option<&str>,
) -> Customer {
    let email = format!("{}@example.com", name.to_lowercase());
    teams::start_chat_on(app, contact, key, name, &email, first).await
}

/// The customer names on the invitation cards an agent received, in order.
fn invited_customers(app: &TestApp, agent: Agent) -> Vec<String> {
    posts(app)
        .into_iter()
        .filter(|(m, c, h, _)| m == "POST" && c == agent.personal && h == "New chat request")
        .map(|(_, _, _, b)| {
            ["Adelheid", "Bartholomew"]
                .into_iter()
                .find(|n| b.to_string().contains(n))
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

async fn wait_invitations(app: &TestApp, agent: Agent, n: usize) -> Vec<String> {
    invitation_for(app, agent, n).await;
    invited_customers(app, agent)
}

/// Moves the manual clock and lets the engine see it.
async fn advance(app: &TestApp, clock: &ManualClock, seconds: i64) {
    clock.advance(chrono::Duration::seconds(seconds));
    let engine = app.state.engines.get(TENANT_ID).await.expect("engine");
    engine.send(Command::Tick).await.expect("tick");
}

/// Finding 1: with one agent serving two services, the strict customer is offered first
/// whatever the services' ids (it followed their alphabetical order).
#[tokio::test]
async fn a_strict_customer_goes_first_across_services_whatever_their_ids() {
    for (low, high) in [("aa-low", "zz-high"), ("z-low", "a-high")] {
        let app = teams::spawn().await;
        put_service(
            &app,
            low,
            "low",
            &queue_workflow("wl", "direct", 30),
            &[ANNE],
        )
        .await;
        put_service(
            &app,
            high,
            "strict",
            &queue_workflow("wh", "direct", 30),
            &[ANNE],
        )
        .await;
        teams::seed_agent_in(&app, ANNE, &[low, high]).await;
        let teams = Teams { app: &app };
        teams.install(ANNE).await;
        assert_eq!(teams.say(ANNE, ANNE.personal, "away").await.status(), 200);
        wait_post(&app, "away answer", |(_, c, _, b)| {
            c == ANNE.personal && b.to_string().to_lowercase().contains("away")
        })
        .await;
        chat_on(
            &app,
            &format!("{low}-web"),
            &format!("{low}-key"),
            "Adelheid",
            None,
        )
        .await;
        chat_on(
            &app,
            &format!("{high}-web"),
            &format!("{high}-key"),
            "Bartholomew",
            None,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(invited_customers(&app, ANNE).is_empty(), "away: no offer");
        assert_eq!(
            teams.say(ANNE, ANNE.personal, "available").await.status(),
            200
        );
        assert_eq!(
            wait_invitations(&app, ANNE, 1).await,
            ["Bartholomew"],
            "{low} / {high}: the strict customer first"
        );
    }
}

/// Anne and Bob, registered, serve a service that rings them for 8 s with `distribution`;
/// Ada has just asked for a chat there.
async fn anne_and_bob_on(distribution: &str) -> (TestApp, Arc<ManualClock>, Customer) {
    let clock = Arc::new(ManualClock::default());
    let app = teams::spawn_with(teams::config().clock(clock.clone())).await;
    let workflow = queue_workflow("im", distribution, 8);
    put_service(&app, "support", "normal", &workflow, &[ANNE, BOB]).await;
    let teams = Teams { app: &app };
    for agent in [ANNE, BOB] {
        teams::seed_agent_in(&app, agent, &["support"]).await;
        teams.install(agent).await;
    }
    let ada = chat_on(&app, "support-web", "support-key", "Ada", None).await;
    (app, clock, ada)
}

/// Finding 2: a direct chat that every agent missed is offered again when one is back.
#[tokio::test]
async fn a_chat_every_agent_missed_is_offered_again_when_an_agent_is_back() {
    let (app, clock, ada) = anne_and_bob_on("direct").await;
    let teams = Teams { app: &app };
    invitation_for(&app, ANNE, 1).await;
    advance(&app, &clock, 9).await;
    wait_update(&app, ANNE, "You missed this chat").await;
    invitation_for(&app, BOB, 1).await;
    advance(&app, &clock, 9).await;
    wait_update(&app, BOB, "You missed this chat").await;

    // Bob is back first: the customer is offered to him again at once.
    teams
        .press(BOB, BOB.personal, "im.agent.back", json!({}))
        .await;
    let again = invitation_for(&app, BOB, 2).await;
    teams
        .press(ANNE, ANNE.personal, "im.agent.back", json!({}))
        .await;
    teams.answer(BOB, "im.invitation.accept", &again).await;
    ada.wait_event(&app, "connected", |e| e["state"] == "connected")
        .await;
    assert_eq!(
        offer_outcomes(&app, &ada.session).await,
        [
            (ANNE.aad.to_owned(), "rona".to_owned()),
            (BOB.aad.to_owned(), "rona".to_owned()),
            (BOB.aad.to_owned(), "accepted".to_owned())
        ]
    );
}

/// Finding 3: an unanswered broadcast rings again instead of leaving the customer queued.
#[tokio::test]
async fn an_unanswered_broadcast_rings_again() {
    let (app, clock, ada) = anne_and_bob_on("broadcast").await;
    let teams = Teams { app: &app };
    invitation_for(&app, ANNE, 1).await;
    invitation_for(&app, BOB, 1).await;
    advance(&app, &clock, 9).await;
    wait_update(&app, ANNE, "You missed this chat").await;
    wait_update(&app, BOB, "You missed this chat").await;
    // No RONA for broadcast: both are rung again at once.
    let (a, _) = tokio::join!(invitation_for(&app, ANNE, 2), invitation_for(&app, BOB, 2));
    teams.answer(ANNE, "im.invitation.accept", &a).await;
    ada.wait_event(&app, "connected", |e| {
        e["state"] == "connected" && e["agent"] == ANNE.name
    })
    .await;
}

/// A user with the Interact license whose contact takes chats straight to them.
async fn put_direct_user(app: &TestApp, agent: Agent, capacity: u32) {
    let interact = json!({"enabled": true, "instantMessage": true,
                          "contactId": "anne-web", "widgetKey": "anne-key"});
    teams::store_user(
        app,
        agent,
        json!({"licenses": {"im": true, "interact": true}, "capacity": capacity, "interact": interact}),
    )
    .await;
}

/// Finding 4: direct to user — the first message once, presence and capacity respected, and
/// the customer told why a chat cannot start.
#[tokio::test]
async fn a_direct_chat_respects_presence_and_capacity_and_tells_the_customer_why_not() {
    let app = teams::spawn().await;
    put_direct_user(&app, ANNE, 1).await;
    let teams = Teams { app: &app };

    // Not registered with the bot yet: the customer is told, the chat ends.
    let early = chat_on(&app, "anne-web", "anne-key", "Cy", Some("Hi?")).await;
    early
        .wait_event(&app, "explanation", |e| {
            e["text"]
                .as_str()
                .is_some_and(|t| t.contains("can't receive chats"))
        })
        .await;
    early
        .wait_event(&app, "ended", |e| e["state"] == "ended")
        .await;

    teams.install(ANNE).await;
    let ada = chat_on(&app, "anne-web", "anne-key", "Ada", Some("Hello Anne")).await;
    ada.wait_event(&app, "connected", |e| e["state"] == "connected")
        .await;
    wait_post(&app, "first message", |(_, _, h, _)| {
        h == "**Ada**: Hello Anne"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let copies = posts(&app)
        .iter()
        .filter(|(_, _, h, _)| h == "**Ada**: Hello Anne")
        .count();
    assert_eq!(copies, 1, "the opening message is posted once");

    // At capacity (1): a second customer is told she is busy; the live view counts the chat.
    let bo = chat_on(&app, "anne-web", "anne-key", "Bo", None).await;
    bo.wait_event(&app, "busy", |e| {
        e["text"].as_str().is_some_and(|t| t.contains("busy"))
    })
    .await;
    let engine = app.state.engines.get(TENANT_ID).await.expect("engine");
    let live = engine.live().await.expect("live");
    let anne = live
        .agents
        .iter()
        .find(|a| a.id == ANNE.aad)
        .expect("anne in the live view");
    assert_eq!(anne.sessions, 1);
    assert_eq!(
        outcome(&app, &bo.session).await.as_deref(),
        Some("cancelled")
    );

    // Away: nobody is connected to her.
    ada.leave(&app).await;
    assert_eq!(teams.say(ANNE, ANNE.personal, "away").await.status(), 200);
    wait_post(&app, "away answer", |(_, c, _, b)| {
        c == ANNE.personal && b.to_string().to_lowercase().contains("away")
    })
    .await;
    let di = chat_on(&app, "anne-web", "anne-key", "Di", None).await;
    di.wait_event(&app, "unavailable", |e| {
        e["text"]
            .as_str()
            .is_some_and(|t| t.contains("isn't available"))
    })
    .await;
    di.wait_event(&app, "ended", |e| e["state"] == "ended")
        .await;
    assert!(
        !di.events(&app)
            .await
            .iter()
            .any(|e| e["state"] == "connected"),
        "never connected while away"
    );
}

/// Finding 5 (and the echo of finding 8): the opening message is what the customer came
/// with — echoed first, and never taken as the answer to a prompt not yet asked.
#[tokio::test]
async fn the_opening_message_is_echoed_first_and_is_not_the_answer_to_a_prompt() {
    let app = teams::spawn().await;
    let workflow = json!({"id": "ask", "name": "Ask", "start": "accept", "activities": {
        "accept": {"type": "Accept", "next": "hello"},
        "hello": {"type": "Message", "text": "Welcome!", "next": "topic"},
        "topic": {"type": "InputCustomer", "prompt": "Billing or sales?", "parameter": "topic",
                  "choices": ["billing", "sales"],
                  "exits": {"billing": "b", "sales": "s", "other": "o", "timeout": "t"}},
        "b": {"type": "Disconnect", "text": "Billing it is."},
        "s": {"type": "Disconnect", "text": "Sales it is."},
        "o": {"type": "Disconnect", "text": "You said ${topic}."},
        "t": {"type": "Disconnect", "text": "Too late."}
    }});
    put_service(&app, "ask", "normal", &workflow, &[]).await;
    let ada = chat_on(&app, "ask-web", "ask-key", "Ada", Some("hello")).await;
    ada.wait_event(&app, "prompt", |e| e["text"] == "Billing or sales?")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = ada.events(&app).await;
    assert!(
        !events.iter().any(|e| e["text"] == "You said hello."),
        "the opening message answered the prompt: {events:?}"
    );
    let texts: Vec<&str> = events.iter().filter_map(|e| e["text"].as_str()).collect();
    assert_eq!(
        texts.first(),
        Some(&"hello"),
        "the customer's own message comes first: {texts:?}"
    );
    ada.say(&app, "billing").await;
    ada.wait_event(&app, "billing", |e| e["text"] == "Billing it is.")
        .await;
}

/// Finding 7: a Transfer to a service that does not exist is refused when the workflow is
/// checked, stored or assigned, not found at run time.
#[tokio::test]
async fn a_transfer_to_a_missing_service_is_a_validation_problem() {
    let app = teams::spawn().await;
    let api = crate::admin::Api::new(&app, TENANT_ID).await;
    let workflow = json!({"id": "tw", "name": "T", "start": "accept", "activities": {
        "accept": {"type": "Accept", "next": "move"},
        "move": {"type": "Transfer", "service": "Nowhere", "exits": {"failed": "end"}},
        "end": {"type": "Disconnect"}
    }});
    let (status, _, body) = api.post("/workflows/validate", &workflow).await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], false, "{body}");
    assert_eq!(body["problems"][0]["code"], "unknown_service", "{body}");
    assert_eq!(body["problems"][0]["path"], "/activities/move/service");
    let (status, _, body) = api.post("/workflows", &workflow).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["problems"][0]["code"], "unknown_service", "{body}");

    // Once the target exists (by name, in any case), the same workflow is valid.
    let target = json!({"id": "nowhere", "name": "Nowhere", "members": [],
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true}});
    let (status, _, body) = api.post("/services", &target).await;
    assert_eq!(status, 201, "{body}");
    let (_, _, body) = api.post("/workflows/validate", &workflow).await;
    assert_eq!(body["valid"], true, "{body}");
    let (status, _, body) = api.post("/workflows", &workflow).await;
    assert_eq!(status, 201, "{body}");
}

/// Finding 8: in dev mode, a tenant imported as a file is left as its file says — installing
/// the bot does not make the user a member of its `support` service.
#[tokio::test]
async fn dev_mode_does_not_add_agents_to_an_imported_support_service() {
    use switchboard::demo::DEMO_TENANT;
    let app = crate::helpers::spawn_app_with(TestConfig::anonymous()).await;
    // The operator's own tenant file, imported over the demo: its support service has its
    // own members and no demo contact.
    let bundle = json!({"switchboardTenant": 1,
        "tenant": {"id": DEMO_TENANT, "name": "Contoso", "imEnabled": true},
        "calendars": [], "workflows": [queue_workflow("im", "direct", 30)], "users": [],
        "services": [{"id": "support", "name": "Support", "workflow": "im", "members": ["someone"],
            "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
            "interact": {"enabled": true, "instantMessage": true, "contactId": "contoso-web", "widgetKey": "contoso"}}]});
    let bundle = switchboard::tenant_file::Bundle::parse(&bundle.to_string()).expect("bundle");
    switchboard::tenant_file::import(&app.state.pool, &bundle, true, 0)
        .await
        .expect("import");
    let mut install = json!({
        "type": "installationUpdate", "action": "add", "id": uuid::Uuid::new_v4().to_string(),
        "serviceUrl": app.mock.service_url(), "channelId": "msteams",
        "from": {"id": "user-id-0", "name": "Alex Wilber", "aadObjectId": "00000000-0000-0000-0000-0000000000a0"},
        "conversation": {"id": "personal-conv-1", "conversationType": "personal", "tenantId": DEMO_TENANT},
        "recipient": {"id": "00000000-0000-0000-0000-00000000000011", "name": "Test Bot"},
        "channelData": {"tenant": {"id": DEMO_TENANT}}
    });
    assert_eq!(app.post_activity(None, &install).await.status(), 200);
    install["id"] = json!(uuid::Uuid::new_v4().to_string());
    wait_post(&app, "welcome", |(_, c, _, _)| c == "personal-conv-1").await;
    let support = store::get::<Service>(&app.state.pool, DEMO_TENANT, Kind::Service, "support")
        .await
        .expect("get")
        .expect("support");
    assert_eq!(
        support.value.members.iter().collect::<Vec<_>>(),
        ["someone"],
        "the imported service keeps its members"
    );
}
