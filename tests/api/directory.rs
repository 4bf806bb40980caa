//! The directory: licensing rules, workflow assignment, versioned documents.

use serde_json::json;
use switchboard::directory::model::{Service, User};
use switchboard::directory::store::{self, Kind, StoreError};
use switchboard::distribution::Presence;
use switchboard::workflow;

use crate::helpers::spawn_app;

fn service(value: serde_json::Value) -> Service {
    serde_json::from_value(value).expect("service")
}

fn licensed_service() -> Service {
    service(json!({
        "id": "support", "name": "Support",
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true},
        "members": ["u1", "u2"]
    }))
}

#[test]
fn a_service_needs_the_contact_center_license_the_im_modality_and_interact_to_receive_im() {
    assert!(licensed_service().can_receive_im().is_ok());
    let bare = service(json!({"id": "s", "name": "Sales"}));
    let refusal = bare.can_receive_im().expect_err("refused").to_string();
    assert!(
        refusal.contains("contact_center")
            && refusal.contains("instant_message")
            && refusal.contains("Interact"),
        "{refusal}"
    );
}

#[test]
fn assigning_a_workflow_with_unsupported_activities_is_refused_naming_them() {
    let wf = workflow::parse(
        &json!({"id": "w", "name": "Voice-ish", "start": "a", "activities": {
            "a": {"type": "Accept", "next": "m"},
            "m": {"type": "PlayMusic", "next": "end"},
            "end": {"type": "Disconnect"}
        }}),
    )
    .expect("parses");
    let refusal = licensed_service()
        .check_workflow(&wf)
        .expect_err("refused")
        .to_string();
    assert!(refusal.contains("m (PlayMusic)"), "{refusal}");
}

#[test]
fn users_map_to_agents_with_their_licenses_memberships_and_direct_chat_rule() {
    let user: User = serde_json::from_value(json!({
        "id": "u1", "upn": "u1@example.com", "displayName": "Agent One",
        "licenses": {"im": true}, "capacity": 2, "activeIn": ["support", "other"]
    }))
    .expect("user");
    let support = licensed_service();
    let agent = user.to_agent(&[&support], true, Presence::Available, 0);
    assert!(agent.im_license && agent.registered && agent.on_duty);
    assert_eq!(agent.capacity, 2);
    assert_eq!(agent.member_of.iter().collect::<Vec<_>>(), vec!["support"]);
    assert_eq!(
        agent.active_in.iter().collect::<Vec<_>>(),
        vec!["support"],
        "active only where a member"
    );
    assert!(!user.receives_direct_chats());
    let direct: User = serde_json::from_value(json!({
        "id": "u3", "upn": "u3@example.com", "displayName": "Direct",
        "licenses": {"interact": true}, "interact": {"enabled": true, "instantMessage": true}
    }))
    .expect("user");
    assert!(direct.receives_direct_chats());
}

#[test]
fn unknown_fields_in_directory_documents_are_errors() {
    let err = serde_json::from_value::<Service>(json!({"id": "s", "name": "S", "licence": {}}))
        .expect_err("typo");
    assert!(err.to_string().contains("licence"), "{err}");
}

#[tokio::test]
async fn documents_are_versioned_and_a_stale_write_is_refused() {
    let app = spawn_app().await;
    let pool = &app.state.pool;
    let v1 = store::put(
        pool,
        "t1",
        Kind::Service,
        "support",
        &licensed_service(),
        None,
        1,
    )
    .await
    .expect("create");
    assert_eq!(v1, 1);
    let mut renamed = licensed_service();
    renamed.name = "Customer Care".into();
    let v2 = store::put(pool, "t1", Kind::Service, "support", &renamed, Some(1), 2)
        .await
        .expect("update");
    assert_eq!(v2, 2);
    // A second admin still holding version 1 cannot overwrite.
    let stale = store::put(
        pool,
        "t1",
        Kind::Service,
        "support",
        &licensed_service(),
        Some(1),
        3,
    )
    .await;
    assert!(
        matches!(
            stale,
            Err(StoreError::Conflict {
                actual: Some(2),
                ..
            })
        ),
        "{stale:?}"
    );
    // Nor can a create over an existing document.
    let dup = store::put(
        pool,
        "t1",
        Kind::Service,
        "support",
        &licensed_service(),
        None,
        3,
    )
    .await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })));
    let stored = store::get::<Service>(pool, "t1", Kind::Service, "support")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        (stored.value.name.as_str(), stored.version),
        ("Customer Care", 2)
    );
    // Tenants are isolated.
    assert!(
        store::get::<Service>(pool, "t2", Kind::Service, "support")
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(
        store::list::<Service>(pool, "t1", Kind::Service)
            .await
            .expect("list")
            .len(),
        1
    );
}

#[tokio::test]
async fn check_validates_every_stored_workflow_and_assignment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("sb.db").display());
    let pool = switchboard::store::connect(&url).await.expect("store");
    let voice = json!({"id": "voice", "name": "Voice", "start": "a", "activities": {
        "a": {"type": "Accept", "next": "m"},
        "m": {"type": "PlayMusic", "next": "end"},
        "end": {"type": "Disconnect"}
    }});
    store::put(&pool, "t1", Kind::Workflow, "voice", &voice, None, 0)
        .await
        .expect("workflow");
    let mut svc = licensed_service();
    svc.workflow = Some("voice".into());
    store::put(&pool, "t1", Kind::Service, "support", &svc, None, 0)
        .await
        .expect("service");
    pool.close().await;

    let run = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .current_dir(dir.path())
            .env_clear()
            .env("SWITCHBOARD_STORE__URL", url)
            .arg("check")
            .output()
            .expect("run")
    };
    let out = run(&url);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("t1: workflow voice: /activities/m/type")
            && stderr.contains("m (PlayMusic)"),
        "{stderr}"
    );

    let fresh = run(&format!(
        "sqlite://{}",
        dir.path().join("none.db").display()
    ));
    assert!(
        fresh.status.success(),
        "{}",
        String::from_utf8_lossy(&fresh.stderr)
    );
    assert!(
        !dir.path().join("none.db").exists(),
        "check creates nothing"
    );
}
