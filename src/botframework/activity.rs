//! Bot Framework Activity wire types (reference §3, §4.1) and the checks that turn a parsed
//! activity into one we can act on.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::service_url::ServiceUrl;

/// The content type of an Adaptive Card attachment.
pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

/// A message carrying one Adaptive Card.
pub fn card_activity(card: Value) -> Activity {
    Activity {
        kind: "message".into(),
        attachments: Some(vec![Attachment {
            content_type: ADAPTIVE_CARD.into(),
            content: Some(card),
            content_url: None,
            name: None,
        }]),
        ..Activity::default()
    }
}

/// A Bot Framework activity. Only the fields Switchboard reads or writes are typed; the rest of
/// an inbound activity is ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_added: Option<Vec<ChannelAccount>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_removed: Option<Vec<ChannelAccount>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

impl Activity {
    /// A plain-text message activity.
    pub fn message(text: impl Into<String>) -> Self {
        Activity {
            kind: "message".into(),
            text: Some(text.into()),
            text_format: Some("plain".into()),
            ..Activity::default()
        }
    }

    /// The tenant of the activity: `channelData.tenant.id`, which Teams makes authoritative,
    /// else `conversation.tenantId`. Lower-cased.
    pub fn tenant_id(&self) -> Option<String> {
        self.channel_data
            .as_ref()
            .and_then(|d| d.pointer("/tenant/id"))
            .and_then(Value::as_str)
            .or_else(|| self.conversation.as_ref()?.tenant_id.as_deref())
            .map(str::to_ascii_lowercase)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /v3/conversations` body (swagger `ConversationParameters`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConversationParameters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<ChannelAccount>,
    #[serde(default)]
    pub members: Vec<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<Activity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
}

/// `ResourceResponse`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceResponse {
    #[serde(default)]
    pub id: Option<String>,
}

/// `ConversationResourceResponse`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConversationResourceResponse {
    pub id: String,
    #[serde(default)]
    pub activity_id: Option<String>,
    #[serde(default)]
    pub service_url: Option<String>,
}

/// Why an inbound activity cannot be processed (→ 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidActivity {
    #[error("activity is not valid JSON of the Activity schema: {0}")]
    Json(String),
    #[error("activity has no type")]
    MissingType,
    #[error("activity has no serviceUrl")]
    MissingServiceUrl,
    #[error("activity serviceUrl is invalid: {0}")]
    BadServiceUrl(#[from] super::service_url::InvalidServiceUrl),
    #[error("activity has no conversation.id")]
    MissingConversation,
}

/// An inbound activity whose required fields are present and parsed.
#[derive(Debug, Clone)]
pub struct InboundActivity {
    pub activity: Activity,
    pub service_url: ServiceUrl,
    pub conversation_id: String,
}

impl InboundActivity {
    /// Checks the fields every activity we act on must have.
    pub fn validate(activity: Activity) -> Result<Self, InvalidActivity> {
        if activity.kind.trim().is_empty() {
            return Err(InvalidActivity::MissingType);
        }
        let raw_url = activity
            .service_url
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(InvalidActivity::MissingServiceUrl)?;
        let service_url = ServiceUrl::parse(raw_url)?;
        let conversation_id = activity
            .conversation
            .as_ref()
            .map(|c| c.id.clone())
            .filter(|id| !id.is_empty())
            .ok_or(InvalidActivity::MissingConversation)?;
        Ok(InboundActivity {
            activity,
            service_url,
            conversation_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &[u8]) -> Result<InboundActivity, InvalidActivity> {
        let activity: Activity =
            serde_json::from_slice(body).map_err(|e| InvalidActivity::Json(e.to_string()))?;
        InboundActivity::validate(activity)
    }

    #[test]
    fn a_teams_message_parses_and_names_its_tenant() {
        let body =
            br#"{"type":"message","id":"1","serviceUrl":"https://smba.trafficmanager.net/amer/",
            "channelId":"msteams","from":{"id":"29:x","aadObjectId":"a"},
            "conversation":{"conversationType":"personal","tenantId":"T-CONV","id":"a:1"},
            "recipient":{"id":"28:bot"},"text":"hi","channelData":{"tenant":{"id":"T-DATA"}},
            "somethingNew":{"x":1}}"#;
        let inbound = parse(body).expect("parses");
        assert_eq!(inbound.conversation_id, "a:1");
        assert_eq!(inbound.activity.tenant_id().as_deref(), Some("t-data"));
    }

    #[test]
    fn missing_fields_are_named() {
        assert_eq!(
            parse(br#"{"type":"","serviceUrl":"x"}"#).err(),
            Some(InvalidActivity::MissingType)
        );
        assert_eq!(
            parse(br#"{"type":"message","conversation":{"id":"a"}}"#).err(),
            Some(InvalidActivity::MissingServiceUrl)
        );
        assert_eq!(
            parse(br#"{"type":"message","serviceUrl":"https://a.b/"}"#).err(),
            Some(InvalidActivity::MissingConversation)
        );
        assert!(matches!(
            parse(b"{not json").err(),
            Some(InvalidActivity::Json(_))
        ));
    }
}
