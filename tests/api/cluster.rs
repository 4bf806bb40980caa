//! Three instances of the binary on one PostgreSQL database and the mock Bot Framework, with
//! customers, agents and Teams users sent to random instances, while the owner of the tenants
//! is killed with `kill -9`, then paused with SIGSTOP until its lease has passed and resumed,
//! then stopped with SIGTERM. Each customer chats with an agent who accepted their invitation
//! (anonymous dev mode: the agent's personal chat is the chatroom). Checked:
//! - every acknowledged customer message is in its session's events exactly once, in order,
//!   and reaches the agent in order, sent twice at most where a takeover caught it in flight;
//! - every acknowledged agent message reaches the customer's events exactly once, in order;
//! - every customer stream, wherever it is served and however often it reconnects, sees each
//!   event once, in order, without a gap, and every session ends exactly once;
//! - no invitation is posted twice;
//! - every acknowledged Teams activity of other users gets its reply, in order, with at most
//!   the calls in flight at the kill and the pause sent twice.
//!
//! The takeover times are printed.

use std::collections::HashMap;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard::store::AsPool;

use crate::crash::{assert_replies_in_order, message, notice, start_binary};
use crate::mock_bf::MockBotFramework;

const INSTANCES: usize = 3;
const CONVERSATIONS: usize = 4;
/// Customers, each with an agent of their own.
const SESSIONS: usize = 4;

/// The demo tenant of anonymous dev mode.
const DEMO_TENANT: &str = "00000000-0000-0000-0000-0000000000001";

/// An agent's activity in their personal chat with the bot (how tests/browser/agent.js plays
/// Teams).
fn agent_activity(service_url: &str, agent: usize, kind: &str, more: Value) -> Value {
    let mut activity = json!({
        "type": kind, "id": format!("agent{agent}-{}", uuid::Uuid::new_v4().simple()),
        "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": format!("29:agent{agent}"), "name": format!("Agent {agent}"), "aadObjectId": format!("00000000-0000-0000-0000-00000000a{agent:03}")},
        "conversation": {"id": format!("a:agent{agent}"), "conversationType": "personal", "tenantId": DEMO_TENANT},
        "recipient": {"id": "28:switchboard", "name": "Switchboard"},
        "channelData": {"tenant": {"id": DEMO_TENANT}}, "locale": "en-US"
    });
    if let (Some(a), Some(m)) = (activity.as_object_mut(), more.as_object()) {
        for (k, v) in m {
            a.insert(k.clone(), v.clone());
        }
    }
    activity
}

/// The invitation id of a card the bot posted, if it is an invitation.
fn invitation_of(body: &Value) -> Option<String> {
    body["attachments"][0]["content"]["body"]
        .as_array()?
        .iter()
        .find_map(|b| b["actions"][0]["data"]["invitationId"].as_str())
        .map(str::to_owned)
}

/// How many times the session's events say it connected to an agent.
async fn connected(db: &switchboard::store::Db, session: &str) -> i64 {
    switchboard::db!(db.on(), |c| {
        sqlx::query_scalar(
        "SELECT COUNT(*) FROM interact_events WHERE session_id = $1 AND event LIKE '%\"state\":\"connected\"%'"
    )
    .bind(session)
    .fetch_one(c)
    .await
    .expect("count")
    })
}

/// Posts an activity to a random instance until it is answered 2xx (as Teams re-sends).
async fn deliver(client: &reqwest::Client, alive: &Alive, activity: &Value) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let sent = client
            .post(format!("http://{}/api/messages", pick(alive)))
            .json(activity)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if matches!(sent, Ok(r) if r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// One instance of the binary; killed if the test ends early.
struct Instance {
    child: Option<Child>,
    address: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start(dir: &std::path::Path, store: &str, log: &str) -> Instance {
    let (child, address) =
        start_binary(dir, store, log, &[("SWITCHBOARD_CLUSTER__LEASE_SECS", "3")]);
    Instance {
        child: Some(child),
        address,
    }
}

/// The addresses of the instances running now, which senders pick from at random.
type Alive = Arc<Mutex<Vec<String>>>;

fn pick(alive: &Alive) -> String {
    let alive = alive.lock().expect("lock");
    alive[rand::random_range(0..alive.len())].clone()
}

/// Who owns the tenants now: its epoch and advertised address.
async fn owner(db: &switchboard::store::Db) -> (i64, String) {
    switchboard::db!(db.on(), |c| sqlx::query_as(
        "SELECT epoch, advertise_url FROM cluster_lease WHERE id = 1"
    )
    .fetch_one(c)
    .await
    .expect("the lease"))
}

/// Waits for an owner after `epoch`; returns how long it took and its address.
async fn next_owner(db: &switchboard::store::Db, epoch: i64, since: Instant) -> (Duration, String) {
    let deadline = since + Duration::from_secs(30);
    loop {
        let (now, url) = owner(db).await;
        if now > epoch {
            return (
                since.elapsed(),
                url.trim_start_matches("http://").to_owned(),
            );
        }
        assert!(
            Instant::now() < deadline,
            "no instance took the tenants over"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
}

/// A customer's session: what the test was told and what it sent.
#[derive(Default, Clone)]
struct Customer {
    id: String,
    token: String,
    /// Client message ids acknowledged, in the order they were sent.
    acked: Vec<String>,
    /// Client message ids tried (acknowledged or not).
    tried: Vec<String>,
}

async fn post(
    client: &reqwest::Client,
    alive: &Alive,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Option<Value> {
    // Tried again, on another instance at random, until acknowledged: a customer's widget
    // does the same with the same client message id.
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let address = pick(alive);
        let mut request = client
            .post(format!("http://{address}{path}"))
            .header("origin", format!("http://{address}"))
            .timeout(Duration::from_secs(6))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Ok(response) = request.send().await
            && response.status().is_success()
        {
            return Some(response.json().await.unwrap_or(Value::Null));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Reads a session's event stream from random instances, reconnecting with `Last-Event-ID`
/// whenever a stream ends, until the session's end; returns every (id, event) received.
async fn follow(
    client: reqwest::Client,
    alive: Alive,
    session: String,
    token: String,
) -> Vec<(i64, Value)> {
    use futures_util::StreamExt;
    let mut seen: Vec<(i64, Value)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let address = pick(&alive);
        let last = seen.last().map_or(0, |(id, _)| *id);
        let response = client
            .get(format!(
                "http://{address}/api/interact/v1/sessions/{session}/events?token={token}"
            ))
            .header("origin", format!("http://{address}"))
            .header("last-event-id", last.to_string())
            .send()
            .await;
        let Ok(response) = response else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if !response.status().is_success() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        // Leave a stream now and then, as a customer's page does when it reloads.
        let leave_at = Instant::now() + Duration::from_millis(rand::random_range(1000..4000));
        loop {
            let chunk = tokio::select! {
                chunk = body.next() => chunk,
                () = tokio::time::sleep_until(leave_at.into()) => None,
            };
            let Some(Ok(chunk)) = chunk else { break };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let id = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .and_then(|v| v.trim().parse::<i64>().ok());
                let data = frame.lines().find_map(|l| l.strip_prefix("data: "));
                if let (Some(id), Some(data)) = (id, data) {
                    let event: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                    let ended = event["type"] == "state" && event["state"] == "ended";
                    seen.push((id, event));
                    if ended {
                        return seen;
                    }
                }
            }
        }
    }
    seen
}

#[tokio::test]
async fn three_instances_lose_nothing_when_the_owner_is_killed_paused_or_stopped() {
    let Some(store) = crate::helpers::postgres::database("cluster").await else {
        return;
    };
    let mock = MockBotFramework::start().await;
    mock.set_delay(Duration::from_millis(50));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut instances: Vec<Instance> = (0..INSTANCES)
        .map(|i| start(dir.path(), &store, &format!("i{i}.log")))
        .collect();
    let alive: Alive = Arc::new(Mutex::new(
        instances.iter().map(|i| i.address.clone()).collect(),
    ));
    let db = switchboard::store::connect(&store)
        .await
        .expect("open the database");
    let client = reqwest::Client::new();
    let loading = Arc::new(AtomicBool::new(true));

    // Agents install the bot (in dev mode they join the demo's service, available).
    let service_url = mock.service_url();
    for a in 0..SESSIONS {
        for activity in [
            agent_activity(
                &service_url,
                a,
                "installationUpdate",
                json!({"action": "add"}),
            ),
            agent_activity(
                &service_url,
                a,
                "conversationUpdate",
                json!({"membersAdded": [{"id": format!("29:agent{a}"), "aadObjectId": format!("00000000-0000-0000-0000-00000000a{a:03}")}, {"id": "28:switchboard"}]}),
            ),
        ] {
            assert!(
                deliver(&client, &alive, &activity).await,
                "agent {a} installs"
            );
        }
    }
    // What the bot posted to each agent.
    let to_agent = |a: usize| -> Vec<Value> {
        let path = format!("/amer/v3/conversations/a%3Aagent{a}/activities");
        mock.calls()
            .into_iter()
            .filter(|call| call.status < 300 && call.method == "POST" && call.path == path)
            .filter_map(|call| call.body)
            .collect()
    };

    // Customers start their chats and follow their streams.
    let mut customers = Vec::new();
    for s in 0..SESSIONS {
        let created = post(
            &client,
            &alive,
            "/api/interact/v1/contacts/demo/sessions",
            None,
            &json!({"widgetKey": "demo", "displayName": format!("Customer {s}"), "email": format!("c{s}@example.com"), "privacyConsent": true, "message": "hello"}),
        )
        .await
        .expect("a session starts");
        customers.push(Customer {
            id: created["sessionId"].as_str().expect("id").to_owned(),
            token: created["token"].as_str().expect("token").to_owned(),
            ..Customer::default()
        });
    }
    let streams: Vec<_> = customers
        .iter()
        .map(|c| {
            tokio::spawn(follow(
                client.clone(),
                Arc::clone(&alive),
                c.id.clone(),
                c.token.clone(),
            ))
        })
        .collect();
    // Each agent accepts an invitation of a chat nobody has taken yet (offers may go to
    // several agents at once); every chat connects.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tried: Vec<String> = Vec::new();
    loop {
        let rooms: i64 = switchboard::db!(db.on(), |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM chatrooms WHERE closed_at IS NULL"
        )
        .fetch_one(c)
        .await
        .expect("rooms"));
        if rooms == i64::try_from(SESSIONS).expect("sessions") {
            break;
        }
        assert!(Instant::now() < deadline, "only {rooms} chats connected");
        for a in 0..SESSIONS {
            let conversation = format!("a:agent{a}");
            let (busy, open): (i64, Vec<i64>) = switchboard::db!(db.on(), |c| {
                let busy = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM chatrooms WHERE conversation_id = $1 AND closed_at IS NULL",
                )
                .bind(&conversation)
                .fetch_one(c)
                .await
                .expect("busy");
                let open = sqlx::query_scalar(
                    "SELECT offer_id FROM teams_invitations t WHERE conversation_id = $1
                     AND outcome IS NULL
                     AND NOT EXISTS (SELECT 1 FROM chatrooms r WHERE r.session_id = t.session_id)
                     ORDER BY offer_id",
                )
                .bind(&conversation)
                .fetch_all(c)
                .await
                .expect("open");
                (busy, open)
            });
            let posted: Vec<String> = to_agent(a).iter().filter_map(invitation_of).collect();
            let next = open
                .iter()
                .map(i64::to_string)
                .find(|o| posted.contains(o) && !tried.contains(o));
            if let (0, Some(invitation)) = (busy, next) {
                let accept = agent_activity(
                    &service_url,
                    a,
                    "invoke",
                    json!({"name": "adaptiveCard/action", "value": {"action": {"type": "Action.Execute", "verb": "im.invitation.accept", "data": {"invitationId": invitation}}, "trigger": "manual"}}),
                );
                assert!(deliver(&client, &alive, &accept).await, "agent {a} accepts");
                tried.push(invitation);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for customer in &customers {
        while connected(&db, &customer.id).await == 0 {
            assert!(
                Instant::now() < deadline,
                "session {} never connected",
                customer.id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Agents write in their chats, each every 1.5 s.
    let agent_acked: Arc<Mutex<HashMap<usize, Vec<String>>>> = Arc::default();
    let agents: Vec<_> = (0..SESSIONS)
        .map(|a| {
            let (client, alive, loading, acked, service_url) = (
                client.clone(),
                Arc::clone(&alive),
                Arc::clone(&loading),
                Arc::clone(&agent_acked),
                service_url.clone(),
            );
            tokio::spawn(async move {
                let mut n = 0;
                while loading.load(Ordering::Relaxed) {
                    n += 1;
                    let text = format!("agent {a} says {n}");
                    let said = agent_activity(
                        &service_url,
                        a,
                        "message",
                        json!({"text": text, "textFormat": "plain"}),
                    );
                    if deliver(&client, &alive, &said).await {
                        acked.lock().expect("lock").entry(a).or_default().push(text);
                    }
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                }
            })
        })
        .collect();
    // Customers write, each every 1.5 s (within the per-session limits).
    let writers: Vec<_> = customers
        .iter()
        .cloned()
        .map(|mut customer| {
            let (client, alive, loading) =
                (client.clone(), Arc::clone(&alive), Arc::clone(&loading));
            tokio::spawn(async move {
                let mut n = 0;
                while loading.load(Ordering::Relaxed) {
                    n += 1;
                    let id = format!("{}-{n}", &customer.id[..8]);
                    customer.tried.push(id.clone());
                    let path = format!("/api/interact/v1/sessions/{}/messages", customer.id);
                    let body = json!({"text": format!("customer {} says {n}", &customer.id[..8]), "clientMessageId": id});
                    if post(&client, &alive, &path, Some(&customer.token), &body)
                        .await
                        .is_some()
                    {
                        customer.acked.push(id);
                    }
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                }
                customer
            })
        })
        .collect();
    // Teams users write in their personal chats, each activity sent again (same id) to
    // another instance until it is answered 200, as Teams re-sends.
    let acked: Arc<Mutex<HashMap<usize, Vec<usize>>>> = Arc::default();
    let senders: Vec<_> = (0..CONVERSATIONS)
        .map(|c| {
            let (client, alive, loading, acked, service_url) = (
                client.clone(),
                Arc::clone(&alive),
                Arc::clone(&loading),
                Arc::clone(&acked),
                mock.service_url(),
            );
            tokio::spawn(async move {
                let mut n = 0;
                while loading.load(Ordering::Relaxed) {
                    let deadline = Instant::now() + Duration::from_secs(15);
                    let mut answered = false;
                    while !answered && Instant::now() < deadline {
                        let sent = client
                            .post(format!("http://{}/api/messages", pick(&alive)))
                            .json(&message(&service_url, c, n))
                            .timeout(Duration::from_secs(5))
                            .send()
                            .await;
                        answered = matches!(sent, Ok(r) if r.status() == 200);
                        if !answered {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    if !answered {
                        break;
                    }
                    acked.lock().expect("lock").entry(c).or_default().push(n);
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
            })
        })
        .collect();

    let index_of = |instances: &[Instance], address: &str| {
        instances
            .iter()
            .position(|i| i.address == address)
            .expect("the owner is one of the instances")
    };
    let replace = |instances: &mut Vec<Instance>, i: usize, log: &str| {
        let old = instances[i].address.clone();
        instances[i] = start(dir.path(), &store, log);
        let mut alive = alive.lock().expect("lock");
        alive.retain(|a| *a != old);
        alive.push(instances[i].address.clone());
    };
    let remove = |address: &str| alive.lock().expect("lock").retain(|a| a != address);

    // 1. kill -9 the owner mid-chat.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (epoch, url) = owner(&db).await;
    let first = index_of(&instances, url.trim_start_matches("http://"));
    remove(&instances[first].address);
    let killed_at = Instant::now();
    signal(instances[first].child.as_ref().expect("child"), "-KILL");
    let (after_kill, _) = next_owner(&db, epoch, killed_at).await;
    let _ = instances[first].child.as_mut().expect("child").wait();
    replace(&mut instances, first, &format!("i{first}-restarted.log"));

    // 2. SIGSTOP the owner until its lease has passed, then resume it: it must stop, having
    // written nothing after its lease passed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (epoch, url) = owner(&db).await;
    let paused = index_of(&instances, url.trim_start_matches("http://"));
    remove(&instances[paused].address);
    let paused_at = Instant::now();
    signal(instances[paused].child.as_ref().expect("child"), "-STOP");
    let (after_pause, _) = next_owner(&db, epoch, paused_at).await;
    signal(instances[paused].child.as_ref().expect("child"), "-CONT");
    let resumed_at = Instant::now();
    let status = loop {
        if let Some(status) = instances[paused]
            .child
            .as_mut()
            .expect("child")
            .try_wait()
            .expect("wait")
        {
            break status;
        }
        assert!(
            resumed_at.elapsed() < Duration::from_secs(15),
            "a resumed former owner must stop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stopped_after_resume = resumed_at.elapsed();
    assert!(
        !status.success(),
        "a former owner stops with an error: {status:?}"
    );
    replace(&mut instances, paused, &format!("i{paused}-resumed.log"));

    // 3. SIGTERM the owner: it hands over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (epoch, url) = owner(&db).await;
    let stopped = index_of(&instances, url.trim_start_matches("http://"));
    remove(&instances[stopped].address);
    let terminated_at = Instant::now();
    signal(instances[stopped].child.as_ref().expect("child"), "-TERM");
    let (after_term, _) = next_owner(&db, epoch, terminated_at).await;
    let status = instances[stopped]
        .child
        .as_mut()
        .expect("child")
        .wait()
        .expect("wait");
    assert!(status.success(), "a graceful stop ends well: {status:?}");
    instances[stopped].child = None;

    eprintln!(
        "takeover after kill -9: {after_kill:?}; after SIGSTOP: {after_pause:?} (lease 3 s; the \
         resumed former owner stopped {stopped_after_resume:?} later); after SIGTERM: {after_term:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    loading.store(false, Ordering::Relaxed);
    for sender in senders.into_iter().chain(agents) {
        sender.await.expect("sender");
    }
    let mut written = Vec::new();
    for writer in writers {
        written.push(writer.await.expect("writer"));
    }
    // Every customer ends their chat.
    for customer in &written {
        let path = format!("/api/interact/v1/sessions/{}/end", customer.id);
        post(&client, &alive, &path, Some(&customer.token), &json!({}))
            .await
            .expect("the chat ends");
    }
    let mut followed = Vec::new();
    for stream in streams {
        followed.push(stream.await.expect("stream"));
    }

    // Customers: each stream saw every event once, in order, without a gap, up to the end;
    // every acknowledged message is there once, in the order sent.
    for (customer, seen) in written.iter().zip(&followed) {
        let ids: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
        let expected: Vec<i64> = (1..=i64::try_from(ids.len()).expect("len")).collect();
        assert_eq!(ids, expected, "session {}: event ids", customer.id);
        let ends = seen
            .iter()
            .filter(|(_, e)| e["type"] == "state" && e["state"] == "ended")
            .count();
        assert_eq!(ends, 1, "session {}: one end", customer.id);
        let messages: Vec<&str> = seen
            .iter()
            .filter(|(_, e)| e["type"] == "customerMessage")
            .filter_map(|(_, e)| e["clientMessageId"].as_str())
            .filter(|id| *id != "first")
            .collect();
        let mut unique = messages.clone();
        unique.dedup();
        assert_eq!(unique, messages, "session {}: a message twice", customer.id);
        assert!(
            customer
                .acked
                .iter()
                .all(|a| messages.contains(&a.as_str())),
            "session {}: acknowledged {:?}, stored {messages:?}",
            customer.id,
            customer.acked
        );
        let order: Vec<&str> = customer
            .tried
            .iter()
            .map(String::as_str)
            .filter(|t| messages.contains(t))
            .collect();
        assert_eq!(order, messages, "session {}: order", customer.id);
        let state: String = switchboard::db!(db.on(), |c| sqlx::query_scalar(
            "SELECT state FROM interact_sessions WHERE session_id = $1"
        )
        .bind(&customer.id)
        .fetch_one(c)
        .await
        .expect("session"));
        assert_eq!(state, "ended");
    }

    // Agents: each customer's stream has every acknowledged message of their agent once, in
    // order; each agent got every acknowledged message of their customer in order (a message
    // twice at most where a takeover caught its call in flight); no invitation was posted twice.
    let agent_acked = agent_acked.lock().expect("lock").clone();
    let mut invitations = Vec::new();
    for a in 0..SESSIONS {
        invitations.extend(to_agent(a).iter().filter_map(invitation_of));
    }
    let mut unique = invitations.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        invitations.len(),
        "an invitation was posted twice: {invitations:?}"
    );
    let mut relayed_twice = 0;
    for (customer, seen) in written.iter().zip(&followed) {
        let from_agent: Vec<&str> = seen
            .iter()
            .filter(|(_, e)| e["type"] == "message" && e["from"] == "agent")
            .filter_map(|(_, e)| e["text"].as_str())
            .collect();
        let room: String = switchboard::db!(db.on(), |c| sqlx::query_scalar(
            "SELECT conversation_id FROM chatrooms WHERE session_id = $1"
        )
        .bind(&customer.id)
        .fetch_one(c)
        .await
        .expect("the session's chatroom"));
        let agent: usize = room
            .trim_start_matches("a:agent")
            .parse()
            .expect("an agent's personal chat");
        let sent = agent_acked.get(&agent).cloned().unwrap_or_default();
        assert!(
            sent.len() > 5,
            "agent {agent}: only {} messages acknowledged",
            sent.len()
        );
        let stored: Vec<&str> = from_agent
            .iter()
            .copied()
            .filter(|t| sent.iter().any(|s| s == t) || t.starts_with("agent "))
            .collect();
        assert!(
            sent.iter().all(|t| stored.contains(&t.as_str())),
            "session {}: agent {agent} acknowledged {sent:?}, the customer got {stored:?}",
            customer.id
        );
        let mut once = stored.clone();
        once.dedup();
        assert_eq!(
            once, stored,
            "session {}: an agent message twice",
            customer.id
        );
        let acknowledged: Vec<&str> = stored
            .iter()
            .copied()
            .filter(|t| sent.iter().any(|s| s == t))
            .collect();
        assert_eq!(
            acknowledged,
            sent.iter().map(String::as_str).collect::<Vec<_>>(),
            "session {}: agent {agent}'s messages, in order",
            customer.id
        );
        let marker = format!("customer {} says ", &customer.id[..8]);
        let got: Vec<String> = to_agent(agent)
            .iter()
            .filter_map(|b| b["text"].as_str())
            .filter(|t| t.contains(&marker))
            .map(|t| t[t.find(&marker).unwrap_or(0)..].to_owned())
            .collect();
        let mut in_order = got.clone();
        in_order.dedup();
        relayed_twice += got.len() - in_order.len();
        let expected: Vec<String> = customer
            .acked
            .iter()
            .map(|id| format!("{marker}{}", id.rsplit('-').next().unwrap_or("")))
            .collect();
        let kept: Vec<&String> = in_order.iter().filter(|t| expected.contains(t)).collect();
        assert_eq!(
            kept,
            expected.iter().collect::<Vec<_>>(),
            "agent {agent}: the customer's messages, in order"
        );
    }
    assert!(
        relayed_twice <= 2 * SESSIONS,
        "{relayed_twice} customer messages relayed twice"
    );

    // Teams: every acknowledged activity is answered, in order, with at most the calls in
    // flight at the kill and at the pause sent twice.
    let acked = acked.lock().expect("lock").clone();
    let delivered = |c: usize| -> Vec<String> {
        let path = format!("/amer/v3/conversations/crash-{c}/activities");
        mock.calls()
            .into_iter()
            .filter(|call| call.status < 300 && call.path == path)
            .filter_map(|call| call.body)
            .map(|b| notice(&b))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while (0..CONVERSATIONS).any(|c| delivered(c).len() < acked.get(&c).map_or(0, Vec::len)) {
        assert!(Instant::now() < deadline, "replies missing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut total = 0;
    for c in 0..CONVERSATIONS {
        let sent = acked.get(&c).map_or(0, Vec::len);
        let got = delivered(c);
        total += sent;
        assert!(
            sent > 5,
            "conversation {c}: only {sent} activities answered"
        );
        assert_replies_in_order(c, sent, &got, 2);
    }
    eprintln!(
        "acknowledged across the takeovers: {total} Teams activities, {} customer messages, {} \
         agent messages; {relayed_twice} customer messages reached their agent twice",
        written.iter().map(|c| c.acked.len()).sum::<usize>(),
        agent_acked.values().map(Vec::len).sum::<usize>()
    );
    db.close().await;
}
