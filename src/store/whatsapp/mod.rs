//! WhatsApp's tables: webhook items (`whatsapp_inbound`), stored once each before the webhook
//! is answered (a retry of a message, same `wamid`, or of a status, same `wamid` and status,
//! finds its row) and handled in the order they arrived; the customers' sessions
//! (`whatsapp_sessions`); the messages sent and their delivery status (`whatsapp_outbound`);
//! customers' media (`whatsapp_media`); and each tenant's Cloud API credentials
//! (`tenant_whatsapp`).

mod credentials;
mod inbound;
mod media;
mod outbound;
mod sessions;

pub use credentials::*;
pub use inbound::*;
pub use media::*;
pub use outbound::*;
pub use sessions::*;
