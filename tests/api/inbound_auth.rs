//! The negative matrix of reference/botframework.md §1.6 that applies to channel tokens, plus
//! the positive case: only a fully valid token reaches the handler (which stores the
//! conversation reference, so "not stored" proves the handler did not run).

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestConfig, problem, spawn_app, spawn_app_with};
use crate::mock_bf::{APP_ID, OTHER_TENANT_ID, TestKey, unix_now, unsigned_token};

async fn assert_refused(app: &TestApp, authorization: Option<&str>, body: &Value, code: &str) {
    let response = app.post_activity(authorization, body).await;
    let (status, problem) = problem(response).await;
    assert_eq!(status, 401, "{problem}");
    assert_eq!(problem["code"], code, "{problem}");
    assert!(
        app.stored_reference("a:1personal").await.is_none(),
        "the handler must not have run"
    );
}

async fn assert_token_refused(app: &TestApp, token: &str, code: &str) {
    assert_refused(app, Some(&format!("Bearer {token}")), &app.activity(), code).await;
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().expect("object").remove(key);
    claims
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_and_the_conversation_reference_is_stored() {
    let app = spawn_app().await;
    let response = app
        .post_with_token(&app.valid_token(), &app.activity())
        .await;
    assert_eq!(response.status(), 200);
    let stored = app
        .stored_reference("a:1personal")
        .await
        .expect("reference stored");
    assert_eq!(stored.service_url, app.mock.service_url());
    assert_eq!(stored.tenant_id.as_deref(), Some(crate::mock_bf::TENANT_ID));
    assert_eq!(stored.bot_id, format!("28:{APP_ID}"));
    assert_eq!(stored.user_id.as_deref(), Some("29:1a2b3c"));
    assert_eq!(
        stored.user_aad_object_id.as_deref(),
        Some("00000000-0000-0000-0000-000000000020")
    );
    assert_eq!(stored.conversation_type.as_deref(), Some("personal"));
}

#[tokio::test]
async fn a_missing_authorization_header_is_rejected_with_401() {
    let app = spawn_app().await;
    assert_refused(&app, None, &app.activity(), "missing_authorization").await;
}

#[tokio::test]
async fn a_garbled_authorization_header_is_rejected_with_401() {
    let app = spawn_app().await;
    for garbled in ["Bearer", "Bearer ", "Bearer  two-spaces", "Bearer a b"] {
        assert_refused(
            &app,
            Some(garbled),
            &app.activity(),
            "invalid_authorization_header",
        )
        .await;
    }
    assert_refused(
        &app,
        Some("Bearer not.a.jwt"),
        &app.activity(),
        "malformed_token",
    )
    .await;
    assert_refused(&app, Some("Bearer x"), &app.activity(), "malformed_token").await;
}

#[tokio::test]
async fn a_wrong_scheme_is_rejected_with_401() {
    let app = spawn_app().await;
    let token = app.valid_token();
    for header in [
        format!("Basic {token}"),
        format!("bearer {token}"),
        token.clone(),
    ] {
        assert_refused(
            &app,
            Some(&header),
            &app.activity(),
            "invalid_authorization_header",
        )
        .await;
    }
}

#[tokio::test]
async fn an_unknown_issuer_is_rejected_with_401_before_any_key_is_fetched() {
    let app = spawn_app().await;
    let claims = with(
        app.mock.claims(&app.mock.service_url()),
        "iss",
        json!("https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"),
    );
    assert_token_refused(&app, &TestKey::one().sign(&claims), "untrusted_issuer").await;
    let no_issuer = without(app.mock.claims(&app.mock.service_url()), "iss");
    assert_token_refused(&app, &TestKey::one().sign(&no_issuer), "untrusted_issuer").await;
    assert_eq!(
        app.mock.jwks_fetches(),
        0,
        "an untrusted token must not trigger key fetches"
    );
}

#[tokio::test]
async fn an_expired_token_beyond_the_skew_is_rejected_with_401() {
    let app = spawn_app().await;
    let claims = with(
        app.mock.claims(&app.mock.service_url()),
        "exp",
        json!(unix_now() - 301),
    );
    assert_token_refused(&app, &TestKey::one().sign(&claims), "token_expired").await;
}

#[tokio::test]
async fn an_expired_token_within_the_five_minute_skew_is_accepted() {
    let app = spawn_app().await;
    let claims = with(
        app.mock.claims(&app.mock.service_url()),
        "exp",
        json!(unix_now() - 240),
    );
    let response = app
        .post_with_token(&TestKey::one().sign(&claims), &app.activity())
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_token_not_yet_valid_beyond_the_skew_is_rejected_with_401() {
    let app = spawn_app().await;
    let claims = with(
        app.mock.claims(&app.mock.service_url()),
        "nbf",
        json!(unix_now() + 400),
    );
    assert_token_refused(&app, &TestKey::one().sign(&claims), "token_not_yet_valid").await;
}

#[tokio::test]
async fn a_token_not_yet_valid_within_the_skew_is_accepted() {
    let app = spawn_app().await;
    let claims = with(
        app.mock.claims(&app.mock.service_url()),
        "nbf",
        json!(unix_now() + 240),
    );
    let response = app
        .post_with_token(&TestKey::one().sign(&claims), &app.activity())
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_token_without_exp_is_rejected_with_401() {
    let app = spawn_app().await;
    let claims = without(app.mock.claims(&app.mock.service_url()), "exp");
    assert_token_refused(&app, &TestKey::one().sign(&claims), "missing_claim").await;
}

#[tokio::test]
async fn a_wrong_audience_is_rejected_with_401() {
    let app = spawn_app().await;
    let claims = with(
        app.mock.claims(&app.mock.service_url()),
        "aud",
        json!("unexpectedAppId"),
    );
    assert_token_refused(&app, &TestKey::one().sign(&claims), "invalid_audience").await;
    let api_audience = with(
        app.mock.claims(&app.mock.service_url()),
        "aud",
        json!("https://api.botframework.com"),
    );
    assert_token_refused(
        &app,
        &TestKey::one().sign(&api_audience),
        "invalid_audience",
    )
    .await;
}

#[tokio::test]
async fn a_missing_audience_is_rejected_with_401() {
    let app = spawn_app().await;
    let claims = without(app.mock.claims(&app.mock.service_url()), "aud");
    assert_token_refused(&app, &TestKey::one().sign(&claims), "missing_claim").await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_rejected_with_401() {
    let app = spawn_app().await;
    let token = unsigned_token("key-1", &app.mock.claims(&app.mock.service_url()));
    let response = app.post_with_token(&token, &app.activity()).await;
    let (status, body) = problem(response).await;
    assert_eq!(status, 401);
    assert!(
        ["malformed_token", "unsupported_algorithm"].contains(&body["code"].as_str().unwrap_or("")),
        "{body}"
    );
    assert!(app.stored_reference("a:1personal").await.is_none());
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_public_key_is_rejected_with_401() {
    let app = spawn_app().await;
    let token =
        TestKey::one().sign_hs256_with_public_key(&app.mock.claims(&app.mock.service_url()));
    assert_token_refused(&app, &token, "unsupported_algorithm").await;
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_a_known_kid_is_rejected_with_401() {
    let app = spawn_app().await;
    let forged = TestKey::two()
        .with_kid("key-1")
        .sign(&app.mock.claims(&app.mock.service_url()));
    assert_token_refused(&app, &forged, "invalid_signature").await;
}

#[tokio::test]
async fn an_unknown_kid_without_rotation_is_rejected_and_refreshes_keys_at_most_once() {
    let app = spawn_app().await;
    // Warm the cache with a valid request.
    let ok = app
        .post_with_token(&app.valid_token(), &app.activity())
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(app.mock.jwks_fetches(), 1);
    let conversation = json!({"conversationType": "personal", "id": "a:2other"});
    let mut body = app.activity();
    body["conversation"] = conversation;

    let unknown = TestKey::two().sign(&app.mock.claims(&app.mock.service_url()));
    for _ in 0..3 {
        let (status, problem) = problem(app.post_with_token(&unknown, &body).await).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (401, Some("unknown_signing_key"))
        );
    }
    // One rate-limited refresh for the unknown kid, not one per request.
    assert_eq!(app.mock.jwks_fetches(), 2);
}

#[tokio::test]
async fn an_unknown_kid_after_key_rotation_is_accepted_after_one_refresh() {
    let app = spawn_app().await;
    let ok = app
        .post_with_token(&app.valid_token(), &app.activity())
        .await;
    assert_eq!(ok.status(), 200);
    app.mock.publish_keys(vec![TestKey::one(), TestKey::two()]);

    let rotated = TestKey::two().sign(&app.mock.claims(&app.mock.service_url()));
    let body = app.activity();
    let requests = (0..16).map(|_| app.post_with_token(&rotated, &body));
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.status(), 200);
    }
    // Sixteen concurrent requests with the new kid: one single-flight refresh.
    assert_eq!(app.mock.jwks_fetches(), 2);
}

#[tokio::test]
async fn a_key_not_endorsed_for_the_channel_is_rejected_with_401() {
    let app = spawn_app().await;
    app.mock
        .publish_keys(vec![TestKey::one(), TestKey::webchat_only()]);
    let token = TestKey::webchat_only().sign(&app.mock.claims(&app.mock.service_url()));
    assert_token_refused(&app, &token, "channel_not_endorsed").await;
    // The same key is fine for the channel it is endorsed for.
    let mut webchat = app.activity();
    webchat["channelId"] = json!("webchat");
    let response = app.post_with_token(&token, &webchat).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_activity_without_a_channel_id_is_rejected_with_401() {
    let app = spawn_app().await;
    let mut body = app.activity();
    body.as_object_mut().expect("object").remove("channelId");
    assert_refused(
        &app,
        Some(&format!("Bearer {}", app.valid_token())),
        &body,
        "channel_not_endorsed",
    )
    .await;
}

#[tokio::test]
async fn a_serviceurl_claim_that_does_not_match_the_activity_is_rejected_with_401() {
    let app = spawn_app().await;
    let claims = app.mock.claims("https://smba.trafficmanager.net/amer/");
    assert_token_refused(&app, &TestKey::one().sign(&claims), "service_url_mismatch").await;
}

#[tokio::test]
async fn a_token_without_a_serviceurl_claim_is_rejected_with_401() {
    let app = spawn_app().await;
    let claims = without(app.mock.claims(&app.mock.service_url()), "serviceurl");
    assert_token_refused(&app, &TestKey::one().sign(&claims), "missing_claim").await;
}

#[tokio::test]
async fn a_userinfo_spoofed_service_url_is_rejected() {
    let app = spawn_app().await;
    let genuine = app.mock.service_url();
    let spoofed = genuine.replacen("http://", "http://127.0.0.1@evil.example.com/", 1);
    let mut body = app.activity();
    body["serviceUrl"] = json!(spoofed);
    // A genuine token for the real service URL does not cover the spoofed one.
    assert_refused(
        &app,
        Some(&format!("Bearer {}", app.valid_token())),
        &body,
        "service_url_mismatch",
    )
    .await;
    // Even a token naming the spoofed URL cannot make us store or call it.
    let token = TestKey::one().sign(&app.mock.claims(&spoofed));
    let (status, problem) = problem(app.post_with_token(&token, &body).await).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_activity"))
    );
    assert!(app.stored_reference("a:1personal").await.is_none());
}

#[tokio::test]
async fn an_activity_from_another_tenant_is_refused_with_403_by_a_single_tenant_bot() {
    let app = spawn_app().await;
    let mut body = app.activity();
    body["channelData"]["tenant"]["id"] = json!(OTHER_TENANT_ID);
    let (status, problem) = problem(app.post_with_token(&app.valid_token(), &body).await).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("tenant_not_allowed"))
    );
    assert!(app.stored_reference("a:1personal").await.is_none());
}

#[tokio::test]
async fn a_multi_tenant_bot_accepts_only_the_allowed_tenants_when_a_list_is_set() {
    let app = spawn_app_with(
        TestConfig::default()
            .env("SWITCHBOARD_BOT__APP_TYPE", "MultiTenant")
            .env("SWITCHBOARD_BOT__ALLOWED_TENANTS", OTHER_TENANT_ID),
    )
    .await;
    let mut allowed = app.activity();
    allowed["channelData"]["tenant"]["id"] = json!(OTHER_TENANT_ID.to_uppercase());
    assert_eq!(
        app.post_with_token(&app.valid_token(), &allowed)
            .await
            .status(),
        200
    );
    let (status, _) = problem(
        app.post_with_token(&app.valid_token(), &app.activity())
            .await,
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_multi_tenant_bot_without_a_list_accepts_any_tenant() {
    let app =
        spawn_app_with(TestConfig::default().env("SWITCHBOARD_BOT__APP_TYPE", "MultiTenant")).await;
    let mut body = app.activity();
    body["channelData"]["tenant"]["id"] = json!(OTHER_TENANT_ID);
    assert_eq!(
        app.post_with_token(&app.valid_token(), &body)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_changed_service_url_updates_the_stored_reference() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_with_token(&app.valid_token(), &app.activity())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_with_token(&app.valid_token(), &app.activity())
            .await
            .status(),
        200
    );
    let moved = app.mock.service_url().replace("/amer/", "/emea/");
    let mut body = app.activity();
    body["serviceUrl"] = json!(moved);
    let token = TestKey::one().sign(&app.mock.claims(&moved));
    assert_eq!(app.post_with_token(&token, &body).await.status(), 200);
    let stored = app.stored_reference("a:1personal").await.expect("stored");
    assert_eq!(stored.service_url, moved);
}
