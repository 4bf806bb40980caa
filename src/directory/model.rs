//! Admin-managed data: tenants, services, users (typed, validated) with the licensing rules of
//! DESIGN.md §3.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::distribution::model::{AcwSettings, Priority};
use crate::distribution::{Agent, Presence, ServiceSettings};
use crate::workflow::{self, Channel, Workflow};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tenant {
    /// The Teams tenant GUID.
    pub id: String,
    pub name: String,
    #[serde(default = "yes")]
    pub im_enabled: bool,
    /// Internal networks (`10.20.0.0/16`) workflows' SendHttpRequest may reach; none by default.
    #[serde(default)]
    pub http_allowed_networks: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceLicenses {
    #[serde(default)]
    pub contact_center: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Modalities {
    #[serde(default)]
    pub instant_message: bool,
}

/// The seeds' Interact settings of a service (or of a user for direct chats).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InteractSettings {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub instant_message: bool,
    #[serde(default)]
    pub audio_video: bool,
    #[serde(default)]
    pub restrict_access: bool,
    /// Origins allowed when `restrict_access` is on, e.g. `https://*.example.com`.
    #[serde(default)]
    pub domain_templates: Vec<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub widget_key: Option<String>,
    /// How the widget presents this contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widget: Option<super::widget_look::WidgetLook>,
}

impl InteractSettings {
    /// Why the contact id or widget key cannot be used, with its JSON path, if so. A contact
    /// id is public and routes customers (it stands in a URL path and a site's snippet): 1 to
    /// 64 ASCII letters, digits, `-`, `_` or `.`, so a look-alike (another script's letters,
    /// invisible characters, spaces) cannot pass for another one. A widget key is 1 to 128
    /// visible ASCII characters.
    pub fn problem(&self) -> Option<(&'static str, &'static str, &'static str)> {
        if let Some(id) = &self.contact_id {
            let fits = (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                && id != "."
                && id != "..";
            if !fits {
                return Some((
                    "/interact/contactId",
                    "invalid_contact_id",
                    "contactId must be 1 to 64 ASCII letters, digits, '-', '_' or '.'",
                ));
            }
        }
        if let Some(key) = &self.widget_key
            && !((1..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Some((
                "/interact/widgetKey",
                "invalid_widget_key",
                "widgetKey must be 1 to 128 visible ASCII characters",
            ));
        }
        None
    }
}

/// The WhatsApp business number a service takes chats for (one number, one service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceWhatsApp {
    /// The Cloud API's phone number id (digits): it routes inbound webhooks and is the path
    /// of sends.
    pub phone_number_id: String,
}

impl ServiceWhatsApp {
    /// A phone number id is 1 to 32 ASCII digits.
    pub fn valid(&self) -> bool {
        (1..=32).contains(&self.phone_number_id.len())
            && self.phone_number_id.bytes().all(|b| b.is_ascii_digit())
    }
}

/// Distribution settings as admins write them (seconds), with DESIGN.md §5 defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DistributionSettings {
    pub allow_busy: bool,
    pub allow_away: bool,
    pub rona_reset_seconds: u32,
    pub persistent_rona: bool,
    pub acw_seconds: u32,
    pub acw_allow_early_end: bool,
    pub acw_extension_seconds: Option<u32>,
    pub default_priority: PriorityName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PriorityName {
    Low,
    Normal,
    High,
    Strict,
}

impl From<PriorityName> for Priority {
    fn from(p: PriorityName) -> Self {
        match p {
            PriorityName::Low => Priority::Low,
            PriorityName::Normal => Priority::Normal,
            PriorityName::High => Priority::High,
            PriorityName::Strict => Priority::Strict,
        }
    }
}

impl Default for DistributionSettings {
    fn default() -> Self {
        DistributionSettings {
            allow_busy: false,
            allow_away: false,
            rona_reset_seconds: 600,
            persistent_rona: false,
            acw_seconds: 20,
            acw_allow_early_end: true,
            acw_extension_seconds: Some(30),
            default_priority: PriorityName::Normal,
        }
    }
}

impl DistributionSettings {
    pub fn to_engine(&self) -> ServiceSettings {
        ServiceSettings {
            allow_busy: self.allow_busy,
            allow_away: self.allow_away,
            rona_reset_ms: i64::from(self.rona_reset_seconds.clamp(10, 8 * 3600)) * 1000,
            persistent_rona: self.persistent_rona,
            acw: AcwSettings {
                duration_ms: i64::from(self.acw_seconds) * 1000,
                allow_early_end: self.acw_allow_early_end,
                extension_ms: self.acw_extension_seconds.map(|s| i64::from(s) * 1000),
            },
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Calendars {
    pub primary: Option<String>,
    pub secondary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub licenses: ServiceLicenses,
    #[serde(default)]
    pub modalities: Modalities,
    #[serde(default)]
    pub interact: InteractSettings,
    /// Takes WhatsApp chats for this business number, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<ServiceWhatsApp>,
    /// Id of the IM workflow.
    #[serde(default)]
    pub workflow: Option<String>,
    #[serde(default)]
    pub distribution: DistributionSettings,
    #[serde(default)]
    pub calendars: Calendars,
    /// Entra object ids of the members.
    #[serde(default)]
    pub members: BTreeSet<String>,
    /// Entra object ids of the users who supervise the service's chats (list, monitor,
    /// whisper, barge in, take over).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub supervisors: BTreeSet<String>,
}

/// Why something cannot take part in IM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

impl Service {
    /// Distribution via service: the contact-center license, the IM modality and Interact with
    /// instant messages (DESIGN.md §3).
    pub fn can_receive_im(&self) -> Result<(), Refusal> {
        self.can_receive_im_on(Channel::Interact)
    }

    /// [`Service::can_receive_im`] for a channel: WhatsApp needs no Interact settings.
    pub fn can_receive_im_on(&self, channel: Channel) -> Result<(), Refusal> {
        let mut missing = Vec::new();
        if !self.licenses.contact_center {
            missing.push("the contact_center license");
        }
        if !self.modalities.instant_message {
            missing.push("the instant_message modality");
        }
        if channel == Channel::Interact
            && (!self.interact.enabled || !self.interact.instant_message)
        {
            missing.push("Interact with instant messages enabled");
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Refusal(format!(
                "service {} cannot receive IM tasks: it needs {}",
                self.name,
                missing.join(", ")
            )))
        }
    }

    /// Assigning a workflow with activities Interact cannot run is refused, naming them.
    /// The channels the service takes chats on: Interact always, WhatsApp with a number.
    pub fn channels(&self) -> Vec<Channel> {
        let mut channels = vec![Channel::Interact];
        if self.whatsapp.is_some() {
            channels.push(Channel::WhatsApp);
        }
        channels
    }

    /// A workflow may serve the service only if every channel it takes supports every
    /// activity; the refusal names the channel and the activities.
    pub fn check_workflow(&self, workflow: &Workflow) -> Result<(), Refusal> {
        for channel in self.channels() {
            let unsupported = workflow::unsupported_activities(workflow, channel);
            if unsupported.is_empty() {
                continue;
            }
            let names: Vec<String> = unsupported
                .into_iter()
                .map(|(id, t)| format!("{id} ({t})"))
                .collect();
            return Err(Refusal(format!(
                "workflow {} cannot be assigned to {}: unsupported for {} instant messages: {}",
                workflow.name,
                self.name,
                channel.name(),
                names.join(", ")
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserLicenses {
    #[serde(default)]
    pub im: bool,
    #[serde(default)]
    pub interact: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    /// Entra object id.
    pub id: String,
    pub upn: String,
    pub display_name: String,
    #[serde(default)]
    pub licenses: UserLicenses,
    #[serde(default = "one")]
    pub capacity: u32,
    /// Services the user is active in (of those they are a member of).
    #[serde(default)]
    pub active_in: BTreeSet<String>,
    #[serde(default = "yes")]
    pub on_duty: bool,
    /// Interact settings for direct chats to this user.
    #[serde(default)]
    pub interact: InteractSettings,
}

fn one() -> u32 {
    1
}

impl User {
    /// A user with the Interact license and IM enabled receives chats directly: no task, no
    /// queue, no workflow.
    pub fn receives_direct_chats(&self) -> bool {
        self.licenses.interact && self.interact.enabled && self.interact.instant_message
    }

    /// The distribution view of this user; `registered` and `presence` come from the bot
    /// registration and Teams.
    pub fn to_agent(
        &self,
        services: &[&Service],
        registered: bool,
        presence: Presence,
        idle_since: i64,
    ) -> Agent {
        let mut agent = Agent::new(self.id.clone(), idle_since);
        agent.registered = registered;
        agent.im_license = self.licenses.im;
        agent.presence = presence;
        agent.on_duty = self.on_duty;
        agent.capacity = self.capacity.max(1);
        agent.member_of = services
            .iter()
            .filter(|s| s.members.contains(&self.id))
            .map(|s| s.id.clone())
            .collect();
        agent.active_in = agent
            .member_of
            .iter()
            .filter(|s| self.active_in.contains(*s))
            .cloned()
            .collect();
        agent
    }
}
