//! A whole tenant as one file: `switchboard export` / `import` as a newcomer runs them (the
//! demo tenant file, idempotence, every problem named, nothing written when invalid), and the
//! admin API's import that a running engine takes at once.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin::Api;
use crate::helpers::teams::{self, ANNE, Teams};
use crate::mock_bf::TENANT_ID;

const DEMO: &str = include_str!("../../demo/tenant.json");
const DEMO_TENANT: &str = "00000000-0000-0000-0000-0000000000001";

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = crate::helpers::switchboard(self.dir.path(), args);
        (
            out.status.success(),
            String::from_utf8(out.stdout).expect("utf8"),
            String::from_utf8(out.stderr).expect("utf8"),
        )
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("path").to_owned()
    }

    fn export(&self) -> Value {
        let (ok, out, err) = self.run(&["export", "--tenant", DEMO_TENANT]);
        assert!(ok, "{err}");
        serde_json::from_str(&out).expect("export is JSON")
    }
}

#[tokio::test]
async fn the_cli_imports_the_demo_file_idempotently_and_exports_what_it_imports() {
    let cli = Cli {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    let file = cli.write("tenant.json", DEMO);
    let (ok, out, err) = cli.run(&["import", &file]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!(
            "tenant {DEMO_TENANT}: 8 created, 0 updated, 0 unchanged, 0 deleted"
        )),
        "{out}"
    );
    let (ok, out, _) = cli.run(&["import", &file]);
    assert!(ok);
    assert!(
        out.starts_with(&format!(
            "tenant {DEMO_TENANT}: 0 created, 0 updated, 8 unchanged, 0 deleted"
        )),
        "applying it again changes nothing: {out}"
    );

    // The export holds the file's documents and imports back without a change.
    let exported = cli.export();
    let demo: Value = serde_json::from_str(DEMO).expect("demo");
    assert_eq!(exported["switchboardTenant"], 1);
    assert_eq!(exported["tenant"]["name"], "Demo");
    assert_eq!(exported["workflows"], demo["workflows"]);
    assert_eq!(exported["cannedAnswers"], demo["cannedAnswers"]);
    assert_eq!(exported["services"][0]["id"], "support");
    assert_eq!(exported["services"][0]["interact"]["contactId"], "demo");
    let again = cli.write("exported.json", &exported.to_string());
    let (ok, out, _) = cli.run(&["import", &again]);
    assert!(ok);
    assert!(out.contains("0 created, 0 updated, 8 unchanged"), "{out}");
    assert_eq!(cli.export(), exported);

    // A change: one updated; --prune removes what the file no longer has.
    let mut changed = exported.clone();
    changed["services"][0]["name"] = json!("Help desk");
    changed["workflows"]
        .as_array_mut()
        .expect("workflows")
        .push(
            json!({"id": "spare", "name": "Spare", "start": "accept", "activities": {
                "accept": {"type": "Accept", "next": "bye"},
                "bye": {"type": "Disconnect", "text": "Bye."}}}),
        );
    let changed_file = cli.write("changed.json", &changed.to_string());
    let (ok, out, err) = cli.run(&["import", &changed_file]);
    assert!(ok, "{err}");
    assert!(out.contains("1 created, 1 updated, 7 unchanged"), "{out}");
    assert!(out.contains("  service/support") && out.contains("  workflow/spare"));
    let (ok, out, _) = cli.run(&["import", "--prune", &again]);
    assert!(ok);
    assert!(
        out.contains("1 updated") && out.contains("1 deleted"),
        "{out}"
    );
    assert_eq!(cli.export(), exported);
}

#[tokio::test]
async fn an_invalid_file_names_every_problem_and_writes_nothing() {
    let cli = Cli {
        dir: tempfile::tempdir().expect("tempdir"),
    };
    let bad = json!({
        "switchboardTenant": 1,
        "tenant": {"id": DEMO_TENANT, "name": "Demo"},
        "workflows": [{"id": "w", "name": "W", "start": "nowhere", "activities": {}}],
        "users": [
            {"id": "u1", "upn": "u1@example.com", "displayName": "U1", "capacity": 0},
            {"id": "u1", "upn": "u1@example.com", "displayName": "U1"},
        ],
        "services": [{"id": "s", "name": "S", "workflow": "missing"}],
    });
    let file = cli.write("bad.json", &bad.to_string());
    let (ok, out, err) = cli.run(&["import", &file]);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("nothing was written"), "{err}");
    for path in [
        "/workflows/0",
        "/users/0/capacity",
        "/users/1/id",
        "/services/0/workflow",
    ] {
        assert!(err.contains(&format!("  {path}")), "{path} in {err}");
    }
    // Nothing written: the store does not even know the tenant (export refuses it, by id and
    // by the `demo` alias alike).
    for tenant in [DEMO_TENANT, "demo"] {
        let (ok, out, err) = cli.run(&["export", "--tenant", tenant]);
        assert!(!ok && out.is_empty(), "{out}");
        assert!(err.contains("this store has no tenant"), "{err}");
    }

    for (text, says) in [
        ("{", "invalid_json"),
        (
            r#"{"switchboardTenant": 2, "tenant": {"id": "t", "name": "T"}}"#,
            "unsupported_format",
        ),
        (
            r#"{"switchboardTenant": 1, "tenant": {"id": "t", "name": "T"}, "agents": []}"#,
            "invalid_shape",
        ),
    ] {
        let file = cli.write("odd.json", text);
        let (ok, _, err) = cli.run(&["import", &file]);
        assert!(!ok && err.contains(says), "{text}: {err}");
    }
    let (ok, _, err) = cli.run(&["import", "no-such-file.json"]);
    assert!(!ok && err.contains("no-such-file.json"), "{err}");
}

#[tokio::test]
async fn the_api_import_reaches_the_running_engine() {
    let app = teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    let workflow = json!({"id": "im", "name": "IM", "start": "accept", "activities": {
        "accept": {"type": "Accept", "next": "queue"},
        "queue": {"type": "QueueTask", "distribution": "direct", "ringTimeoutSeconds": 30,
                  "exits": {"queued": "wait", "failed": "end"}},
        "wait": {"type": "Delay", "seconds": 3600, "next": "end"},
        "end": {"type": "Disconnect", "text": "Bye."}
    }});
    let file = json!({
        "switchboardTenant": 1,
        "tenant": {"id": TENANT_ID, "name": "Contoso"},
        "workflows": [workflow],
        "users": [{"id": ANNE.aad, "upn": "anne@example.com", "displayName": ANNE.name,
                   "licenses": {"im": true}, "activeIn": ["support"]}],
        "services": [{
            "id": "support", "name": "Support", "workflow": "im", "members": [ANNE.aad],
            "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
            "interact": {"enabled": true, "instantMessage": true, "contactId": teams::CONTACT, "widgetKey": teams::KEY}
        }],
    });
    let (status, _, body) = api.post("/import", &file).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["created"], &body["unchanged"]),
        (&json!(4), &json!(0))
    );
    let (_, _, body) = api.post("/import", &file).await;
    assert_eq!(body["unchanged"], 4, "{body}");

    // Anne registers; a customer's chat rings her: the engine has what the file said.
    Teams { app: &app }.install(ANNE).await;
    teams::start_chat(&app, "Ada", Some("Hello")).await;
    teams::invitation_for(&app, ANNE, 1).await;

    let (status, _, exported) = api.get("/export").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(exported["tenant"]["name"], "Contoso");
    assert_eq!(exported["users"][0]["id"], ANNE.aad);

    let (status, _, body) = api.post("/import?prune=maybe", &file).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_parameter");
    // Pruning with a file that lacks the user deletes her.
    let mut fewer = file.clone();
    fewer["users"] = json!([]);
    fewer["services"][0]["members"] = json!([]);
    let (status, _, body) = api.post("/import?prune=true", &fewer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deleted"], 1, "{body}");
    let (_, _, exported) = api.get("/export").await;
    assert_eq!(exported["users"], json!([]));

    let mut other = file.clone();
    other["tenant"]["id"] = json!("someone-else");
    let (status, _, body) = api.post("/import", &other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["problems"][0]["code"], "tenant_mismatch");
    let mut broken = file.clone();
    broken["services"][0]["workflow"] = json!("gone");
    let (status, _, body) = api.post("/import", &broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["problems"][0]["path"], "/services/0/workflow");
}

#[tokio::test]
async fn a_tenant_file_cannot_give_a_whatsapp_number_twice_or_take_another_tenants() {
    let app = teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    let workflow = json!({"id": "im", "name": "IM", "start": "accept", "activities": {
        "accept": {"type": "Accept", "next": "end"},
        "end": {"type": "Disconnect", "text": "Bye."}
    }});
    let service = |id: &str, number: &str| {
        json!({"id": id, "name": id, "workflow": "im",
               "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
               "whatsapp": {"phoneNumberId": number}})
    };
    let file = |tenant: &str, services: Value| {
        json!({"switchboardTenant": 1, "tenant": {"id": tenant, "name": tenant},
               "workflows": [workflow], "services": services})
    };
    let twice = file(TENANT_ID, json!([service("a", "111"), service("b", "111")]));
    let (status, _, body) = api.post("/import", &twice).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["problems"][0]["code"], "phone_number_claimed");
    assert_eq!(
        body["problems"][0]["path"],
        "/services/1/whatsapp/phoneNumberId"
    );

    let once = file(TENANT_ID, json!([service("a", "111")]));
    assert_eq!(api.post("/import", &once).await.0, StatusCode::OK);
    // Applying it again, or moving the number to another service in the same file, is fine.
    assert_eq!(api.post("/import", &once).await.0, StatusCode::OK);
    let moved = file(TENANT_ID, json!([service("a", "222"), service("b", "111")]));
    let (status, _, body) = api.post("/import", &moved).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let other = Api::new(&app, crate::mock_bf::OTHER_TENANT_ID).await;
    let theirs = file(
        crate::mock_bf::OTHER_TENANT_ID,
        json!([service("x", "111")]),
    );
    let (status, _, body) = other.post("/import", &theirs).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["problems"][0]["code"], "phone_number_claimed");
    let message = body["problems"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("another tenant"), "{body}");
}
