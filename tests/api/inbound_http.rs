//! The HTTP edge of `/api/messages`: sizes, methods, malformed bodies, unknown types,
//! anonymous dev mode, health endpoints, and the signing-key cache's failure behaviour.

use std::sync::Arc;

use serde_json::json;
use switchboard::clock::ManualClock;

use crate::helpers::{TestConfig, problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn an_oversized_body_is_rejected_with_413() {
    let app = spawn_app().await;
    let mut body = app.activity();
    body["text"] = json!("x".repeat(300 * 1024));
    let (status, problem) = problem(app.post_with_token(&app.valid_token(), &body).await).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("body_too_large"))
    );
}

#[tokio::test]
async fn an_oversized_body_without_content_length_is_rejected_with_413() {
    let app = spawn_app().await;
    let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
    let stream = futures::stream::iter((0..5).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let response = reqwest::Client::new()
        .post(format!("{}/api/messages", app.address))
        .header("authorization", format!("Bearer {}", app.valid_token()))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("request");
    let (status, _) = problem(response).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn malformed_activity_json_with_a_valid_token_is_rejected_with_400() {
    let app = spawn_app().await;
    let response = app
        .post_raw(
            Some(&format!("Bearer {}", app.valid_token())),
            b"{\"type\": \"message\",".to_vec(),
        )
        .await;
    let (status, problem) = problem(response).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_activity"))
    );
}

#[tokio::test]
async fn malformed_json_without_a_token_is_rejected_with_401_not_400() {
    let app = spawn_app().await;
    let (status, _) = problem(app.post_raw(None, b"garbage".to_vec()).await).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_activity_without_a_conversation_is_rejected_with_400() {
    let app = spawn_app().await;
    let mut body = app.activity();
    body.as_object_mut().expect("object").remove("conversation");
    let (status, problem) = problem(app.post_with_token(&app.valid_token(), &body).await).await;
    assert_eq!(status, 400);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("conversation")
    );
}

#[tokio::test]
async fn other_methods_get_405_with_an_allow_header() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = client
            .request(method, format!("{}/api/messages", app.address))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.headers().get("allow").map(|v| v.to_str().ok()),
            Some(Some("POST"))
        );
        let (status, problem) = problem(response).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (405, Some("method_not_allowed"))
        );
    }
}

#[tokio::test]
async fn unknown_activity_types_and_events_are_acknowledged_with_200() {
    let app = spawn_app().await;
    for kind in [
        "somethingTeamsAddsNextYear",
        "event",
        "conversationUpdate",
        "installationUpdate",
        "messageReaction",
    ] {
        let mut body = app.activity();
        body["type"] = json!(kind);
        body["name"] = json!("application/vnd.microsoft.unknownEvent");
        let response = app.post_with_token(&app.valid_token(), &body).await;
        assert_eq!(response.status(), 200, "{kind}");
    }
}

#[tokio::test]
async fn unknown_routes_get_a_404_problem() {
    let app = spawn_app().await;
    let (status, problem) = problem(app.get("/nope").await).await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn anonymous_dev_mode_accepts_activities_without_a_header() {
    let app = spawn_app_with(TestConfig::anonymous()).await;
    let response = app.post_activity(None, &app.activity()).await;
    assert_eq!(response.status(), 200);
    assert!(app.stored_reference("a:1personal").await.is_some());
    assert_eq!(app.mock.jwks_fetches(), 0);
}

#[tokio::test]
async fn anonymous_dev_mode_still_rejects_malformed_activities() {
    let app = spawn_app_with(TestConfig::anonymous()).await;
    let (status, _) = problem(app.post_raw(None, b"[1,2".to_vec()).await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn unavailable_signing_keys_fail_closed_with_401_not_500() {
    let app = spawn_app().await;
    app.mock.fail_jwks(true);
    let (status, problem) = problem(
        app.post_with_token(&app.valid_token(), &app.activity())
            .await,
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("signing_keys_unavailable"))
    );
    // Once the keys are reachable again, a request goes through.
    app.mock.fail_jwks(false);
    let response = app
        .post_with_token(&app.valid_token(), &app.activity())
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn keys_older_than_24_hours_are_refreshed() {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with(TestConfig::default().clock(clock.clone())).await;
    assert_eq!(
        app.post_with_token(&token_at(&app, &clock), &app.activity())
            .await
            .status(),
        200
    );
    clock.advance(chrono::Duration::hours(23));
    assert_eq!(
        app.post_with_token(&token_at(&app, &clock), &app.activity())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.mock.jwks_fetches(),
        1,
        "cached keys are reused within 24 h"
    );
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        app.post_with_token(&token_at(&app, &clock), &app.activity())
            .await
            .status(),
        200
    );
    assert_eq!(app.mock.jwks_fetches(), 2, "keys are refetched after 24 h");
}

#[tokio::test]
async fn stale_keys_are_kept_when_a_refresh_fails() {
    let clock = Arc::new(ManualClock::default());
    let app = spawn_app_with(TestConfig::default().clock(clock.clone())).await;
    assert_eq!(
        app.post_with_token(&app.valid_token(), &app.activity())
            .await
            .status(),
        200
    );
    app.mock.fail_jwks(true);
    clock.advance(chrono::Duration::hours(25));
    let token = token_at(&app, &clock);
    assert_eq!(
        app.post_with_token(&token, &app.activity()).await.status(),
        200
    );
    assert_eq!(app.mock.jwks_fetches(), 2, "a refresh was attempted");
    // The failed refresh is not retried on every request.
    assert_eq!(
        app.post_with_token(&token, &app.activity()).await.status(),
        200
    );
    assert_eq!(app.mock.jwks_fetches(), 2);
}

/// A valid token whose lifetime is relative to the manual clock.
fn token_at(app: &crate::helpers::TestApp, clock: &ManualClock) -> String {
    use switchboard::clock::Clock;
    let now = clock.now().timestamp();
    let mut claims = app.mock.claims(&app.mock.service_url());
    claims["exp"] = json!(now + 3600);
    claims["nbf"] = json!(now - 10);
    crate::mock_bf::TestKey::one().sign(&claims)
}

#[tokio::test]
async fn an_unauthenticated_streamed_body_is_refused_with_401_before_it_is_read() {
    let app = spawn_app().await;
    let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
    let stream = futures::stream::iter((0..5).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let response = reqwest::Client::new()
        .post(format!("{}/api/messages", app.address))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("request");
    let (status, problem) = problem(response).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("missing_authorization"))
    );
}
