//! Webhooks from the Cloud API. The signature (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app
//! secret, raw body)>`) is checked over the raw bytes before anything is parsed, in constant
//! time. A verified payload (`object: whatsapp_business_account`, `entry[].changes[]` with
//! `field: messages`) yields one [`Inbound`] per message and per status; each carries the key
//! that makes Meta's retries idempotent.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// One item of a verified webhook and what it is: the row the store keeps of it, built here.
pub use crate::store::whatsapp::{Inbound, InboundKind};

/// Why a webhook's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not `sha256=` and 64 hex digits")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

impl SignatureError {
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::Malformed | SignatureError::Mismatch => "signature_invalid",
        }
    }
}

/// A well-formed `X-Hub-Signature-256` as presented: its digest, not yet checked. Read from the
/// request head, so a webhook without a usable signature is refused before its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedSignature(Vec<u8>);

impl PresentedSignature {
    /// Reads `header`: `sha256=` and 64 hex digits.
    pub fn parse(header: Option<&str>) -> Result<Self, SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let hex_digest = header
            .trim()
            .strip_prefix("sha256=")
            .filter(|h| h.len() == 64)
            .ok_or(SignatureError::Malformed)?;
        hex::decode(hex_digest)
            .map(PresentedSignature)
            .map_err(|_| SignatureError::Malformed)
    }

    /// Checks the digest against `body` in constant time.
    pub fn verify(&self, app_secret: &[u8], body: &[u8]) -> Result<(), SignatureError> {
        // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(app_secret).map_err(|_| SignatureError::Mismatch)?;
        mac.update(body);
        mac.verify_slice(&self.0)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// Checks `header` (the value of `X-Hub-Signature-256`) against the body, in constant time.
pub fn verify_signature(
    app_secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    PresentedSignature::parse(header)?.verify(app_secret, body)
}

/// The signature header value for `body` (what Meta sends; the tests' mock signs with it).
pub fn signature(app_secret: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(app_secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

/// What a verified payload holds: its items, and how many entries were skipped as unusable
/// (no phone number id, a message or status without an id) — counted, never guessed at.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub items: Vec<Inbound>,
    pub skipped: usize,
    /// `value.errors[]` codes: Meta telling us about the webhook itself.
    pub errors: Vec<i64>,
}

/// Splits a verified payload into its items.
pub fn parse(payload: &Value) -> Parsed {
    let mut parsed = Parsed::default();
    if payload["object"] != "whatsapp_business_account" {
        return parsed;
    }
    let changes = payload["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|entry| entry["changes"].as_array().into_iter().flatten())
        .filter(|change| change["field"] == "messages");
    for change in changes {
        let value = &change["value"];
        let Some(number) = value["metadata"]["phone_number_id"]
            .as_str()
            .filter(|n| !n.is_empty())
        else {
            parsed.skipped += 1;
            continue;
        };
        let contacts = value["contacts"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for message in value["messages"].as_array().into_iter().flatten() {
            let Some(wamid) = message["id"].as_str().filter(|id| !id.is_empty()) else {
                parsed.skipped += 1;
                continue;
            };
            let contact = sender_contact(contacts, message);
            parsed.items.push(Inbound {
                dedupe_key: format!("message:{wamid}"),
                phone_number_id: number.to_owned(),
                kind: InboundKind::Message,
                wamid: wamid.to_owned(),
                item: json!({ "message": message, "contact": contact }),
            });
        }
        for status in value["statuses"].as_array().into_iter().flatten() {
            let (Some(wamid), Some(state)) = (
                status["id"].as_str().filter(|id| !id.is_empty()),
                status["status"].as_str().filter(|s| !s.is_empty()),
            ) else {
                parsed.skipped += 1;
                continue;
            };
            parsed.items.push(Inbound {
                dedupe_key: format!("status:{wamid}:{state}"),
                phone_number_id: number.to_owned(),
                kind: InboundKind::Status,
                wamid: wamid.to_owned(),
                item: status.clone(),
            });
        }
        parsed.errors.extend(
            value["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["code"].as_i64()),
        );
    }
    parsed
}

/// The `contacts[]` entry of a message's sender: by `wa_id` = `from`, or by the business-scoped
/// `user_id` = `from_user_id` (WhatsApp usernames may omit the phone number); else the only one.
fn sender_contact(contacts: &[Value], message: &Value) -> Value {
    let by = |field: &str, key: &str| {
        message[field].as_str().and_then(|id| {
            contacts
                .iter()
                .find(|c| c[key].as_str() == Some(id))
                .cloned()
        })
    };
    by("from", "wa_id")
        .or_else(|| by("from_user_id", "user_id"))
        .or_else(|| match contacts {
            [only] => Some(only.clone()),
            _ => None,
        })
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"app-secret";

    #[test]
    fn a_signature_over_the_raw_bytes_is_accepted_and_anything_else_refused() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let good = signature(SECRET, body);
        assert_eq!(verify_signature(SECRET, body, Some(&good)), Ok(()));
        // The same JSON re-serialised (a space) does not match.
        let respaced = br#"{"object": "whatsapp_business_account","entry":[]}"#;
        assert_eq!(
            verify_signature(SECRET, respaced, Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"other", body, Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(SECRET, body, None),
            Err(SignatureError::Missing)
        );
        for bad in [
            "",
            "sha256=",
            "sha1=abc",
            &good[7..],
            &format!("{good}00"),
            "sha256=zz",
        ] {
            assert_eq!(
                verify_signature(SECRET, body, Some(bad)),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn messages_and_statuses_become_items_keyed_for_retries() {
        let payload = json!({"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{
        "messaging_product":"whatsapp",
        "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
        "contacts":[{"profile":{"name":"Sheena"},"wa_id":"16505551234"},
                    {"profile":{"name":"Uma"},"user_id":"US.123"}],
        "messages":[
            {"from":"16505551234","id":"wamid.A","timestamp":"1739321024","type":"text","text":{"body":"hi"}},
            {"from_user_id":"US.123","id":"wamid.B","timestamp":"1739321025","type":"text","text":{"body":"yo"}},
            {"from":"1","timestamp":"1","type":"text"}
        ],
        "statuses":[
            {"id":"wamid.OUT","status":"read","timestamp":"1698266945","recipient_id":"16505551234"},
            {"id":"wamid.OUT","status":"delivered","timestamp":"1698266944","recipient_id":"16505551234"}
        ]}}]}]});
        let parsed = parse(&payload);
        let keys: Vec<&str> = parsed.items.iter().map(|i| i.dedupe_key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "message:wamid.A",
                "message:wamid.B",
                "status:wamid.OUT:read",
                "status:wamid.OUT:delivered"
            ]
        );
        assert_eq!(parsed.skipped, 1, "the message without an id");
        assert!(
            parsed
                .items
                .iter()
                .all(|i| i.phone_number_id == "106540352242922")
        );
        assert_eq!(parsed.items[0].item["contact"]["profile"]["name"], "Sheena");
        assert_eq!(parsed.items[1].item["contact"]["profile"]["name"], "Uma");
        assert_eq!(parsed.items[2].kind, InboundKind::Status);
    }

    #[test]
    fn other_objects_fields_and_numberless_changes_yield_nothing() {
        assert_eq!(
            parse(&json!({"object":"page","entry":[]})),
            Parsed::default()
        );
        let other_field = json!({"object":"whatsapp_business_account","entry":[{"changes":[
            {"field":"message_template_status_update","value":{"event":"APPROVED"}}]}]});
        assert_eq!(parse(&other_field), Parsed::default());
        let no_number = json!({"object":"whatsapp_business_account","entry":[{"changes":[
            {"field":"messages","value":{"messages":[{"id":"wamid.X"}]}}]}]});
        assert_eq!(parse(&no_number).skipped, 1);
        assert!(parse(&no_number).items.is_empty());
        let errors = json!({"object":"whatsapp_business_account","entry":[{"changes":[
            {"field":"messages","value":{"metadata":{"phone_number_id":"1"},"errors":[{"code":131051}]}}]}]});
        assert_eq!(parse(&errors).errors, [131051]);
    }
}
