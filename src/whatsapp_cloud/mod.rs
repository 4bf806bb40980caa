//! The WhatsApp Business Cloud API (Meta's Graph API), the adapter beneath the `whatsapp` edge:
//! [`webhook`] verifies a webhook's signature over its raw bytes and splits a verified payload
//! into the items Switchboard stores once each (inbound messages by `wamid`, delivery statuses
//! by `wamid` and status); [`message`] reads a customer's message into words; [`client`] sends
//! (texts, read receipts with a typing indicator) and reads the Cloud API's errors.

pub mod client;
pub mod message;
pub mod webhook;
