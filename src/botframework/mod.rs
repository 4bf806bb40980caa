//! The Bot Framework protocol layer: Activity wire types, inbound JWT validation (OpenID
//! metadata + JWKS cache), and the Connector client (client-credentials token cache, retries,
//! per-conversation rate limits, trusted service-URL allow-list) with its outbox worker.
//!
//! It knows nothing of queues or workflows: the `bot` module turns activities into domain
//! commands and hands Connector calls back to this module.

pub mod activity;
pub mod auth;
pub mod connector;
pub mod in_order;
pub mod ratelimit;
pub mod resends;
pub mod retry;
pub mod service_url;
pub mod tokens;
