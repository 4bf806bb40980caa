//! The WhatsApp Business Cloud API (Meta's Graph API), the adapter beneath the `whatsapp` edge:
//! [`webhook`] verifies a webhook's signature over its raw bytes and splits a verified payload
//! into the items Switchboard stores once each (inbound messages by `wamid`, delivery statuses
//! by `wamid` and status).

pub mod webhook;
