//! The WhatsApp Business Cloud API (Meta's Graph API), the adapter beneath the `whatsapp` edge:
//! [`webhook`] verifies a webhook's signature over its raw bytes and splits a verified payload
//! into the items Switchboard stores once each (inbound messages by `wamid`, delivery statuses
//! by `wamid` and status); [`message`] reads a customer's message into words; [`client`] sends
//! (texts, read receipts with a typing indicator) and reads the Cloud API's errors.

pub mod client;
pub mod message;
pub mod webhook;

use std::sync::atomic::{AtomicU64, Ordering};

/// How long after the customer's last message free-form messages may be sent (WhatsApp's
/// customer service window).
pub const WINDOW_MS: i64 = 24 * 3600 * 1000;

/// WhatsApp message counts since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counts {
    received: AtomicU64,
    failed_to_send: AtomicU64,
    /// accepted, sent, delivered, read, failed (statuses as reported).
    out: [AtomicU64; 5],
}

/// The outbound statuses counted, in [`Counts::snapshot`] order.
const OUT: [&str; 5] = ["accepted", "sent", "delivered", "read", "failed"];

impl Counts {
    /// Customers' messages, each taken once.
    pub fn received(&self, messages: u64) {
        self.received.fetch_add(messages, Ordering::Relaxed);
    }

    /// A message refused or given up before WhatsApp took it.
    pub fn not_sent(&self) {
        self.failed_to_send.fetch_add(1, Ordering::Relaxed);
    }

    /// A status of a sent message (`accepted`: the Cloud API took it).
    pub fn status(&self, status: &str) {
        if let Some(i) = OUT.iter().position(|s| *s == status) {
            self.out[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `(direction, status, count)` of every count.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut all = vec![
            ("in", "received", self.received.load(Ordering::Relaxed)),
            (
                "out",
                "not_sent",
                self.failed_to_send.load(Ordering::Relaxed),
            ),
        ];
        for (name, n) in OUT.iter().zip(&self.out) {
            all.push(("out", name, n.load(Ordering::Relaxed)));
        }
        all
    }
}
