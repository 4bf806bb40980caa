//! The dispatcher's WhatsApp sends: one attempt each through the Cloud API client.

use super::Dispatcher;

impl Dispatcher {
    /// A WhatsApp send: with the tenant's token, one attempt; the throughput limits (130429,
    /// 131056, 131057) and server errors park it with backoff, anything else gives it up. Its
    /// end (the wamid, or why) is passed to the WhatsApp edge.
    pub(super) async fn deliver_whatsapp(
        &self,
        head: crate::store::outbox::PendingCall,
    ) -> crate::store::outbox::Settlement {
        use crate::whatsapp_cloud::client::{CloudError, CloudSend};
        let Ok(send) = serde_json::from_str::<CloudSend>(&head.call) else {
            return super::give_up(&head, head.attempts, "undecodable_call");
        };
        let attempts = head.attempts + 1;
        let fail = |details: &str| CloudError {
            code: None,
            status: None,
            details: details.to_owned(),
            retryable: false,
        };
        let max_age = i64::try_from(self.settings.max_age.as_millis()).unwrap_or(i64::MAX);
        let result = if self.outbox.clock.now_ms() - head.created_at > max_age {
            Err(fail("expired"))
        } else if let Some(client) = &self.whatsapp {
            let token = match self.outbox.pool.acquire().await {
                Ok(mut conn) => crate::store::whatsapp::credentials(&mut conn, &send.tenant)
                    .await
                    .map(|c| c.access_token),
                Err(e) => Err(e),
            };
            match token {
                Ok(Some(token)) => client.send(&token, &send).await,
                Ok(None) => Err(fail("no_access_token")),
                Err(_) => Err(CloudError {
                    retryable: true,
                    ..fail("store_unavailable")
                }),
            }
        } else {
            Err(fail("whatsapp_not_configured"))
        };
        let now = self.outbox.clock.now_ms();
        let settlement = match &result {
            Ok(wamid) => crate::store::outbox::Settlement::Delivered {
                id: head.id,
                attempts,
                result_id: wamid.clone(),
                at: now,
                // Kept: after a crash, the WhatsApp edge records the wamid from it
                // (`store::whatsapp::unrecorded_sends`).
                keep_payload: true,
            },
            Err(e) if e.retryable => return self.retry_later(&head, attempts, None, e.code(), now),
            Err(e) => super::give_up(&head, attempts, &e.code()),
        };
        let _ = self
            .outbox
            .whatsapp_outcomes
            .send(crate::outbox::WhatsAppOutcome { send, result });
        settlement
    }
}
