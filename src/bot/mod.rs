//! Teams activity handling. This version stores the conversation reference of every verified
//! activity (so proactive messages work after a restart) and acknowledges every activity type;
//! registration, invitations and the chatroom relay come with the Teams flows.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::botframework::auth::VerifiedActivity;
use crate::http::problem::Problem;
use crate::startup::AppState;
use crate::store::conversations::ConversationReference;

/// `POST /api/messages`: only reachable with a [`VerifiedActivity`].
pub async fn messages(State(state): State<AppState>, verified: VerifiedActivity) -> Response {
    let inbound = verified.inbound();
    let activity = &inbound.activity;
    let reference = reference_of(&verified);
    if let Err(e) = state
        .references
        .record(&reference, state.clock.now_ms())
        .await
    {
        // Answering 500 makes the Bot Framework retry the delivery: nothing is lost.
        tracing::error!(error = %e, "storing a conversation reference failed");
        return Problem::internal().into_response();
    }
    tracing::debug!(
        activity.kind = %activity.kind,
        activity.channel = activity.channel_id.as_deref().unwrap_or(""),
        tenant.id = activity.tenant_id().as_deref().unwrap_or(""),
        "activity received"
    );
    match activity.kind.as_str() {
        // Invokes expect an answer in the body; none is handled yet (BB-JS answers 501 too).
        "invoke" => Problem::new(
            StatusCode::NOT_IMPLEMENTED,
            "invoke_not_handled",
            format!(
                "invoke {:?} is not handled",
                activity.name.as_deref().unwrap_or_default()
            ),
        )
        .into_response(),
        // Every other type, known or not, is acknowledged (Teams adds new ones over time).
        _ => StatusCode::OK.into_response(),
    }
}

fn reference_of(verified: &VerifiedActivity) -> ConversationReference {
    let inbound = verified.inbound();
    let activity = &inbound.activity;
    let from_user = activity
        .from
        .as_ref()
        .filter(|f| f.role.as_deref() != Some("bot"));
    ConversationReference {
        channel_id: activity.channel_id.clone().unwrap_or_default(),
        conversation_id: inbound.conversation_id.clone(),
        service_url: inbound.service_url.as_str().to_owned(),
        tenant_id: activity.tenant_id(),
        conversation_type: activity
            .conversation
            .as_ref()
            .and_then(|c| c.conversation_type.clone()),
        bot_id: activity
            .recipient
            .as_ref()
            .map(|r| r.id.clone())
            .unwrap_or_default(),
        user_id: from_user.map(|f| f.id.clone()),
        user_aad_object_id: from_user.and_then(|f| f.aad_object_id.clone()),
    }
}
