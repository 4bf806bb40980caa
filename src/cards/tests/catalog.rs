//! The card set: every built-in template loads, passes Teams' limits with its sample data, and
//! renders exactly its reviewed snapshot (`tests/cards/snapshots`; regenerate with
//! `UPDATE_SNAPSHOTS=1 cargo test --lib cards::tests::catalog` and review the diff). The typed
//! card data matches the samples, and text people typed can never become markup.

use std::path::{Path, PathBuf};

use crate::cards::check::teams_findings;
use crate::cards::data::{
    AfterContactWork, AgentStatus, BotHelp, CardData, Customer, Id, Invitation, InvitationAccepted,
    InvitationDeclined, InvitationMissed, InvitationTaken, InvitationWithdrawn, Parameter,
    RegistrationWelcome, Service, SessionEnded, SessionStarted, UserText, WhatsAppTemplates,
};
use crate::cards::{CardCatalog, CatalogError};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn snapshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cards/snapshots")
}

#[test]
fn every_card_renders_its_reviewed_snapshot() {
    let catalog = CardCatalog::builtin().expect("built-in cards load");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut names = Vec::new();
    for card in catalog.cards() {
        let rendered = catalog.render(card.name, &card.sample).expect("renders");
        let file = snapshots().join(format!("{}.json", card.name));
        let text = serde_json::to_string_pretty(&rendered).expect("json") + "\n";
        if update {
            std::fs::create_dir_all(snapshots()).expect("dir");
            std::fs::write(&file, &text).expect("write snapshot");
        }
        let expected = std::fs::read_to_string(&file)
            .unwrap_or_else(|_| panic!("missing snapshot {}", file.display()));
        assert_eq!(text, expected, "{} differs from its snapshot", card.name);
        assert!(teams_findings(&rendered).is_empty(), "{}", card.name);
        names.push(card.name);
    }
    assert_eq!(names.len(), 13, "{names:?}");
}

fn round_trip<T: CardData + DeserializeOwned>(catalog: &CardCatalog) {
    let card = catalog.get(T::NAME).expect("card");
    let typed: T = serde_json::from_value(card.sample.clone())
        .unwrap_or_else(|e| panic!("sample of {} does not fit its data type: {e}", T::NAME));
    let from_types = catalog.render_data(&typed).expect("renders");
    assert_eq!(
        from_types,
        catalog.render(T::NAME, &card.sample).expect("renders"),
        "{}",
        T::NAME
    );
    assert!(teams_findings(&from_types).is_empty(), "{}", T::NAME);
}

#[test]
fn the_typed_card_data_matches_every_sample() {
    let catalog = CardCatalog::builtin().expect("load");
    round_trip::<Invitation>(&catalog);
    round_trip::<InvitationAccepted>(&catalog);
    round_trip::<InvitationDeclined>(&catalog);
    round_trip::<InvitationMissed>(&catalog);
    round_trip::<InvitationTaken>(&catalog);
    round_trip::<InvitationWithdrawn>(&catalog);
    round_trip::<SessionStarted>(&catalog);
    round_trip::<SessionEnded>(&catalog);
    round_trip::<AfterContactWork>(&catalog);
    round_trip::<RegistrationWelcome>(&catalog);
    round_trip::<AgentStatus>(&catalog);
    round_trip::<BotHelp>(&catalog);
    round_trip::<WhatsAppTemplates>(&catalog);
}

fn invitation(name: &str, message: Option<&str>) -> Invitation {
    Invitation {
        invitation: Id { id: "inv-1".into() },
        service: Service {
            name: "Support".into(),
        },
        customer: Customer {
            display_name: UserText::new(name),
            email: None,
        },
        wait_seconds: 42,
        parameters: vec![Parameter {
            name: "Order".into(),
            value: UserText::new("[click](https://evil.example)"),
        }],
        first_message: message.map(UserText::new),
        transfer: None,
    }
}

/// Every value in a card, depth first.
fn values(card: &Value) -> Vec<&Value> {
    let mut out = vec![card];
    match card {
        Value::Array(a) => a.iter().for_each(|x| out.extend(values(x))),
        Value::Object(o) => o.values().for_each(|x| out.extend(values(x))),
        _ => {}
    }
    out
}

fn texts(card: &Value) -> Vec<String> {
    values(card)
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn customer_text_is_shown_literally_never_as_markup_or_template() {
    let catalog = CardCatalog::builtin().expect("load");
    let card = catalog
        .render_data(&invitation(
            "**Boss** <at>All</at>",
            Some("${$root.invitation.id} [bank](https://evil.example)"),
        ))
        .expect("renders");
    let all = texts(&card);
    assert!(
        all.contains(&"\\*\\*Boss\\*\\* \\<at\\>All\\</at\\>".to_owned()),
        "{all:?}"
    );
    assert!(
        all.contains(&"${$root.invitation.id} \\[bank\\]\\(https://evil.example\\)".to_owned()),
        "{all:?}"
    );
    assert!(
        all.contains(&"\\[click\\]\\(https://evil.example\\)".to_owned()),
        "{all:?}"
    );
}

#[test]
fn the_invitation_shows_the_first_message_only_when_there_is_one() {
    let catalog = CardCatalog::builtin().expect("load");
    let without = catalog
        .render_data(&invitation("Ken", None))
        .expect("renders");
    assert!(!texts(&without).contains(&"First message".to_owned()));
    assert!(teams_findings(&without).is_empty());
    let with = catalog
        .render_data(&invitation("Ken", Some("Hi")))
        .expect("renders");
    assert!(texts(&with).contains(&"First message".to_owned()));
    assert!(texts(&with).contains(&"42 s".to_owned()));
}

fn verbs(card: &Value) -> Vec<String> {
    values(card)
        .into_iter()
        .filter(|v| v.get("type") == Some(&json!("Action.Execute")))
        .map(|v| v["verb"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn only_the_live_cards_carry_buttons_each_with_a_submit_fallback() {
    let catalog = CardCatalog::builtin().expect("load");
    let expected: &[(&str, &[&str])] = &[
        (
            "im-invitation",
            &["im.invitation.accept", "im.invitation.decline"],
        ),
        ("im-invitation-accepted", &[]),
        ("im-invitation-declined", &[]),
        ("im-invitation-missed", &["im.agent.back"]),
        ("im-invitation-taken", &[]),
        ("im-invitation-withdrawn", &[]),
        (
            "im-session-started",
            &["im.session.end", "im.transfer.open"],
        ),
        ("im-session-ended", &[]),
        ("im-acw", &["im.acw.done", "im.acw.extend"]),
        ("im-whatsapp-templates", &["im.whatsapp.template"]),
        ("registration-welcome", &[]),
        ("agent-status", &["im.agent.back"]),
        ("bot-help", &[]),
    ];
    for (name, want) in expected {
        let card = catalog.get(name).expect("card");
        let rendered = catalog.render(name, &card.sample).expect("renders");
        assert_eq!(verbs(&rendered), *want, "{name}");
        let text = rendered.to_string();
        assert_eq!(
            text.matches("\"Action.Submit\"").count(),
            want.len(),
            "{name}: every Execute has a Submit fallback"
        );
    }
}

#[test]
fn extend_is_offered_only_when_the_service_allows_it() {
    let catalog = CardCatalog::builtin().expect("load");
    let mut sample = catalog.get("im-acw").expect("card").sample.clone();
    sample["acw"]["canExtend"] = json!(false);
    assert_eq!(
        verbs(&catalog.render("im-acw", &sample).expect("renders")),
        vec!["im.acw.done"]
    );
}

#[test]
fn an_admin_override_replaces_a_built_in_card() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("im-invitation-declined.json"),
        json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Declined: ${customer.displayName}"}]}).to_string(),
    )
    .expect("write");
    let catalog = CardCatalog::load(Some(dir.path())).expect("loads");
    let card = catalog.get("im-invitation-declined").expect("card");
    let rendered = catalog.render(card.name, &card.sample).expect("renders");
    assert_eq!(rendered["body"][0]["text"], "Declined: María García");
    assert!(matches!(
        catalog.get("im-invitation").expect("card").origin,
        crate::cards::catalog::Origin::BuiltIn
    ));
}

#[test]
fn a_broken_override_stops_loading_with_the_file_and_the_json_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("im-acw.json");
    std::fs::write(&file, json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "${add(1)}"}]}).to_string())
        .expect("write");
    let err = CardCatalog::load(Some(dir.path())).expect_err("must fail");
    assert!(matches!(err, CatalogError::Parse { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("im-acw.json") && message.contains("/body/0/text"),
        "{message}"
    );

    std::fs::write(&file, json!({"type": "AdaptiveCard", "version": "1.6", "body": [], "actions": [{"type": "Action.Execute", "title": "x"}]}).to_string())
        .expect("write");
    let message = CardCatalog::load(Some(dir.path()))
        .expect_err("must fail")
        .to_string();
    assert!(
        message.contains("version_above_teams_limit")
            && message.contains("action_execute_missing_verb"),
        "{message}"
    );

    std::fs::write(&file, json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "${acw.nope}"}]}).to_string())
        .expect("write");
    let message = CardCatalog::load(Some(dir.path()))
        .expect_err("must fail")
        .to_string();
    assert!(message.contains("leftover_expression"), "{message}");
}

#[test]
fn a_transfer_invitation_says_who_transfers_why_and_the_last_lines_escaped() {
    use crate::cards::data::{ChatLine, TransferInfo};
    let catalog = CardCatalog::builtin().expect("built-in cards load");
    let mut data = invitation("Ada", Some("Hi"));
    data.transfer = Some(TransferInfo {
        from: UserText::new("Anne *Agent*"),
        reason: Some(UserText::new("Billing [question](https://evil.example)")),
        recent: vec![ChatLine {
            who: UserText::new("Ada"),
            text: UserText::new("My invoice is **wrong**"),
        }],
    });
    let card = catalog.render_data(&data).expect("renders");
    assert!(teams_findings(&card).is_empty());
    let text = card.to_string();
    assert_eq!(card["body"][0]["text"], "Chat transfer");
    assert!(
        text.contains(r"Anne \\*Agent\\* transfers this chat to you"),
        "{text}"
    );
    assert!(
        text.contains(r"Billing \\[question\\]\\(https://evil.example\\)"),
        "{text}"
    );
    assert!(text.contains(r"My invoice is \\*\\*wrong\\*\\*"), "{text}");
    // Without lines so far, no empty fact set.
    if let Some(t) = data.transfer.as_mut() {
        t.recent.clear();
        t.reason = None;
    }
    let card = catalog.render_data(&data).expect("renders");
    assert!(teams_findings(&card).is_empty());
    assert!(!card.to_string().contains("\"facts\":[]"), "{card}");
    // An invitation that is no transfer is as before.
    let plain = catalog
        .render_data(&invitation("Ada", None))
        .expect("renders");
    assert_eq!(plain["body"][0]["text"], "New chat request");
}
