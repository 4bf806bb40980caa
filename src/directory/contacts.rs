//! Finding the service or user behind a contact id (its Interact settings).

use serde_json::Value;
use sqlx::Row;

use crate::directory::model::{InteractSettings, Service, User};
use crate::directory::store::PublicId;
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

/// The service or user whose Interact settings carry `contact_id` (one at most: the database
/// keeps contact ids unique across every tenant and kind).
pub async fn find(pool: &Pool, contact_id: &str) -> anyhow::Result<Option<Contact>> {
    let Some(holder) = holders(pool, PublicId::ContactId, contact_id)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let target = match holder.kind.as_str() {
        "service" => Target::Service(Box::new(serde_json::from_value(holder.body)?)),
        _ => Target::User(Box::new(serde_json::from_value(holder.body)?)),
    };
    Ok(Some(Contact {
        tenant: holder.tenant,
        target,
    }))
}

/// Who already holds the public identifier `value` (a contact id, a WhatsApp number), other
/// than the documents of `tenant` that `ours(kind, id)` accepts (the document being stored, or
/// ones being replaced with it), in a refusal's words: `service "sales" (Sales)`, `user "u1"`,
/// or `a document of another tenant` — another tenant's documents are never named. `None`
/// when it is free.
pub async fn taken(
    pool: &Pool,
    tenant: &str,
    id: PublicId,
    value: &str,
    ours: impl Fn(&str, &str) -> bool,
) -> anyhow::Result<Option<String>> {
    for holder in holders(pool, id, value).await? {
        if holder.tenant != tenant {
            return Ok(Some("a document of another tenant".to_owned()));
        }
        if !ours(&holder.kind, &holder.id) {
            let owner = &holder.id;
            return Ok(Some(match holder.body["name"].as_str() {
                Some(name) => format!("{} {owner:?} ({name})", holder.kind),
                None => format!("{} {owner:?}", holder.kind),
            }));
        }
    }
    Ok(None)
}

/// The service that takes WhatsApp chats for `phone_number_id`, with its tenant.
pub async fn whatsapp_service(
    pool: &Pool,
    phone_number_id: &str,
) -> anyhow::Result<Option<(String, Service)>> {
    match holders(pool, PublicId::WhatsAppNumber, phone_number_id)
        .await?
        .into_iter()
        .next()
    {
        Some(holder) => Ok(Some((holder.tenant, serde_json::from_value(holder.body)?))),
        None => Ok(None),
    }
}

/// A document that holds a public identifier.
struct Holder {
    tenant: String,
    kind: String,
    id: String,
    body: Value,
}

/// Every document whose body gives `value` as the public identifier `id`, by tenant, kind and
/// id (one at most once the unique indexes hold).
async fn holders(pool: &Pool, id: PublicId, value: &str) -> anyhow::Result<Vec<Holder>> {
    // Each uses its unique expression index (`directory_contact_id`,
    // `directory_whatsapp_number`); the partial index's condition is repeated word for word.
    let sql = match id {
        PublicId::ContactId => {
            "SELECT tenant_id, kind, id, body FROM directory_documents
             WHERE json_extract(body, '$.interact.contactId') = $1 AND kind IN ('service', 'user')
             ORDER BY tenant_id, kind, id"
        }
        PublicId::WhatsAppNumber => {
            "SELECT tenant_id, kind, id, body FROM directory_documents
             WHERE json_extract(body, '$.whatsapp.phoneNumberId') = $1 AND kind = 'service'
             ORDER BY tenant_id, kind, id"
        }
    };
    let rows = sqlx::query(sql).bind(value).fetch_all(pool).await?;
    let mut found = Vec::new();
    for row in rows {
        let body: Value = serde_json::from_str(&row.try_get::<String, _>("body")?)?;
        if body.pointer(id.pointer()).and_then(Value::as_str) == Some(value) {
            found.push(Holder {
                tenant: row.try_get("tenant_id")?,
                kind: row.try_get("kind")?,
                id: row.try_get("id")?,
                body,
            });
        }
    }
    Ok(found)
}
