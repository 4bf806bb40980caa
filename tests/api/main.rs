//! The one integration-test binary: black-box tests of the service against a mock Bot
//! Framework on loopback.

mod admin;
mod agent_side;
mod binary;
mod browser;
mod bundle;
mod cards_conformance;
mod crash;
mod directory;
mod effects;
mod ending;
mod engine;
mod feedback;
mod fuzz;
mod hardening;
mod helpers;
mod idle;
mod inbound_auth;
mod inbound_http;
mod interact;
mod manifest;
mod metrics;
mod mock_bf;
mod mock_whatsapp;
mod outbound;
mod personal_chat;
mod preferences;
mod reports;
mod routing;
mod teams;
mod webhooks;
mod whatsapp;
mod whatsapp_flow;
mod whatsapp_simulator;
