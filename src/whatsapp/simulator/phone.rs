//! What the simulator's page shows: every customer's chat lines, who is typing, and the images
//! customers sent (for the Graph mock's media endpoints).

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use super::MAX_ENTRIES;

/// Images kept for the media endpoints, at most.
const MAX_MEDIA: usize = 32;

/// How long WhatsApp shows "typing…" without a message (its documented 25 seconds).
pub const TYPING_MS: i64 = 25_000;

/// A choice under a business message: a reply button or a list row.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub id: String,
    pub title: String,
}

/// One line of a chat.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub seq: u64,
    pub customer: String,
    /// Written by the customer (on the right of the phone), else by the business.
    pub from_customer: bool,
    pub wamid: String,
    pub at: i64,
    /// `text`, `buttons`, `list`, `template` or `image`.
    pub kind: &'static str,
    pub text: String,
    /// The list's button label (`list` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `sending`, `sent`, `delivered`, `read` or `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Entry {
    fn new(kind: &'static str, text: &str) -> Self {
        Entry {
            seq: 0,
            customer: String::new(),
            from_customer: false,
            wamid: String::new(),
            at: 0,
            kind,
            text: text.to_owned(),
            button: None,
            choices: Vec::new(),
            image: None,
            status: "sending",
            error: None,
        }
    }

    pub fn text(text: &str) -> Self {
        Entry::new("text", text)
    }

    pub fn image(url: &str, caption: Option<&str>) -> Self {
        Entry {
            image: Some(url.to_owned()),
            ..Entry::new("image", caption.unwrap_or_default())
        }
    }

    pub fn buttons(text: &str, choices: Vec<Choice>) -> Self {
        Entry {
            choices,
            ..Entry::new("buttons", text)
        }
    }

    pub fn list(text: &str, button: &str, choices: Vec<Choice>) -> Self {
        Entry {
            button: Some(button.to_owned()),
            choices,
            ..Entry::new("list", text)
        }
    }

    pub fn template(text: &str) -> Self {
        Entry::new("template", text)
    }

    /// This line as the customer's.
    pub fn by_customer(self, customer: &str, wamid: &str, at: i64) -> Self {
        Entry {
            from_customer: true,
            ..self.for_customer(customer, wamid, at)
        }
    }

    /// This line as the business's, to `customer`.
    pub fn for_customer(self, customer: &str, wamid: &str, at: i64) -> Self {
        Entry {
            customer: customer.to_owned(),
            wamid: wamid.to_owned(),
            at,
            ..self
        }
    }
}

/// A customer's image.
pub struct Media {
    pub mime_type: String,
    pub bytes: bytes::Bytes,
}

#[derive(Default)]
pub struct Phone {
    next: u64,
    entries: VecDeque<Entry>,
    typing: HashMap<String, i64>,
    media: VecDeque<(String, Media)>,
}

/// Status ranks: a status never goes back (`read` may come before `delivered`).
fn rank(status: &str) -> u8 {
    match status {
        "sending" => 0,
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        _ => 4,
    }
}

impl Phone {
    /// Adds a line; returns its number.
    pub fn push(&mut self, mut entry: Entry) -> u64 {
        self.next += 1;
        entry.seq = self.next;
        if !entry.from_customer {
            self.typing.remove(&entry.customer);
        }
        self.entries.push_back(entry);
        while self.entries.len() > MAX_ENTRIES {
            self.entries.pop_front();
        }
        self.next
    }

    /// `customer`'s chat, oldest first.
    pub fn chat<'a>(&'a self, customer: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries.iter().filter(move |e| e.customer == customer)
    }

    pub fn set_status(&mut self, seq: u64, status: &'static str, error: Option<String>) {
        if let Some(entry) = self.entries.iter_mut().find(|e| e.seq == seq)
            && rank(status) > rank(entry.status)
        {
            entry.status = status;
            entry.error = error;
        }
    }

    /// Sets the status of the business message `wamid`; returns whether it is one.
    pub fn set_status_of(&mut self, wamid: &str, status: &'static str) -> bool {
        match self.entries.iter().find(|e| e.wamid == wamid) {
            Some(entry) => {
                let seq = entry.seq;
                self.set_status(seq, status, None);
                true
            }
            None => false,
        }
    }

    /// The business read the customer's messages up to `wamid` (and, with `typing`, types).
    /// Returns the customer, when `wamid` is one of theirs.
    pub fn read_by_business(&mut self, wamid: &str, typing_until: Option<i64>) -> Option<String> {
        let last = self
            .entries
            .iter()
            .find(|e| e.from_customer && e.wamid == wamid)?;
        let (customer, upto) = (last.customer.clone(), last.seq);
        for entry in self
            .entries
            .iter_mut()
            .filter(|e| e.from_customer && e.customer == customer && e.seq <= upto)
        {
            if entry.status != "failed" {
                entry.status = "read";
            }
        }
        if let Some(until) = typing_until {
            self.typing.insert(customer.clone(), until);
        }
        Some(customer)
    }

    /// The customer saw every business message: marks them read and returns their wamids.
    pub fn read_by_customer(&mut self, customer: &str) -> Vec<String> {
        let mut read = Vec::new();
        for entry in self.entries.iter_mut().filter(|e| {
            !e.from_customer && e.customer == customer && matches!(e.status, "sent" | "delivered")
        }) {
            entry.status = "read";
            read.push(entry.wamid.clone());
        }
        read
    }

    pub fn typing_until(&self, customer: &str) -> Option<i64> {
        self.typing.get(customer).copied()
    }

    /// Keeps a customer's image; returns its media id.
    pub fn keep_media(&mut self, mime_type: &str, bytes: Vec<u8>) -> String {
        self.next += 1;
        let id = format!("{}", 900_000_000_000 + self.next);
        self.media.push_back((
            id.clone(),
            Media {
                mime_type: mime_type.to_owned(),
                bytes: bytes.into(),
            },
        ));
        while self.media.len() > MAX_MEDIA {
            self.media.pop_front();
        }
        id
    }

    pub fn media(&self, id: &str) -> Option<&Media> {
        self.media.iter().find(|(m, _)| m == id).map(|(_, m)| m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_never_go_back_and_reads_mark_earlier_messages() {
        let mut phone = Phone::default();
        let a = phone.push(Entry::text("hi").by_customer("4915", "wamid.A", 1));
        phone.set_status(a, "delivered", None);
        phone.push(Entry::text("there").by_customer("4915", "wamid.B", 2));
        let out = phone.push(Entry::text("hello").for_customer("4915", "wamid.C", 3));
        phone.set_status(out, "read", None);
        phone.set_status(out, "delivered", None);
        assert_eq!(phone.chat("4915").last().map(|e| e.status), Some("read"));
        assert_eq!(
            phone.read_by_business("wamid.A", Some(10)),
            Some("4915".into())
        );
        let statuses: Vec<_> = phone.chat("4915").map(|e| e.status).collect();
        assert_eq!(statuses, ["read", "sending", "read"]);
        assert_eq!(phone.typing_until("4915"), Some(10));
        assert!(
            phone.read_by_business("wamid.C", None).is_none(),
            "not theirs"
        );
    }
}
