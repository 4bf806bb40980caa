//! The admin API over HTTP: API keys (missing, unknown, revoked, another tenant's), CRUD of
//! services, users, workflows and calendars with ETag / If-Match, validation with every
//! problem named, the snippet, tenant settings, the live view, and the CLI that makes keys.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::teams::{self, ANNE, Teams};
use crate::mock_bf::{OTHER_TENANT_ID, TENANT_ID};

pub(crate) struct Api<'a> {
    app: &'a TestApp,
    tenant: String,
    pub(crate) key: String,
    pub(crate) http: reqwest::Client,
}

impl<'a> Api<'a> {
    pub(crate) async fn new(app: &'a TestApp, tenant: &str) -> Api<'a> {
        let (_, key) = switchboard::store::api_keys::create(&app.state.pool, tenant, "test", 0)
            .await
            .expect("key");
        Api {
            app,
            tenant: tenant.to_owned(),
            key,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!(
            "{}/api/admin/v1/tenants/{}{path}",
            self.app.address, self.tenant
        )
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> (StatusCode, Option<String>, Value) {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let etag = response
            .headers()
            .get("etag")
            .map(|v| v.to_str().expect("etag").to_owned());
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json",
                "{status}"
            );
        }
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, etag, body)
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Option<String>, Value) {
        self.call(reqwest::Method::GET, path, None, None).await
    }
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &Value,
    ) -> (StatusCode, Option<String>, Value) {
        self.call(reqwest::Method::POST, path, Some(body), None)
            .await
    }
    pub(crate) async fn put(
        &self,
        path: &str,
        body: &Value,
        tag: Option<&str>,
    ) -> (StatusCode, Option<String>, Value) {
        self.call(reqwest::Method::PUT, path, Some(body), tag).await
    }
    pub(crate) async fn delete(
        &self,
        path: &str,
        tag: Option<&str>,
    ) -> (StatusCode, Option<String>, Value) {
        self.call(reqwest::Method::DELETE, path, None, tag).await
    }
}

fn workflow() -> Value {
    json!({"id": "im", "name": "IM", "start": "accept", "activities": {
        "accept": {"type": "Accept", "next": "queue"},
        "queue": {"type": "QueueTask", "distribution": "direct", "ringTimeoutSeconds": 30,
                  "exits": {"queued": "wait", "failed": "end"}},
        "wait": {"type": "Delay", "seconds": 3600, "next": "end"},
        "end": {"type": "Disconnect", "text": "Bye."}
    }})
}

fn service(members: &[&str]) -> Value {
    json!({
        "id": "support", "name": "Support", "workflow": "im", "members": members,
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "contactId": "support-web", "widgetKey": "k-123"}
    })
}

#[tokio::test]
async fn keys_are_required_scoped_to_their_tenant_and_revocable() {
    let app = teams::spawn().await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/admin/v1/tenants/{TENANT_ID}/services", app.address);

    let none = http.get(&url).send().await.expect("request");
    assert_eq!(none.status(), 401);
    assert!(none.headers().contains_key("www-authenticate"));
    let body: Value = none.json().await.expect("problem");
    assert_eq!(body["code"], "api_key_missing");

    for forged in ["sbk_nope_nope", "Basic abc", "sbk_"] {
        let r = http
            .get(&url)
            .bearer_auth(forged)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 401, "{forged}");
        let body: Value = r.json().await.expect("problem");
        assert_eq!(body["code"], "api_key_invalid");
    }

    // A key of another tenant reads nothing of this one.
    let (other_id, other) =
        switchboard::store::api_keys::create(&app.state.pool, OTHER_TENANT_ID, "other", 0)
            .await
            .expect("key");
    let r = http
        .get(&url)
        .bearer_auth(&other)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.expect("problem");
    assert_eq!(body["code"], "tenant_forbidden");
    let own = format!(
        "{}/api/admin/v1/tenants/{OTHER_TENANT_ID}/services",
        app.address
    );
    let r = http
        .get(&own)
        .bearer_auth(&other)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);

    // A right id with a wrong secret, then a revoked key.
    let wrong_secret = format!("sbk_{other_id}_{}", "A".repeat(43));
    let r = http
        .get(&own)
        .bearer_auth(&wrong_secret)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
    assert!(
        switchboard::store::api_keys::revoke(&app.state.pool, &other_id, 1)
            .await
            .expect("revoke")
    );
    let r = http
        .get(&own)
        .bearer_auth(&other)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);

    // Keys are stored hashed.
    let stored = app.texts("SELECT secret_hash FROM api_keys", &[]).await;
    assert!(stored.iter().all(|h| !other.contains(h.as_str())));
}

#[tokio::test]
async fn services_and_workflows_with_versions_validation_and_conflicts() {
    let app = teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;

    // A service naming a workflow that does not exist is refused.
    let (status, _, body) = api.post("/services", &service(&[])).await;
    assert_eq!(status, 422);
    assert_eq!(body["problems"][0]["code"], "unknown_workflow");

    // Workflow validation names every problem with its path.
    let mut broken = workflow();
    broken["activities"]["queue"]["exits"]["queued"] = json!("nowhere");
    broken["activities"]["accept"]["next"] = json!("missing");
    let (status, _, body) = api.post("/workflows/validate", &broken).await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], false);
    let paths: Vec<&str> = body["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["path"].as_str().expect("path"))
        .collect();
    assert!(paths.len() >= 2, "{body}");
    assert!(paths.iter().any(|p| p.contains("accept")), "{paths:?}");
    assert!(paths.iter().any(|p| p.contains("queue")), "{paths:?}");
    let (status, _, body) = api.post("/workflows", &broken).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_document"))
    );
    let (_, _, body) = api.post("/workflows/validate", &workflow()).await;
    assert_eq!(body, json!({"valid": true, "problems": []}));

    let (status, etag, _) = api.post("/workflows", &workflow()).await;
    assert_eq!(
        (status, etag.as_deref()),
        (StatusCode::CREATED, Some("\"1\""))
    );
    let (status, _, body) = api.post("/workflows", &workflow()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_exists"))
    );

    // A workflow with activities Interact cannot run is stored (voice shares workflows) but
    // cannot be assigned to a service; the refusal names the activities.
    let mut phone = workflow();
    phone["id"] = json!("phone");
    phone["activities"]["accept"]["next"] = json!("music");
    phone["activities"]["music"] = json!({"type": "PlayMusic", "next": "queue"});
    let (_, _, body) = api.post("/workflows/validate", &phone).await;
    assert_eq!(body["valid"], false, "not for Interact: {body}");
    let (status, _, body) = api.post("/workflows", &phone).await;
    assert_eq!(status, 201, "{body}");
    let mut on_phone = service(&[]);
    on_phone["workflow"] = json!("phone");
    let (status, _, body) = api.post("/services", &on_phone).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("unsupported_activities")
        )
    );
    assert_eq!(body["activities"], json!(["music (PlayMusic)"]));

    let (status, etag, body) = api.post("/services", &service(&[ANNE.aad])).await;
    assert_eq!(status, 201, "{body}");
    let etag = etag.expect("etag");

    // Two admins read version 1; the first change wins, the second gets 412 with the new ETag.
    let mut first = service(&[ANNE.aad]);
    first["name"] = json!("Support (EN)");
    let mut second = service(&[ANNE.aad]);
    second["name"] = json!("Support (DE)");
    let (status, new_tag, _) = api.put("/services/support", &first, Some(&etag)).await;
    assert_eq!(
        (status, new_tag.as_deref()),
        (StatusCode::OK, Some("\"2\""))
    );
    let (status, current, body) = api.put("/services/support", &second, Some(&etag)).await;
    assert_eq!(status, 412);
    assert_eq!(body["code"], "version_conflict");
    assert_eq!(current.as_deref(), Some("\"2\""));
    let (status, _, body) = api.put("/services/support", &second, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::PRECONDITION_REQUIRED, Some("if_match_required"))
    );
    let (_, tag, body) = api.get("/services/support").await;
    assert_eq!(
        (tag.as_deref(), body["name"].as_str()),
        (Some("\"2\""), Some("Support (EN)"))
    );

    // Bad input: not JSON, a wrong shape, an id that does not match the path.
    let r = reqwest::Client::new()
        .post(api.url("/services"))
        .bearer_auth(&api.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("problem");
    assert_eq!(body["code"], "invalid_body");
    let mut wrong = service(&[]);
    wrong["colour"] = json!("blue");
    wrong["id"] = json!("sales");
    let (status, _, body) = api.post("/services", &wrong).await;
    assert_eq!(status, 422);
    assert!(
        body["problems"][0]["message"]
            .as_str()
            .expect("message")
            .contains("colour"),
        "{body}"
    );
    let (status, _, body) = api.put("/services/support", &wrong, Some("\"2\"")).await;
    assert_eq!(
        (status, body["problems"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("id_mismatch"))
    );

    // The workflow is in use: it cannot be deleted. The service can, at its version.
    let (status, _, body) = api.delete("/workflows/im", Some("\"1\"")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("in_use"))
    );
    assert_eq!(body["services"], json!(["support"]));
    let (status, _, _) = api.delete("/services/support", Some("\"1\"")).await;
    assert_eq!(status, 412);
    let (status, _, _) = api.delete("/services/support", Some("\"2\"")).await;
    assert_eq!(status, 204);
    let (status, _, body) = api.get("/services/support").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _, _) = api.delete("/workflows/im", Some("\"1\"")).await;
    assert_eq!(status, 204);
    let (_, _, body) = api.get("/workflows").await;
    let ids: Vec<&Value> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| &i["document"]["id"])
        .collect();
    assert_eq!(ids, vec!["phone"]);
}

#[tokio::test]
async fn users_snippet_settings_and_the_live_view() {
    let app = teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    api.post("/workflows", &workflow()).await;
    let (status, _, _) = api.post("/services", &service(&[ANNE.aad])).await;
    assert_eq!(status, 201);

    // A user with capacity 0 is refused; a valid one is stored and becomes an agent.
    let mut anne = json!({"id": ANNE.aad, "upn": "anne@example.com", "displayName": ANNE.name,
        "licenses": {"im": true}, "activeIn": ["support"], "capacity": 0});
    let (status, _, body) = api.post("/users", &anne).await;
    assert_eq!(
        (status, body["problems"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("/capacity"))
    );
    anne["capacity"] = json!(2);
    let (status, _, _) = api.post("/users", &anne).await;
    assert_eq!(status, 201);

    // The snippet of the service.
    let (status, _, body) = api.get("/services/support/snippet").await;
    assert_eq!(status, 200);
    let snippet = body["snippet"].as_str().expect("snippet");
    assert!(
        snippet.contains(&format!("{}/interact/widget.js", app.address)),
        "{snippet}"
    );
    assert!(
        snippet.contains("data-contact=\"support-web\"") && snippet.contains("data-key=\"k-123\"")
    );
    let (status, _, body) = api.get(&format!("/users/{}/snippet", ANNE.aad)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("interact_not_set_up"))
    );

    // Tenant settings: the consent link and state; IM can be switched off with If-Match.
    let (status, tag, body) = api.get("/settings").await;
    assert_eq!(status, 200);
    assert_eq!(body["imEnabled"], true);
    assert_eq!(body["permissions"]["grantedAt"], Value::Null);
    assert_eq!(
        body["permissions"]["grantPermissionsUrl"],
        format!("{}/preferences", app.address)
    );
    let mut changed = body.clone();
    changed["name"] = json!("Contoso");
    let (status, tag2, body) = api.put("/settings", &changed, tag.as_deref()).await;
    assert_eq!(
        (status, body["name"].as_str()),
        (StatusCode::OK, Some("Contoso"))
    );
    assert_ne!(tag, tag2);
    let (status, _, _) = api.put("/settings", &changed, tag.as_deref()).await;
    assert_eq!(status, 412);

    // Live: Anne registers, a customer waits, then is connected.
    let teams = Teams { app: &app };
    teams.install(ANNE).await;
    let (_, _, live) = api.get("/live").await;
    let agent = &live["agents"][0];
    assert_eq!(
        (agent["id"].as_str(), agent["registered"].as_bool()),
        (Some(ANNE.aad), Some(true))
    );
    assert_eq!(agent["capacity"], 2);
    assert_eq!(
        agent["displayName"], ANNE.name,
        "agents are named, not only ids"
    );
    let ada = teams::start_chat(&app, "Ada", Some("Hello")).await;
    let id = teams::invitation_for(&app, ANNE, 1).await;
    let (_, _, live) = api.get("/live").await;
    let session = live["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["id"] == ada.session)
        .expect("the session is live");
    assert_eq!(
        (session["state"].as_str(), session["service"].as_str()),
        (Some("queued"), Some("support"))
    );
    assert_eq!(
        live["queues"],
        json!([{"service": "support", "length": 1, "oldestWaitSeconds": 0}])
    );
    assert_eq!(live["agents"][0]["ringing"], true);
    teams.answer(ANNE, "im.invitation.accept", &id).await;
    let (_, _, live) = api.get("/live").await;
    let session = &live["sessions"][0];
    assert_eq!(
        (session["state"].as_str(), session["agent"].as_str()),
        (Some("connected"), Some(ANNE.aad))
    );
    assert_eq!(session["agentName"], ANNE.name);
    assert_eq!(live["queues"][0]["length"], 0);
    assert_eq!(live["agents"][0]["sessions"], 1);
}

#[tokio::test]
async fn the_cli_creates_lists_and_revokes_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| crate::helpers::switchboard(dir.path(), args);
    let created = run(&[
        "admin",
        "create-key",
        "--tenant",
        TENANT_ID,
        "--name",
        "ci",
        "--new-tenant",
    ]);
    assert!(created.status.success(), "{created:?}");
    let key = String::from_utf8(created.stdout).expect("utf8");
    let key = key.trim();
    assert!(key.starts_with("sbk_") && key.len() > 50, "{key}");
    let id = key
        .strip_prefix("sbk_")
        .and_then(|k| k.split('_').next())
        .expect("id");
    let listed = String::from_utf8(run(&["admin", "list-keys"]).stdout).expect("utf8");
    assert!(listed.contains(id) && listed.contains("active"), "{listed}");
    assert!(!listed.contains(key), "the secret is never listed");
    assert!(run(&["admin", "revoke-key", id]).status.success());
    let listed = String::from_utf8(run(&["admin", "list-keys"]).stdout).expect("utf8");
    assert!(listed.contains("revoked"), "{listed}");
    assert!(!run(&["admin", "revoke-key", "nope"]).status.success());
}

#[tokio::test]
async fn a_whatsapp_number_belongs_to_one_service_and_its_workflow_must_suit_whatsapp() {
    let app = teams::spawn().await;
    let api = Api::new(&app, TENANT_ID).await;
    assert_eq!(
        api.post("/workflows", &workflow()).await.0,
        StatusCode::CREATED
    );
    let mut support = service(&[]);
    support["whatsapp"] = json!({"phoneNumberId": "106540352242922"});
    assert_eq!(api.post("/services", &support).await.0, StatusCode::CREATED);
    let (status, _, body) = api.get("/services/support").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["whatsapp"]["phoneNumberId"], "106540352242922");
    // Storing the same service again keeps its own number.
    let (status, tag, _) = api.get("/services/support").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.put("/services/support", &support, tag.as_deref())
            .await
            .0,
        StatusCode::OK
    );

    // A second service of the tenant may not claim it: the first is named.
    let mut sales = service(&[]);
    sales["id"] = json!("sales");
    sales["name"] = json!("Sales");
    sales["interact"]["contactId"] = json!("sales-web");
    sales["whatsapp"] = json!({"phoneNumberId": "106540352242922"});
    let (status, _, body) = api.post("/services", &sales).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "phone_number_claimed");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("\"support\""),
        "{body}"
    );

    // Nor may another tenant's; it is not told whose it is.
    let other = Api::new(&app, OTHER_TENANT_ID).await;
    assert_eq!(
        other.post("/workflows", &workflow()).await.0,
        StatusCode::CREATED
    );
    // (its own contact id: contact ids are one document's across tenants too)
    let mut theirs = support.clone();
    theirs["interact"]["contactId"] = json!("other-web");
    let (status, _, body) = other.post("/services", &theirs).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "phone_number_claimed");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("another tenant") && !detail.contains("support"),
        "{body}"
    );

    // Not a phone number id.
    sales["whatsapp"] = json!({"phoneNumberId": "+1 555"});
    let (status, _, body) = api.post("/services", &sales).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["problems"][0]["path"], "/whatsapp/phoneNumberId");
    assert_eq!(body["problems"][0]["code"], "invalid_phone_number_id");

    // A workflow WhatsApp cannot run (GetQueuePosition) is fine for Interact, refused with a number.
    let mut menu = workflow();
    menu["id"] = json!("menu");
    menu["activities"]["accept"]["next"] = json!("position");
    menu["activities"]["position"] = json!({"type": "GetQueuePosition", "parameter": "position",
        "exits": {"queued": "queue", "notQueued": "queue"}});
    let (s, _, b) = api.post("/workflows", &menu).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    sales["whatsapp"] = json!({"phoneNumberId": "2"});
    sales["workflow"] = json!("menu");
    let (status, _, body) = api.post("/services", &sales).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "unsupported_activities");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("WhatsApp"),
        "{body}"
    );
    sales.as_object_mut().map(|o| o.remove("whatsapp"));
    assert_eq!(api.post("/services", &sales).await.0, StatusCode::CREATED);
}
