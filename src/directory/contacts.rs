//! Finding the service or user behind a contact id (its Interact settings).

use serde_json::Value;
use sqlx::Row;

use crate::directory::model::{InteractSettings, Service, User};
use crate::store::Pool;

/// Who a contact id reaches.
#[derive(Debug, Clone)]
pub enum Target {
    Service(Box<Service>),
    User(Box<User>),
}

#[derive(Debug, Clone)]
pub struct Contact {
    pub tenant: String,
    pub target: Target,
}

impl Contact {
    pub fn interact(&self) -> &InteractSettings {
        match &self.target {
            Target::Service(s) => &s.interact,
            Target::User(u) => &u.interact,
        }
    }

    /// Whether the contact takes chats at all (its licences and settings), or why not.
    pub fn takes_chats(&self) -> Result<(), String> {
        match &self.target {
            Target::Service(s) => s.can_receive_im().map_err(|r| r.0),
            Target::User(u) => u
                .receives_direct_chats()
                .then_some(())
                .ok_or_else(|| "this person does not take chats".to_owned()),
        }
    }
}

/// The service or user whose Interact settings carry `contact_id`.
pub async fn find(pool: &Pool, contact_id: &str) -> anyhow::Result<Option<Contact>> {
    // Uses the expression index `directory_contact_id`.
    let rows = sqlx::query(
        "SELECT tenant_id, kind, body FROM directory_documents
         WHERE json_extract(body, '$.interact.contactId') = $1 AND kind IN ('service', 'user')
         ORDER BY tenant_id, kind, id",
    )
    .bind(contact_id)
    .fetch_all(pool)
    .await?;
    for row in rows {
        let body: Value = serde_json::from_str(&row.try_get::<String, _>("body")?)?;
        if body.pointer("/interact/contactId").and_then(Value::as_str) != Some(contact_id) {
            continue;
        }
        let tenant: String = row.try_get("tenant_id")?;
        let target = match row.try_get::<String, _>("kind")?.as_str() {
            "service" => Target::Service(Box::new(serde_json::from_value(body)?)),
            _ => Target::User(Box::new(serde_json::from_value(body)?)),
        };
        return Ok(Some(Contact { tenant, target }));
    }
    Ok(None)
}

/// Who already takes WhatsApp chats for `phone_number_id`, other than the services of
/// `tenant` that `ours` accepts (the service being stored, or ones being replaced with it), in a
/// refusal's words: `service "sales" (Sales)`, or `a service of another tenant` — another
/// tenant's service is never named. `None` when the number is free.
pub async fn whatsapp_number_taken(
    pool: &Pool,
    tenant: &str,
    phone_number_id: &str,
    ours: impl Fn(&str) -> bool,
) -> anyhow::Result<Option<String>> {
    for (owner_tenant, owner, body) in services_with_number(pool, phone_number_id).await? {
        if owner_tenant != tenant {
            return Ok(Some("a service of another tenant".to_owned()));
        }
        if !ours(&owner) {
            let name = body["name"].as_str().unwrap_or_default();
            return Ok(Some(format!("service {owner:?} ({name})")));
        }
    }
    Ok(None)
}

/// The service that takes WhatsApp chats for `phone_number_id`, with its tenant.
pub async fn whatsapp_service(
    pool: &Pool,
    phone_number_id: &str,
) -> anyhow::Result<Option<(String, Service)>> {
    match services_with_number(pool, phone_number_id)
        .await?
        .into_iter()
        .next()
    {
        Some((tenant, _, body)) => Ok(Some((tenant, serde_json::from_value(body)?))),
        None => Ok(None),
    }
}

/// `(tenant, service id, document)` of every service whose document gives `phone_number_id`,
/// by tenant and id.
async fn services_with_number(
    pool: &Pool,
    phone_number_id: &str,
) -> anyhow::Result<Vec<(String, String, Value)>> {
    // Uses the expression index `directory_whatsapp_number`.
    let rows = sqlx::query(
        "SELECT tenant_id, id, body FROM directory_documents
         WHERE kind = 'service' AND json_extract(body, '$.whatsapp.phoneNumberId') = $1
         ORDER BY tenant_id, id",
    )
    .bind(phone_number_id)
    .fetch_all(pool)
    .await?;
    let mut found = Vec::new();
    for row in rows {
        let body: Value = serde_json::from_str(&row.try_get::<String, _>("body")?)?;
        if body
            .pointer("/whatsapp/phoneNumberId")
            .and_then(Value::as_str)
            == Some(phone_number_id)
        {
            found.push((row.try_get("tenant_id")?, row.try_get("id")?, body));
        }
    }
    Ok(found)
}
