//! The agent's side in Teams (issue 18): what an agent writes survives the bridge — Teams'
//! HTML becomes text plus a safe HTML subset, a quoted reply a quote — and their edits and
//! deletions reach the customer's event stream as such, the transcript keeping both versions.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin::Api;
use crate::helpers::TestApp;
use crate::helpers::teams::{self, ANNE, Customer, Teams};
use crate::mock_bf::TENANT_ID;

/// The customer's event stream (the public API the widget reads) until `done` holds of it; the
/// events with their ids.
async fn stream(
    app: &TestApp,
    customer: &Customer,
    done: impl Fn(&[(i64, Value)]) -> bool,
) -> Vec<(i64, Value)> {
    let mut response = reqwest::Client::new()
        .get(format!(
            "{}/api/interact/v1/sessions/{}/events?token={}",
            app.address, customer.session, customer.token
        ))
        .header("origin", "https://shop.example.com")
        .send()
        .await
        .expect("events");
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events = parse(&text);
        if done(&events) {
            return events;
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(remaining, response.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("the stream did not show what was expected: {events:?}"),
        }
    }
}

/// Server-sent events: `id:` and `data:` lines per event.
fn parse(text: &str) -> Vec<(i64, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id:"))?
                .trim()
                .parse()
                .ok()?;
            let data = block.lines().find_map(|l| l.strip_prefix("data:"))?;
            Some((id, serde_json::from_str(data.trim()).ok()?))
        })
        .collect()
}

/// An agent's message as Teams sends it: a plain flattening in `text` and the formatting in a
/// `text/html` attachment.
fn rich(teams: &Teams<'_>, chat: &str, id: &str, kind: &str, plain: &str, html: &str) -> Value {
    let mut a = teams.activity(ANNE, chat, kind);
    a["id"] = json!(id);
    a["text"] = json!(plain);
    a["textFormat"] = json!("plain");
    a["attachments"] = json!([{"contentType": "text/html", "content": html}]);
    a
}

#[tokio::test]
async fn formatting_survives_the_bridge_and_edits_and_deletions_reach_the_customer() {
    let app = teams::spawn().await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    let t = Teams { app: &app };
    let (ada, chat) = teams::connected_chat(&app, &t, Some("Hello")).await;

    // Formatting, a list, a link, a mention of the bot (left out) and a script (never sent).
    let mut first = rich(
        &t,
        &chat,
        "1700000000001",
        "message",
        "Switchboard Try these: Restart Reset",
        r#"<p><at>Switchboard</at> Try <strong>these</strong>:</p><ol><li>Restart</li><li>Reset, see <a href="https://help.example.com/reset">the guide</a></li></ol><script>alert(1)</script>"#,
    );
    first["entities"] = json!([{"type": "mention", "text": "<at>Switchboard</at>",
        "mentioned": {"id": format!("28:{}", crate::mock_bf::APP_ID), "name": "Switchboard"}}]);
    assert_eq!(t.post(&first).await.status(), 200);
    // A quoted reply, in Teams' newer form: a placeholder and its entity.
    let mut second = t.activity(ANNE, &chat, "message");
    second["id"] = json!("1700000000002");
    second["text"] = json!(r#"<quoted messageId="1699999999999"/> It ships today."#);
    second["textFormat"] = json!("plain");
    second["entities"] = json!([{"type": "quotedReply", "quotedReply": {
        "messageId": "1699999999999", "senderName": "Ada", "preview": "Where is my order?"}}]);
    assert_eq!(t.post(&second).await.status(), 200);

    let events = stream(&app, &ada, |events| {
        events.iter().filter(|(_, e)| e["from"] == "agent").count() == 2
    })
    .await;
    let agent: Vec<&(i64, Value)> = events
        .iter()
        .filter(|(_, e)| e["from"] == "agent")
        .collect();
    let (first_seq, shown) = agent[0];
    assert_eq!(
        shown["text"],
        "Try these:\n1. Restart\n2. Reset, see the guide (https://help.example.com/reset)"
    );
    assert_eq!(
        shown["html"],
        r#"<p> Try <strong>these</strong>:</p><ol><li>Restart</li><li>Reset, see <a href="https://help.example.com/reset">the guide</a></li></ol>"#
    );
    assert_eq!(
        agent[1].1["text"],
        "> Ada:\n> Where is my order?\nIt ships today."
    );
    assert!(agent[1].1.get("html").is_none(), "{:?}", agent[1].1);

    // The agent edits the first message, then deletes the second.
    let edit = {
        let mut a = rich(
            &t,
            &chat,
            "1700000000001",
            "messageUpdate",
            "Try these: Restart",
            "<p>Try <em>this</em>: restart</p>",
        );
        a["channelData"]["eventType"] = json!("editMessage");
        a
    };
    assert_eq!(t.post(&edit).await.status(), 200);
    let mut delete = t.activity(ANNE, &chat, "messageDelete");
    delete["id"] = json!("1700000000002");
    delete["channelData"]["eventType"] = json!("softDeleteMessage");
    assert_eq!(t.post(&delete).await.status(), 200);
    // An edit of a message that was never relayed (a command, the bot's card) changes nothing.
    let mut stray = t.activity(ANNE, &chat, "messageUpdate");
    stray["id"] = json!("1700000000999");
    stray["text"] = json!("not for the customer");
    stray["channelData"]["eventType"] = json!("editMessage");
    assert_eq!(t.post(&stray).await.status(), 200);

    let second_seq = agent[1].0;
    let events = stream(&app, &ada, |events| {
        events.iter().any(|(_, e)| e["type"] == "messageDeleted")
    })
    .await;
    let edited = events
        .iter()
        .find(|(_, e)| e["type"] == "messageEdited")
        .expect("edited");
    assert_eq!(edited.1["seq"], *first_seq);
    assert_eq!(edited.1["text"], "Try this: restart");
    assert_eq!(edited.1["html"], "<p>Try <em>this</em>: restart</p>");
    let deleted = events
        .iter()
        .find(|(_, e)| e["type"] == "messageDeleted")
        .expect("deleted");
    assert_eq!(deleted.1["seq"], second_seq);
    assert!(
        !events
            .iter()
            .any(|(_, e)| e.to_string().contains("not for the customer")),
        "{events:?}"
    );

    // The transcript keeps the first version and marks the deletion.
    let api = Api::new(&app, TENANT_ID).await;
    let (status, _, body) = api
        .get(&format!("/sessions/{}/transcript", ada.session))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines = body["lines"].as_array().expect("lines");
    let line = |seq: i64| lines.iter().find(|l| l["seq"] == seq).expect("line");
    assert_eq!(line(*first_seq)["text"], "Try this: restart");
    assert_eq!(
        line(*first_seq)["originalText"],
        "Try these:\n1. Restart\n2. Reset, see the guide (https://help.example.com/reset)"
    );
    assert!(line(second_seq)["deletedAt"].is_string(), "{body}");

    // After the end, an edit is not sent: the agent is told.
    assert_eq!(t.say(ANNE, &chat, "end").await.status(), 200);
    ada.wait_event(&app, "ended", |e| e["state"] == "ended")
        .await;
    let mut late = edit.clone();
    late["attachments"][0]["content"] = json!("<p>too late</p>");
    assert_eq!(t.post(&late).await.status(), 200);
    teams::wait_post(&app, "note about the late edit", |(_, c, h, _)| {
        c == &chat && h.starts_with("This chat has ended: the customer still sees")
    })
    .await;
}
