//! The data each card is rendered with, as types. Text that people typed (customer names,
//! emails, messages, parameter values, agent names) is [`UserText`]: it is markdown-escaped
//! when serialised, so it shows exactly as typed and can never become a link, a mention or
//! emphasis. Data is never template: `${…}` in it is shown literally.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::catalog::{CardCatalog, RenderError};
use super::markdown;

/// Text typed by a person, shown literally in a card.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct UserText(String);

impl UserText {
    pub fn new(text: impl Into<String>) -> Self {
        UserText(text.into())
    }
}

impl Serialize for UserText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&markdown::escape(&self.0))
    }
}

/// Data of one card; `NAME` is its template in the catalog.
pub trait CardData: Serialize {
    const NAME: &'static str;
}

impl CardCatalog {
    /// Renders the card that `data` is for.
    pub fn render_data<T: CardData>(&self, data: &T) -> Result<Value, RenderError> {
        self.render_data_in(data, None)
    }

    /// [`CardCatalog::render_data`], kept for the next call with the same data, for cards sent
    /// often such as the bot's help. A template that may read the time (`utcNow`, in a card
    /// an operator replaced too) is rendered anew every time.
    pub fn render_data_memo<T: CardData>(&self, data: &T) -> Result<Value, RenderError> {
        if self.get(T::NAME).is_none_or(|card| card.reads_clock) {
            return self.render_data(data);
        }
        let json = serde_json::to_string(data)
            .map_err(|e| RenderError::UnknownCard(format!("{}: {e}", T::NAME)))?;
        let key = (T::NAME, json);
        if let Some(card) = self.memo.get(&key) {
            return Ok(card);
        }
        let card = self.render_data(data)?;
        self.memo.insert(key, card.clone());
        Ok(card)
    }

    /// [`CardCatalog::render_data`] for a reader in `locale` (the agent's Teams locale).
    pub fn render_data_in<T: CardData>(
        &self,
        data: &T,
        locale: Option<&str>,
    ) -> Result<Value, RenderError> {
        let value = serde_json::to_value(data)
            .map_err(|e| RenderError::UnknownCard(format!("{}: {e}", T::NAME)))?;
        self.render_in(T::NAME, &value, locale)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Id {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Customer {
    pub display_name: UserText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<UserText>,
}

/// A workflow parameter chosen for the invitation (name from the workflow, value typed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    pub name: String,
    pub value: UserText,
}

macro_rules! card_data {
    ($(#[$doc:meta])* $name:ident = $card:literal { $($(#[$field_meta:meta])* pub $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name { $($(#[$field_meta])* pub $field: $ty),* }

        impl CardData for $name {
            const NAME: &'static str = $card;
        }
    };
}

card_data!(
    /// An incoming IM task offered to an agent.
    Invitation = "im-invitation" {
        pub invitation: Id,
        pub service: Service,
        pub customer: Customer,
        pub wait_seconds: u64,
        pub parameters: Vec<Parameter>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub first_message: Option<UserText>,
        /// A colleague transfers a connected chat: who, why, and the last lines so far.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub transfer: Option<TransferInfo>,
    }
);

/// A transfer on its invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferInfo {
    /// The transferring agent's display name.
    pub from: UserText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<UserText>,
    /// The conversation's last lines, oldest first.
    pub recent: Vec<ChatLine>,
}

/// One line of a conversation shown on a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatLine {
    pub who: UserText,
    pub text: UserText,
}

card_data!(
    /// The invitation after this agent accepted it.
    InvitationAccepted = "im-invitation-accepted" {
        pub invitation: Id,
        pub service: Service,
        pub customer: Customer,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub chat_url: Option<String>,
    }
);

card_data!(
    /// The invitation after this agent declined it.
    InvitationDeclined = "im-invitation-declined" {
        pub invitation: Id,
        pub service: Service,
        pub customer: Customer,
    }
);

card_data!(
    /// The invitation after it rang out (RONA).
    InvitationMissed = "im-invitation-missed" {
        pub invitation: Id,
        pub service: Service,
        pub customer: Customer,
        pub ring_seconds: u64,
    }
);

card_data!(
    /// The invitation after another agent accepted it.
    InvitationTaken = "im-invitation-taken" {
        pub invitation: Id,
        pub service: Service,
        pub customer: Customer,
        pub accepted_by: UserText,
    }
);

/// Why an invitation was withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WithdrawReason {
    CustomerLeft,
    Cancelled,
}

card_data!(
    /// The invitation after the customer left or the task was cancelled.
    InvitationWithdrawn = "im-invitation-withdrawn" {
        pub invitation: Id,
        pub service: Service,
        pub customer: Customer,
        pub reason: WithdrawReason,
    }
);

card_data!(
    /// Posted into the chatroom when the chat starts.
    SessionStarted = "im-session-started" {
        pub session: Id,
        pub service: Service,
        pub customer: Customer,
        pub parameters: Vec<Parameter>,
        /// A WhatsApp chat: when its 24-hour window closes (as the chat starts).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub whatsapp: Option<WhatsAppWindow>,
    }
);

/// The 24-hour window of a WhatsApp chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WhatsAppWindow {
    /// RFC 3339, UTC.
    pub window_ends_at: String,
}

card_data!(
    /// Offered in the chat when a WhatsApp customer's 24-hour window has closed: the tenant's
    /// approved templates, one to send with its values.
    WhatsAppTemplates = "im-whatsapp-templates" {
        pub session: Id,
        pub customer: Customer,
        pub templates: Vec<TemplateChoice>,
    }
);

/// A template in the choice list: its name, language and body as the title, `name|language`
/// as the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateChoice {
    pub title: String,
    pub value: String,
}

/// Who ended a chat. The engine's sessions end with it (`engine::messages` re-exports it) and
/// the card shows it as the engine says it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndedBy {
    Customer,
    #[default]
    Agent,
    System,
}

card_data!(
    /// Posted into the chatroom when the chat ends.
    SessionEnded = "im-session-ended" {
        pub session: Id,
        pub service: Service,
        pub customer: Customer,
        pub duration_seconds: u64,
        pub ended_by: EndedBy,
    }
);

/// After-contact work timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Acw {
    pub seconds: u64,
    /// ISO 8601 with milliseconds, UTC.
    pub ends_at: String,
    pub can_extend: bool,
    pub extend_seconds: u64,
}

card_data!(
    /// After-contact work with Done and (when the service allows) Extend.
    AfterContactWork = "im-acw" {
        pub session: Id,
        pub service: Service,
        pub acw: Acw,
    }
);

card_data!(
    /// Sent when a user registers with the bot.
    RegistrationWelcome = "registration-welcome" {
        pub preferences_url: String,
    }
);

card_data!(
    /// The answer to the `status`, `available`, `away` and `back` commands.
    AgentStatus = "agent-status" {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub notice: Option<String>,
        /// `available` or `away`.
        pub presence: String,
        /// `free`, `ringing`, `inChat`, `rona` or `acw`.
        pub state: String,
        pub sessions: u64,
        pub capacity: u64,
        pub on_duty: bool,
        pub services: Vec<String>,
    }
);

card_data!(
    /// The answer to `help` and to anything the bot does not understand.
    BotHelp = "bot-help" {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub notice: Option<String>,
        pub preferences_url: String,
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memoised_card_is_the_card_rendered_and_its_template_does_not_read_the_clock() {
        let catalog = CardCatalog::load(None).expect("catalog");
        let card = catalog.get(BotHelp::NAME).expect("bot-help");
        assert!(!card.reads_clock, "the built-in help is kept");
        let help = |notice: Option<&str>| BotHelp {
            notice: notice.map(str::to_owned),
            preferences_url: "https://sb.example/preferences".into(),
        };
        for notice in [None, Some("Sorry"), None, Some("Sorry")] {
            assert_eq!(
                catalog.render_data_memo(&help(notice)).expect("memo"),
                catalog.render_data(&help(notice)).expect("render")
            );
        }
        assert_ne!(
            catalog.render_data_memo(&help(None)).expect("memo"),
            catalog
                .render_data_memo(&help(Some("Sorry")))
                .expect("memo")
        );
    }

    #[test]
    fn a_template_that_may_read_the_time_is_not_kept() {
        let source = r#"{"type": "AdaptiveCard", "version": "1.5",
            "body": [{"type": "TextBlock", "text": "${utcNow()}"}]}"#;
        let card = crate::cards::catalog::load_card(
            "clock",
            source,
            crate::cards::catalog::Origin::BuiltIn,
            serde_json::json!({}),
        )
        .expect("card");
        assert!(card.reads_clock);
    }
}
