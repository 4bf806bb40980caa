//! What a stored inbound message ([`super::webhook::Inbound`] of kind message: the message and
//! its sender's `contacts[]` entry) says: who wrote (their identity and how to answer them),
//! under which name, and what, in words the agent reads. Every type has words: media, stickers,
//! locations, shared contacts and reactions are described, never dropped.

use serde_json::Value;

use crate::hidden_format::{has_hidden_format, is_hidden_format};

/// How a customer is addressed in a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// What identifies the customer on one business number: the business-scoped `user_id` when
    /// WhatsApp gave one, else the `wa_id` (phone number).
    pub key: String,
    /// `to` (a phone number) or `recipient` (a business-scoped user id: a user id in `to` is
    /// accepted and silently dropped by the Cloud API).
    pub field: &'static str,
    /// The value of `field`.
    pub address: String,
}

/// A customer's message, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerMessage {
    pub identity: Identity,
    /// `contacts[].profile.name` (without hidden formatting), or "WhatsApp customer" (at most
    /// 100 characters).
    pub display_name: String,
    /// The text, or the words describing what was sent.
    pub text: String,
    /// When the customer sent it (ms), from `timestamp`.
    pub sent_at: Option<i64>,
    /// A media message's media id (fetched with the tenant's token).
    pub media: Option<Media>,
}

/// The media of an image, document, audio or video message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub id: MediaId,
    pub kind: String,
    pub mime_type: Option<String>,
    /// The document's name, made safe to show (without hidden formatting).
    pub filename: Option<String>,
}

/// A Cloud API media id, as Switchboard puts it in a request path (`GET /{media-id}`): 1 to
/// [`MediaId::MAX_CHARS`] ASCII letters, digits, `-` or `_`. Meta's ids are digits; anything
/// that could leave its path segment (`/`, `.`, `?`, `%`…) is refused, so a webhook cannot make
/// Switchboard call another Graph endpoint with the tenant's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaId(String);

impl MediaId {
    /// The longest id taken (Meta's are about 16 digits).
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Option<MediaId> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| MediaId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The longest file name kept (the rule of Interact uploads).
const MAX_FILE_NAME_CHARS: usize = 200;

/// `raw` without control characters and, when it has any invisible or bidirectional formatting
/// character (`invoice\u{2066}exe.pdf` would show as something else), without every such
/// character: the rule of display names and Interact file names, which refuse them, applied
/// where a signed webhook cannot be refused for it. Trimmed.
fn shown(raw: &str) -> String {
    let hidden = has_hidden_format(raw);
    let text: String = raw
        .chars()
        .filter(|&c| !(c.is_control() || (hidden && is_hidden_format(c))))
        .collect();
    text.trim().to_owned()
}

/// A document's name as the agent reads it and downloads it: its last path segment,
/// [`shown`], at most [`MAX_FILE_NAME_CHARS`] characters; `None` when nothing is left.
fn file_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = shown(last).chars().take(MAX_FILE_NAME_CHARS).collect();
    let name = name.trim_end();
    (!name.is_empty()).then(|| name.to_owned())
}

/// The longest text taken from a message (WhatsApp's own limit for a text body is 4,096).
const MAX_TEXT_CHARS: usize = 4096;

/// Reads a stored message item (`{"message": …, "contact": …}`); `None` when it names no
/// sender.
pub fn read(item: &Value) -> Option<CustomerMessage> {
    let message = &item["message"];
    let contact = &item["contact"];
    let text_of = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let wa_id = text_of(&contact["wa_id"]).or_else(|| text_of(&message["from"]));
    let user_id = text_of(&contact["user_id"]).or_else(|| text_of(&message["from_user_id"]));
    let identity = match (user_id, wa_id) {
        (Some(user), Some(phone)) => Identity {
            key: user,
            field: "to",
            address: phone,
        },
        (None, Some(phone)) => Identity {
            key: phone.clone(),
            field: "to",
            address: phone,
        },
        (Some(user), None) => Identity {
            key: user.clone(),
            field: "recipient",
            address: user,
        },
        (None, None) => return None,
    };
    let display_name = contact["profile"]["name"]
        .as_str()
        .map(shown)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "WhatsApp customer".to_owned())
        .chars()
        .take(100)
        .collect();
    let sent_at = message["timestamp"]
        .as_str()
        .and_then(|t| t.parse::<i64>().ok())
        .map(|s| s.saturating_mul(1000));
    let (text, media) = words(message);
    Some(CustomerMessage {
        identity,
        display_name,
        text: text.chars().take(MAX_TEXT_CHARS).collect(),
        sent_at,
        media,
    })
}

/// The words of a message, and its media.
fn words(message: &Value) -> (String, Option<Media>) {
    let kind = message["type"].as_str().unwrap_or("unknown");
    let field = |path: &str| {
        message
            .pointer(path)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let text = match kind {
        "text" => field("/text/body")
            .unwrap_or("(an empty message)")
            .to_owned(),
        "image" | "document" | "audio" | "video" => {
            let raw_id = field(&format!("/{kind}/id"));
            let id = raw_id.and_then(MediaId::parse);
            if raw_id.is_some() && id.is_none() {
                // Signed by Meta, yet not an id: nothing is fetched for it.
                tracing::warn!(
                    media.kind = kind,
                    "WhatsApp media with an invalid id ignored"
                );
            }
            let mime_type = field(&format!("/{kind}/mime_type")).map(str::to_owned);
            let filename = field(&format!("/{kind}/filename")).and_then(file_name);
            let what = match kind {
                "image" => "an image",
                "document" => "a document",
                "audio" => "an audio message",
                _ => "a video",
            };
            let mut text = format!("[The customer sent {what}");
            if let Some(name) = &filename {
                text.push_str(&format!(" ({name})"));
            }
            if raw_id.is_some() && id.is_none() {
                text.push_str(", which cannot be fetched");
            }
            text.push(']');
            if let Some(caption) = field(&format!("/{kind}/caption")) {
                text.push_str(&format!(" {caption}"));
            }
            let media = id.map(|id| Media {
                id,
                kind: kind.to_owned(),
                mime_type,
                filename,
            });
            return (text, media);
        }
        "sticker" => "[The customer sent a sticker]".to_owned(),
        "location" => {
            let place = [field("/location/name"), field("/location/address")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let at = match (
                message
                    .pointer("/location/latitude")
                    .and_then(Value::as_f64),
                message
                    .pointer("/location/longitude")
                    .and_then(Value::as_f64),
            ) {
                (Some(lat), Some(lon)) => format!(" https://maps.google.com/?q={lat},{lon}"),
                _ => String::new(),
            };
            if place.is_empty() {
                format!("[The customer shared a location]{at}")
            } else {
                format!("[The customer shared a location: {place}]{at}")
            }
        }
        "contacts" => {
            let names: Vec<&str> = message["contacts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.pointer("/name/formatted_name").and_then(Value::as_str))
                .collect();
            if names.is_empty() {
                "[The customer shared a contact card]".to_owned()
            } else {
                format!("[The customer shared a contact card: {}]", names.join(", "))
            }
        }
        "reaction" => match field("/reaction/emoji") {
            Some(emoji) => format!("[The customer reacted {emoji} to a message]"),
            None => "[The customer removed a reaction]".to_owned(),
        },
        "interactive" => field("/interactive/button_reply/title")
            .or_else(|| field("/interactive/list_reply/title"))
            .unwrap_or("[The customer answered a form]")
            .to_owned(),
        "button" => field("/button/text")
            .unwrap_or("[The customer pressed a button]")
            .to_owned(),
        "system" => format!(
            "[WhatsApp: {}]",
            field("/system/body").unwrap_or("the customer's account changed")
        ),
        other => {
            format!("[The customer sent a message of a kind Switchboard cannot show: {other}]")
        }
    };
    (text, None)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn item(message: Value, contact: Value) -> Value {
        json!({"message": message, "contact": contact})
    }

    #[test]
    fn the_sender_is_the_user_id_when_given_and_answered_by_phone_when_known() {
        let phone = read(&item(
            json!({"from":"16505551234","id":"w","timestamp":"1739321024","type":"text","text":{"body":"hi"}}),
            json!({"profile":{"name":"Sheena"},"wa_id":"16505551234"}),
        ))
        .expect("a sender");
        assert_eq!(phone.identity.key, "16505551234");
        assert_eq!(phone.identity.field, "to");
        assert_eq!(phone.display_name, "Sheena");
        assert_eq!(phone.text, "hi");
        assert_eq!(phone.sent_at, Some(1_739_321_024_000));

        let user_only = read(&item(
            json!({"from_user_id":"US.1","id":"w","type":"text","text":{"body":"yo"}}),
            json!({"profile":{"name":"  "},"user_id":"US.1"}),
        ))
        .expect("a sender");
        assert_eq!(
            user_only.identity,
            Identity {
                key: "US.1".into(),
                field: "recipient",
                address: "US.1".into()
            }
        );
        assert_eq!(user_only.display_name, "WhatsApp customer");

        let both = read(&item(
            json!({"from":"1555","id":"w","type":"text","text":{"body":"x"}}),
            json!({"wa_id":"1555","user_id":"US.2"}),
        ))
        .expect("a sender");
        assert_eq!(
            (both.identity.key.as_str(), both.identity.field),
            ("US.2", "to")
        );
        assert_eq!(
            read(&item(json!({"id":"w","type":"text"}), Value::Null)),
            None
        );
    }

    #[test]
    fn file_and_profile_names_lose_invisible_bidi_and_control_characters() {
        for (raw, shown) in [
            ("invoice\u{2066}exe.pdf", Some("invoiceexe.pdf")),
            ("invoice\u{202e}fdp.exe", Some("invoicefdp.exe")),
            ("inv\u{200b}oice.pdf", Some("invoice.pdf")),
            ("\u{feff}invoice.pdf", Some("invoice.pdf")),
            ("line\nbreak.pdf", Some("linebreak.pdf")),
            ("../../etc/passwd", Some("passwd")),
            ("C:\\x\\scan.pdf", Some("scan.pdf")),
            ("\u{2066}\u{2069}", None),
            // Scripts that need a joiner keep it.
            ("می\u{200c}خواهم.pdf", Some("می\u{200c}خواهم.pdf")),
        ] {
            assert_eq!(file_name(raw).as_deref(), shown, "{raw:?}");
        }
        assert_eq!(
            file_name(&"a".repeat(300)).map(|n| n.chars().count()),
            Some(MAX_FILE_NAME_CHARS)
        );
        let doc = read(&item(
            json!({"from":"1","type":"document","document":{"id":"M","filename":"a\u{2067}b.pdf"}}),
            json!({"profile":{"name":"Shee\u{202e}na\u{2066}"}}),
        ))
        .expect("a sender");
        assert_eq!(doc.text, "[The customer sent a document (ab.pdf)]");
        assert_eq!(
            doc.media.and_then(|m| m.filename).as_deref(),
            Some("ab.pdf")
        );
        assert_eq!(doc.display_name, "Sheena");
    }

    #[test]
    fn a_media_id_is_one_path_segment_of_plain_characters() {
        for ok in ["1037543291543636", "M-IMAGE", "a_b"] {
            assert_eq!(
                MediaId::parse(ok).map(|m| m.as_str().to_owned()),
                Some(ok.to_owned())
            );
        }
        for bad in [
            "",
            "../../../../me/accounts?x=",
            "1/2",
            "1.2",
            "%2e%2e",
            "1?x",
            "1#x",
            "1 2",
            "١٢",
            &"1".repeat(MediaId::MAX_CHARS + 1),
        ] {
            assert_eq!(MediaId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_kind_of_message_has_words() {
        let said = |message: Value| {
            let mut message = message;
            message["from"] = json!("1");
            read(&item(message, Value::Null)).expect("a sender")
        };
        let image = said(
            json!({"type":"image","image":{"id":"M1","mime_type":"image/jpeg","caption":"my receipt"}}),
        );
        assert_eq!(image.text, "[The customer sent an image] my receipt");
        assert_eq!(image.media.as_ref().map(|m| m.id.as_str()), Some("M1"));
        let forged = said(json!({"type":"image","image":{"id":"../../me/accounts?x="}}));
        assert_eq!(forged.media, None);
        assert_eq!(
            forged.text,
            "[The customer sent an image, which cannot be fetched]"
        );
        let doc =
            said(json!({"type":"document","document":{"id":"M2","filename":"Rechnung März.pdf"}}));
        assert_eq!(
            doc.text,
            "[The customer sent a document (Rechnung März.pdf)]"
        );
        assert_eq!(
            said(json!({"type":"sticker","sticker":{"id":"S"}})).text,
            "[The customer sent a sticker]"
        );
        assert_eq!(
            said(json!({"type":"location","location":{"latitude":47.5,"longitude":8.25,"name":"Office"}})).text,
            "[The customer shared a location: Office] https://maps.google.com/?q=47.5,8.25"
        );
        assert_eq!(
            said(json!({"type":"contacts","contacts":[{"name":{"formatted_name":"Ann Lee"}}]}))
                .text,
            "[The customer shared a contact card: Ann Lee]"
        );
        assert_eq!(
            said(json!({"type":"reaction","reaction":{"message_id":"w","emoji":"👍"}})).text,
            "[The customer reacted 👍 to a message]"
        );
        assert_eq!(
            said(json!({"type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"b","title":"Yes"}}})).text,
            "Yes"
        );
        assert_eq!(
            said(json!({"type":"unsupported"})).text,
            "[The customer sent a message of a kind Switchboard cannot show: unsupported]"
        );
    }
}
