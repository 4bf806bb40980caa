//! The reporting facts the engine records with each command (`report_sessions`,
//! `report_offers`): what the reports and KPIs read. Written by the actor in the command's own
//! transaction, so a fact is stored exactly when the transition that produced it is.

use super::messages::Fact;
use crate::store::AsConn;

/// Records a reporting fact (a session or an offer that ended) in the command's transaction.
pub(super) async fn report(
    tx: &mut (impl AsConn + ?Sized),
    tenant: &str,
    fact: &Fact,
) -> anyhow::Result<()> {
    match fact {
        Fact::SessionEnded {
            session,
            service,
            channel,
            outcome,
            agent,
            created_at,
            queued_at,
            offered_at,
            accepted_at,
            ended_at,
            transferred_from,
            transferred_by,
        } => {
            let transferred_from = serde_json::to_string(transferred_from)?;
            let transferred_by = serde_json::to_string(transferred_by)?;
            crate::db!(tx.conn(), |c| {
                sqlx::query(
                "INSERT INTO report_sessions (tenant_id, session_id, service, channel, outcome, agent, created_at,
                    queued_at, offered_at, accepted_at, ended_at, transferred_from, transferred_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(tenant)
            .bind(session)
            .bind(service)
            .bind(channel)
            .bind(serde_name(outcome))
            .bind(agent)
            .bind(created_at)
            .bind(queued_at)
            .bind(offered_at)
            .bind(accepted_at)
            .bind(ended_at)
            .bind(&transferred_from)
            .bind(&transferred_by)
            .execute(c)
            .await
            .map(|_| ())
            })?;
        }
        Fact::OfferEnded {
            offer,
            session,
            channel,
            service,
            user,
            outcome,
            ended_at,
        } => {
            crate::db!(tx.conn(), |c| {
                sqlx::query(
                "INSERT INTO report_offers (tenant_id, offer_id, session_id, service, user_id, outcome, ended_at, channel)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(tenant)
            .bind(i64::try_from(*offer).unwrap_or(i64::MAX))
            .bind(session)
            .bind(service)
            .bind(user)
            .bind(serde_name(outcome))
            .bind(ended_at)
            .bind(channel)
            .execute(c)
            .await
            .map(|_| ())
            })?;
        }
    }
    Ok(())
}

/// The operator's line for a fact, once it is stored: ids and outcomes only (never a name,
/// an address or what anyone wrote).
pub(super) fn log(tenant: &str, fact: &Fact) {
    match fact {
        Fact::SessionEnded {
            session,
            service,
            channel,
            outcome,
            agent,
            ..
        } => tracing::info!(
            tenant.id = %tenant,
            session.id = %session,
            service.id = %service,
            channel = %channel,
            outcome = %serde_name(outcome),
            agent.id = agent.as_deref().unwrap_or("-"),
            "session ended"
        ),
        Fact::OfferEnded {
            offer,
            session,
            service,
            user,
            outcome,
            ..
        } => tracing::info!(
            tenant.id = %tenant,
            session.id = %session,
            service.id = %service,
            offer.id = offer,
            agent.id = %user,
            outcome = %serde_name(outcome),
            "invitation ended"
        ),
    }
}

/// The serde name of an outcome (`handled`, `rona`, `cancelled`…).
fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(map)) => map.keys().next().cloned().unwrap_or_default(),
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}
