//! The customer's session as every edge sees it, beneath the edges: what it is ([`session`]: its
//! state, its events, its row), its stored rows and event stream ([`store`]), the worker that turns engine effects into customer events ([`events`]),
//! the per-session gate that orders messages and ends ([`gates`]), and the ends decided outside
//! the engine ([`ending`]: the customer leaves, the agent ends the chat), and what customers
//! leave besides chats ([`feedback`]: messages when nobody was available, surveys; [`files`]:
//! their uploads). The customer API
//! (`interact`) and the Teams side (`bot`) both use it; it serves no HTTP.

pub mod ending;
pub mod events;
pub mod feedback;
pub mod files;
pub mod gates;
pub mod session;
pub mod store;
