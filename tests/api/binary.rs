//! The `switchboard` binary as a newcomer runs it: no configuration, anonymous dev mode on
//! loopback, an SQLite file in the working directory, a clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn switchboard(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.current_dir(dir).env_clear();
    command
}

/// The binary in anonymous dev mode on a free loopback port, its stdout read line by line.
struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// The lines read until the address was logged (that one included).
    first: Vec<String>,
    address: String,
}

fn run_dev(dir: &std::path::Path, env: &[(&str, &str)]) -> Running {
    let mut command = switchboard(dir);
    command
        .env("SWITCHBOARD_SERVER__BIND", "127.0.0.1:0")
        .stdout(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut first = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let address = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the service logs its address");
        first.push(line.clone());
        if let Some(addr) = line.split("server.addr=").nth(1) {
            break addr.split_whitespace().next().expect("address").to_owned();
        }
    };
    Running {
        child,
        lines,
        first,
        address,
    }
}

/// A customer starts a chat on the demo contact, as the widget does: `(session, token)`.
async fn demo_chat(client: &reqwest::Client, origin: &str) -> (String, String) {
    let created: serde_json::Value = client
        .post(format!("{origin}/api/interact/v1/contacts/demo/sessions"))
        .header("origin", origin)
        .json(
            &serde_json::json!({"widgetKey": "demo", "displayName": "Ada",
            "email": "ada@example.com", "privacyConsent": true}),
        )
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let field = |name: &str| created[name].as_str().expect(name).to_owned();
    (field("sessionId"), field("token"))
}

#[tokio::test]
async fn without_configuration_the_binary_runs_in_anonymous_dev_mode_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `_later` keeps the reader, so the child's stdout stays open until it stops.
    let Running {
        mut child,
        first: lines,
        address,
        lines: _later,
    } = run_dev(dir.path(), &[]);
    assert!(
        lines[0].contains("ANONYMOUS DEV MODE"),
        "first line: {}",
        lines[0]
    );
    assert!(
        !lines.concat().contains('\u{1b}'),
        "no colour codes when not on a terminal"
    );
    assert!(
        dir.path().join("switchboard.db").exists(),
        "SQLite file in the working directory"
    );
    assert!(
        lines.concat().contains("open the preview page"),
        "the seeded demo is announced: {lines:?}"
    );

    let health = reqwest::get(format!("http://{address}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);

    // A customer waiting with the event stream open does not hold the stop up.
    let client = reqwest::Client::new();
    let origin = format!("http://{address}");
    let (session, token) = demo_chat(&client, &origin).await;
    let mut stream = client
        .get(format!(
            "http://{address}/api/interact/v1/sessions/{session}/events"
        ))
        .header("origin", &origin)
        .bearer_auth(&token)
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await.expect("chunk").expect("an event");
    assert!(!first.is_empty());

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "did not stop on SIGTERM with an event stream open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    // The stream ended with the service (the widget reconnects with Last-Event-ID).
    while let Ok(Some(_)) = stream.chunk().await {}
}

#[test]
fn anonymous_dev_mode_on_a_public_address_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = switchboard(dir.path())
        .env("SWITCHBOARD_SERVER__BIND", "0.0.0.0:0")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("anonymous dev mode"), "{stderr}");
    assert!(
        !dir.path().join("switchboard.db").exists(),
        "nothing created"
    );
}

#[test]
fn check_validates_the_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = switchboard(dir.path()).arg("check").output().expect("run");
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("anonymous dev"));

    let bad = switchboard(dir.path())
        .arg("check")
        .env("MicrosoftAppId", "8d2f0a66-7bb6-4c1e-9d1c-5a0b1f3e2c11")
        .env("MicrosoftAppPassword", "secret")
        .env("MicrosoftAppType", "SingleTenant")
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bot.tenant_id"));
}

#[test]
fn card_render_prints_the_expansion_of_a_catalog_card_or_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = switchboard(dir.path())
        .args(["card", "render", "im-invitation"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(card["body"][0]["text"], "New chat request");

    std::fs::write(dir.path().join("t.json"), r#"{"type":"AdaptiveCard","version":"1.5","body":[{"type":"TextBlock","text":"Hi ${name}","$when":"${show}"}]}"#)
        .expect("write");
    std::fs::write(dir.path().join("d.json"), r#"{"name":"Ada","show":true}"#).expect("write");
    std::fs::write(dir.path().join("h.json"), r#"{"locale":"en-GB"}"#).expect("write");
    let out = switchboard(dir.path())
        .args([
            "card", "render", "t.json", "--data", "d.json", "--host", "h.json",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let card: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(card["body"][0]["text"], "Hi Ada");
}

#[test]
fn card_render_fails_with_exit_1_and_the_json_path_of_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"body":[{"text":"x ${add(1)}"}]}"#,
    )
    .expect("write");
    let out = switchboard(dir.path())
        .args(["card", "render", "bad.json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/body/0/text"), "{stderr}");
}

#[test]
fn check_refuses_a_broken_card_override() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("cards")).expect("mkdir");
    std::fs::write(
        dir.path().join("cards/im-invitation.json"),
        r#"{"type":"AdaptiveCard","version":"1.6","body":[{"type":"TextBlock","text":"${customer.displayName}"}]}"#,
    )
    .expect("write");
    let out = switchboard(dir.path())
        .arg("check")
        .env("SWITCHBOARD_CARDS__DIR", "cards")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("version_above_teams_limit") && stderr.contains("im-invitation.json"),
        "{stderr}"
    );
}

/// Lines the binary logs until it says where it listens; then it is stopped.
async fn startup_lines(dir: &std::path::Path) -> Vec<String> {
    let mut child = switchboard(dir)
        .env("SWITCHBOARD_SERVER__BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let done = line.contains("server.addr=");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lines
}

/// An operator's own tenant imported in dev mode (into the Playground's tenant id, without the
/// demo contact) is not announced as the demo, whose contact would answer 404; `check` with
/// the tenant file names a Transfer to a service the file does not have.
#[tokio::test]
async fn an_imported_tenant_is_not_announced_as_the_demo_and_check_names_unknown_transfers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tenant = serde_json::json!({"switchboardTenant": 1,
        "tenant": {"id": switchboard::demo::DEMO_TENANT, "name": "Contoso", "imEnabled": true},
        "calendars": [], "users": [],
        "workflows": [{"id": "im", "name": "IM", "start": "accept", "activities": {
            "accept": {"type": "Accept", "next": "bye"}, "bye": {"type": "Disconnect"}}}],
        "services": [{"id": "support", "name": "Support", "workflow": "im", "members": [],
            "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
            "interact": {"enabled": true, "instantMessage": true, "contactId": "contoso-web", "widgetKey": "contoso"}}]});
    std::fs::write(dir.path().join("tenant.json"), tenant.to_string()).expect("write");
    let transfer = |to: &str| {
        serde_json::json!({"id": "t", "name": "T", "start": "accept", "activities": {
            "accept": {"type": "Accept", "next": "move"},
            "move": {"type": "Transfer", "service": to, "exits": {"failed": "bye"}},
            "bye": {"type": "Disconnect"}}})
        .to_string()
    };
    std::fs::write(dir.path().join("lost.json"), transfer("Nowhere")).expect("write");
    std::fs::write(dir.path().join("ok.json"), transfer("support")).expect("write");

    let check = |file: &str| {
        switchboard(dir.path())
            .args(["check", "--workflow", file, "--tenant-file", "tenant.json"])
            .output()
            .expect("run")
    };
    let lost = check("lost.json");
    assert_eq!(lost.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&lost.stderr);
    assert!(
        stderr.contains("/activities/move/service") && stderr.contains("Nowhere"),
        "{stderr}"
    );
    assert!(check("ok.json").status.success());

    let import = switchboard(dir.path())
        .args(["import", "tenant.json"])
        .output()
        .expect("import");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let lines = startup_lines(dir.path()).await;
    assert!(
        !lines.concat().contains("preview"),
        "no demo announced: {lines:?}"
    );
}

fn support() -> serde_json::Value {
    serde_json::from_str(include_str!("../workflows/support.json")).expect("fixture")
}

#[test]
fn check_workflow_prints_every_problem_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("support.json");
    std::fs::write(&file, support().to_string()).expect("write");
    let bin = env!("CARGO_BIN_EXE_switchboard");
    let ok = std::process::Command::new(bin)
        .current_dir(dir.path())
        .env_clear()
        .args([
            "check",
            "--workflow",
            "support.json",
            "--channel",
            "interact",
        ])
        .output()
        .expect("run");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let bad = std::process::Command::new(bin)
        .current_dir(dir.path())
        .env_clear()
        .args([
            "check",
            "--workflow",
            "support.json",
            "--channel",
            "whatsapp",
        ])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("/activities/hours/type") && stderr.contains("CheckOpeningHours"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unsupported for WhatsApp: CheckOpeningHours"),
        "{stderr}"
    );
}

/// At debug level, the HTTP trace names routes, never the values in a path or a query: the
/// widget's event stream carries the customer's token as `?token=`.
#[tokio::test]
async fn even_at_debug_level_no_customer_token_is_logged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Running {
        mut child,
        lines: lines_rx,
        address,
        first: _,
    } = run_dev(dir.path(), &[("SWITCHBOARD_LOG__FILTER", "debug")]);
    let client = reqwest::Client::new();
    let origin = format!("http://{address}");
    let (session, token) = demo_chat(&client, &origin).await;
    let mut stream = client
        .get(format!(
            "{origin}/api/interact/v1/sessions/{session}/events?token={token}"
        ))
        .header("origin", &origin)
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), 200);
    stream.chunk().await.expect("chunk").expect("an event");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(child.wait().expect("wait").success());
    let lines: Vec<String> = lines_rx.try_iter().collect();
    assert!(
        !lines.iter().any(|l| l.contains(&token)),
        "a token in the log: {:#?}",
        lines
            .iter()
            .filter(|l| l.contains(&token))
            .collect::<Vec<_>>()
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("/api/interact/v1/sessions/{session}/events")),
        "the route is traced at debug level: {lines:#?}"
    );
}

/// One SQLite file serves one instance. Three instances started at once on one file: exactly
/// one serves, the others refuse to start before touching the schema, with a message that
/// says why and what runs several instances; none fails halfway through the migrations. A
/// command beside the server (`admin list-keys`) still works on the file it serves.
#[tokio::test]
async fn a_second_instance_on_an_sqlite_file_in_use_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut children: Vec<std::process::Child> = (0..3)
        .map(|_| {
            switchboard(dir.path())
                .env("SWITCHBOARD_SERVER__BIND", "127.0.0.1:0")
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut refusals = Vec::new();
    while refusals.len() < 2 && Instant::now() < deadline {
        let mut i = 0;
        while i < children.len() {
            if let Some(status) = children[i].try_wait().expect("wait") {
                let mut child = children.remove(i);
                let mut err = String::new();
                std::io::Read::read_to_string(child.stdout.as_mut().expect("stdout"), &mut err)
                    .expect("stdout");
                let _ = child.wait();
                assert!(!status.success(), "a refusal exits non-zero: {err}");
                refusals.push(err);
            } else {
                i += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The one left keeps serving.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut running = Vec::new();
    for mut child in children {
        if child.try_wait().expect("wait").is_none() {
            running.push(child);
        } else {
            let _ = child.wait();
        }
    }
    assert_eq!(
        running.len(),
        1,
        "exactly one serves; refusals: {refusals:?}"
    );
    assert_eq!(refusals.len(), 2);
    for refusal in &refusals {
        assert!(
            refusal.contains("is in use by another process") && refusal.contains("PostgreSQL"),
            "{refusal}"
        );
        assert!(!refusal.contains("already exists"), "{refusal}");
    }

    let listed = switchboard(dir.path())
        .args(["admin", "list-keys"])
        .output()
        .expect("run");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );

    for mut child in running {
        let _ = child.kill();
        let _ = child.wait();
    }
    // Once the server is gone, the file is free for the next one.
    let Running { mut child, .. } = run_dev(dir.path(), &[]);
    let _ = child.kill();
    let _ = child.wait();
}
