//! Tenant webhooks: the tenant's systems hear about sessions (`session.queued`,
//! `session.connected`, `session.ended`, `session.collectInformation`) and messages customers
//! left while nobody was available (`offlineMessage.received`, [`record::record_events`])
//! through signed HTTPS POSTs, delivered reliably through the outbox.
//!
//! Flow: the engine actor's persist transaction calls its effect recorder, the [`Recorder`]
//! startup gives the engines, which through [`record::record`] turns the transition's
//! effects into events ([`events::events_of`], pure) and queues one outbox row per (event, endpoint) in
//! the same transaction — an event is recorded exactly when its transition is. The outbox
//! dispatcher hands rows of operation [`OPERATION`] to [`Sender::deliver`], which signs and
//! sends them and says whether to mark them delivered, retry them with backoff, or give up.
//!
//! Owns: endpoint settings ([`endpoints`], table `tenant_webhooks`, secrets write-only), the
//! payload and signature format (docs/admin-api.md, Webhooks). Does not own: the outbox's scheduling
//! (`outbox`), or how parameters reach a session (`engine::messages::Command`).

pub mod endpoints;
pub mod events;
pub mod health;
pub mod record;
pub mod sender;
pub mod validate;

pub use record::{OPERATION, Recorder, recent, record_events};
pub use sender::Sender;
