//! What became of the messages sent to customers: the wamid of each one the Cloud API took is
//! recorded with the customer event it carried (delivery statuses find it by that wamid), and
//! a message that did not reach the customer — refused at once, given up after retries, or
//! reported `failed` later — is told to the agent in the chat, with WhatsApp's reason. Never
//! silence.

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::customer::store::{self as customer_store, CustomerEvent};
use crate::engine::messages::Command;
use crate::outbox::WhatsAppOutcome;
use crate::store::whatsapp::{self as wa_store, Outbound};
use crate::whatsapp_cloud::client::codes;

/// Runs until `shutdown`.
pub async fn run(
    app: AppState,
    mut outcomes: UnboundedReceiver<WhatsAppOutcome>,
    shutdown: CancellationToken,
) {
    if let Err(e) = recover(&app).await {
        tracing::error!(error = format!("{e:#}"), "recovering WhatsApp sends failed");
    }
    loop {
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return,
            outcome = outcomes.recv() => match outcome {
                Some(outcome) => outcome,
                None => return,
            },
        };
        if let Err(e) = settle(&app, outcome).await {
            tracing::error!(error = format!("{e:#}"), "recording a WhatsApp send failed");
        }
    }
}

async fn settle(app: &AppState, outcome: WhatsAppOutcome) -> anyhow::Result<()> {
    let send = &outcome.send;
    if !send.is_message() || send.seq == 0 {
        return Ok(());
    }
    match outcome.result {
        Ok(Some(wamid)) => {
            app.whatsapp_counts.status("accepted");
            let mut conn = app.pool.acquire().await?;
            let row = wa_store::record_sent(
                &mut conn,
                &wamid,
                &send.session,
                send.seq,
                app.clock.now_ms(),
            )
            .await?;
            drop(conn);
            tell_if_failed(app, &row).await
        }
        Ok(None) => Ok(()),
        Err(error) => {
            app.whatsapp_counts.not_sent();
            let closed = error.code == Some(codes::REENGAGEMENT);
            let reason = reason(error.code, &error.details);
            tell_agent(app, &send.tenant, &send.session, send.seq, &reason, closed).await
        }
    }
}

/// Records the wamids of sends delivered before a crash whose record was lost (the outbox
/// keeps a delivered send's payload), so their statuses find their messages.
async fn recover(app: &AppState) -> anyhow::Result<()> {
    let lost = wa_store::unrecorded_sends(&app.pool).await?;
    for (wamid, payload) in &lost {
        let Ok(send) = serde_json::from_str::<crate::whatsapp_cloud::client::CloudSend>(payload)
        else {
            continue;
        };
        if !send.is_message() || send.seq == 0 {
            continue;
        }
        let mut conn = app.pool.acquire().await?;
        let row = wa_store::record_sent(
            &mut conn,
            wamid,
            &send.session,
            send.seq,
            app.clock.now_ms(),
        )
        .await?;
        drop(conn);
        tell_if_failed(app, &row).await?;
    }
    if !lost.is_empty() {
        tracing::info!(
            sends = lost.len(),
            "WhatsApp sends recorded after a restart"
        );
    }
    Ok(())
}

/// Tells the agent about a message reported `failed`, once.
pub async fn tell_if_failed(app: &AppState, row: &Outbound) -> anyhow::Result<()> {
    let (Some(session), Some(seq)) = (&row.session_id, row.seq) else {
        return Ok(());
    };
    if row.status != "failed" || row.agent_told {
        return Ok(());
    }
    let Some(tenant) = wa_store::session(&app.pool, session)
        .await?
        .map(|s| s.tenant_id)
    else {
        return Ok(());
    };
    let details = row.error_title.as_deref().unwrap_or("no reason given");
    let closed = row.error_code == Some(codes::REENGAGEMENT);
    tell_agent(
        app,
        &tenant,
        session,
        seq,
        &reason(row.error_code, details),
        closed,
    )
    .await?;
    let mut conn = app.pool.acquire().await?;
    wa_store::agent_told(&mut conn, &row.wamid).await?;
    Ok(())
}

/// Why a message did not reach the customer, in the agent's words.
pub fn reason(code: Option<i64>, details: &str) -> String {
    match code {
        Some(codes::REENGAGEMENT) => "more than 24 hours have passed since the customer last \
             wrote, and WhatsApp then allows only an approved template message. It can reach \
             them once they write again."
            .to_owned(),
        Some(code) => format!("WhatsApp refused it ({details}; error {code})."),
        None => match details {
            "no_access_token" => {
                "the tenant has no WhatsApp access token (tenant setting whatsapp.accessToken)."
                    .to_owned()
            }
            "expired" => "it could not be sent in time.".to_owned(),
            other => format!("it could not be sent ({other})."),
        },
    }
}

/// Tells the agent of `session`, in the chat, that the message of event `seq` did not reach
/// the customer, and why.
pub async fn tell_agent(
    app: &AppState,
    tenant: &str,
    session: &str,
    seq: i64,
    reason: &str,
    offer_templates: bool,
) -> anyhow::Result<()> {
    let quoted = customer_store::events_after(&app.pool, session, seq - 1)
        .await?
        .into_iter()
        .find(|(s, _)| *s == seq)
        .and_then(|(_, event)| match event {
            CustomerEvent::Message { text, .. }
            | CustomerEvent::MessageEdited { text, .. }
            | CustomerEvent::Prompt { text, .. }
            | CustomerEvent::Template { text, .. } => Some(text),
            _ => None,
        })
        .map(|text| {
            let short: String = text.chars().take(80).collect();
            if short.len() < text.len() {
                format!(" “{short}…”")
            } else {
                format!(" “{short}”")
            }
        })
        .unwrap_or_default();
    app.engines
        .get(tenant)
        .await?
        .send(Command::NoteToAgent {
            session: session.to_owned(),
            text: format!("Not delivered on WhatsApp:{quoted} — {reason}"),
            offer_templates,
        })
        .await?;
    Ok(())
}
