//! `kill -9` under load: the release shape of the service (the binary, its SQLite file) loses
//! nothing it acknowledged. Every message activity answered 200 gets its reply after a restart,
//! in the order the activities came per conversation; the crash window re-sends at most the
//! one call per conversation that was in flight (the Connector has no idempotency key).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard::store::AsPool;

use crate::mock_bf::MockBotFramework;

const CONVERSATIONS: usize = 16;

/// Messages each conversation sends at most. Bounded, so no conversation's backlog outgrows
/// what Teams' per-conversation pacing (60 sends in 30 s) drains within the test's wait: on a
/// loaded machine some senders time out and stop, and the others would otherwise pile up
/// hundreds of replies each.
const PER_CONVERSATION: usize = 24;

/// Acknowledged activities (of `CONVERSATIONS * PER_CONVERSATION`) after which the process is
/// killed.
const KILL_AT: usize = 200;

/// The running binary, killed if the test ends early (a leaked child would keep the test's
/// pipes, and any lock its runner holds, open).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary in `dir` (anonymous dev mode, loopback) and returns it with its address;
/// its log goes to `dir/<log>` (read when the test fails).
fn start(dir: &std::path::Path, store: &str, log: &str) -> (Running, String) {
    let (child, address) = start_binary(dir, store, log, &[]);
    (Running(child), address)
}

/// Runs the binary in `dir` with an empty environment but loopback, `store` and `env`, and
/// returns it with its address once it logs it; everything it logs goes to `dir/<log>`.
pub(crate) fn start_binary(
    dir: &std::path::Path,
    store: &str,
    log: &str,
    env: &[(&str, &str)],
) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .current_dir(dir)
        .env_clear()
        .env("SWITCHBOARD_SERVER__BIND", "127.0.0.1:0")
        .env("SWITCHBOARD_LOG__FILTER", "info")
        .env("SWITCHBOARD_STORE__URL", store)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut file = std::fs::File::create(dir.join(log)).expect("log file");
    let address = loop {
        let line = lines
            .next()
            .expect("the service logs its address")
            .expect("line");
        let _ = writeln!(file, "{line}");
        if let Some(addr) = line.split("server.addr=").nth(1) {
            break addr.split_whitespace().next().expect("address").to_owned();
        }
    };
    // Keep reading so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(file, "{line}");
        }
    });
    (child, address)
}

/// The replies of conversation `c` (as [`notice`] names them) to `sent` acknowledged
/// activities: every one answered, in the order the activities alternate, with at most
/// `extra` more (a call sent twice repeats the reply before it; an activity stored but not
/// acknowledged continues the sequence).
pub(crate) fn assert_replies_in_order(c: usize, sent: usize, got: &[String], extra: usize) {
    assert!(
        got.len() <= sent + extra,
        "conversation {c}: {} replies for {sent} acknowledged activities",
        got.len()
    );
    let kind = |n: usize| {
        if n.is_multiple_of(2) {
            "help"
        } else {
            "unknown"
        }
    };
    let mut answered = 0;
    let mut previous: Option<&str> = None;
    for reply in got {
        if reply == kind(answered) && answered <= sent {
            previous = Some(kind(answered));
            answered += 1;
        } else {
            assert_eq!(
                Some(reply.as_str()),
                previous,
                "conversation {c}: replies out of order: {got:?}"
            );
        }
    }
    assert!(
        answered >= sent,
        "conversation {c}: not every acknowledged activity was answered: {got:?}"
    );
}

/// The `n`th personal-chat message of conversation `c`: a text (answered with the help card)
/// and a card button the bot does not know (answered with a text) alternate, so consecutive
/// replies differ and their order shows.
pub(crate) fn message(service_url: &str, c: usize, n: usize) -> Value {
    let value = (n % 2 == 1).then(|| json!({"verb": "crash.test"}));
    json!({
        "type": "message", "id": format!("m-{c}-{n}"), "text": "help", "value": value,
        "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": format!("29:user{c}"), "name": "User", "aadObjectId": format!("user{c}")},
        "conversation": {"id": format!("crash-{c}"), "conversationType": "personal", "tenantId": "t-crash"},
        "recipient": {"id": "28:bot", "name": "Bot"},
        "channelData": {"tenant": {"id": "t-crash"}}
    })
}

/// Which of the two replies a delivered activity is.
pub(crate) fn notice(body: &Value) -> String {
    if body.get("attachments").is_some_and(|a| !a.is_null()) {
        "help".to_owned()
    } else {
        "unknown".to_owned()
    }
}

#[tokio::test]
async fn a_kill_9_under_load_loses_no_acknowledged_activity_and_keeps_the_order() {
    let mock = MockBotFramework::start().await;
    // A slow Connector, so the crash leaves a backlog behind.
    mock.set_delay(Duration::from_millis(100));
    let dir = tempfile::tempdir().expect("tempdir");
    // The store: the SQLite file in the working directory, or a throw-away PostgreSQL
    // database in a run on PostgreSQL.
    let store = if crate::helpers::test_store_is_postgres() {
        crate::helpers::postgres::database("crash")
            .await
            .expect("SWITCHBOARD_TEST_STORE=postgres needs the PostgreSQL server binaries")
    } else {
        format!("sqlite://{}", dir.path().join("switchboard.db").display())
    };
    let (mut child, address) = start(dir.path(), &store, "before.log");
    let client = reqwest::Client::new();

    // Load: each conversation sends its messages one after another until the process dies or
    // it has sent them all.
    let acked: Arc<Mutex<HashMap<usize, Vec<usize>>>> = Arc::default();
    let mut senders = Vec::new();
    for c in 0..CONVERSATIONS {
        let (client, acked, url, service_url) = (
            client.clone(),
            Arc::clone(&acked),
            format!("http://{address}/api/messages"),
            mock.service_url(),
        );
        senders.push(tokio::spawn(async move {
            for n in 0..PER_CONVERSATION {
                let sent = client
                    .post(&url)
                    .json(&message(&service_url, c, n))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => {
                        acked.lock().expect("lock").entry(c).or_default().push(n);
                    }
                    _ => break,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked
        .lock()
        .expect("lock")
        .values()
        .map(Vec::len)
        .sum::<usize>()
        < KILL_AT
        && !senders.iter().all(|s| s.is_finished())
    {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = Command::new("kill")
        .args(["-KILL", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let _ = child.0.wait();
    for sender in senders {
        let _ = sender.await;
    }
    let acked = acked.lock().expect("lock").clone();

    // The crash left calls behind, so the restart has something to recover.
    let db = switchboard::store::connect(&store)
        .await
        .expect("open the database");
    let pending: i64 = switchboard::db!(db.on(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE state = 'pending'"
    )
    .fetch_one(c)
    .await
    .expect("count"));
    db.close().await;
    assert!(pending > 0, "the crash should leave pending calls");

    mock.set_delay(Duration::ZERO);
    let (child, _) = start(dir.path(), &store, "after.log");
    let delivered = |c: usize| -> Vec<Value> {
        let path = format!("/amer/v3/conversations/crash-{c}/activities");
        mock.calls()
            .into_iter()
            .filter(|call| call.status < 300 && call.path == path)
            .filter_map(|call| call.body)
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let behind: Vec<usize> = (0..CONVERSATIONS)
            .filter(|c| delivered(*c).len() < acked.get(c).map_or(0, Vec::len))
            .collect();
        if behind.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            panic!(
                "replies missing after the restart in conversations {behind:?}\n{}",
                diagnosis(dir.path(), &store, &behind, &acked, &delivered).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(child);

    for c in 0..CONVERSATIONS {
        let sent = acked.get(&c).map_or(0, Vec::len);
        let got: Vec<String> = delivered(c).iter().map(notice).collect();
        // At most two more than acknowledged: the activity in flight at the crash (stored, but
        // its 200 never arrived) and the one call the crash window may send twice.
        assert_replies_in_order(c, sent, &got, 2);
    }
}

/// What a failure needs to be understood: per conversation behind, what was acknowledged and
/// delivered, its outbox rows not delivered, and the warnings both runs logged.
async fn diagnosis(
    dir: &std::path::Path,
    store: &str,
    behind: &[usize],
    acked: &HashMap<usize, Vec<usize>>,
    delivered: &dyn Fn(usize) -> Vec<Value>,
) -> String {
    let mut out = String::new();
    let db = switchboard::store::connect(store)
        .await
        .expect("open the database");
    for c in behind {
        let rows: Vec<(i64, String, i64, i64, Option<String>)> =
            switchboard::db!(db.on(), |c_| sqlx::query_as(
                "SELECT id, state, attempts, next_attempt_at, last_error FROM outbox
                 WHERE lane LIKE $1 AND state <> 'delivered' ORDER BY id",
            )
            .bind(format!("%|crash-{c}"))
            .fetch_all(c_)
            .await
            .unwrap_or_default());
        out += &format!(
            "conversation {c}: acknowledged {:?}, delivered {}, outbox rows not delivered {rows:?}\n",
            acked.get(c),
            delivered(*c).len()
        );
    }
    db.close().await;
    for log in ["before.log", "after.log"] {
        let text = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
        out += &format!("{log}:\n");
        for line in text
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .take(40)
        {
            out += line;
            out += "\n";
        }
    }
    out
}
