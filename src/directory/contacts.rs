//! Finding the service or user behind a contact id (its Interact settings).

use serde_json::Value;

use crate::directory::model::{InteractSettings, Service, User};
use crate::directory::store::PublicId;
use crate::store::AsPool;

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
pub async fn find(
    pool: &(impl AsPool + ?Sized),
    contact_id: &str,
) -> anyhow::Result<Option<Contact>> {
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
    pool: &(impl AsPool + ?Sized),
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
    pool: &(impl AsPool + ?Sized),
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
async fn holders(
    pool: &(impl AsPool + ?Sized),
    id: PublicId,
    value: &str,
) -> anyhow::Result<Vec<Holder>> {
    // Each uses its unique expression index (`directory_contact_id`,
    // `directory_whatsapp_number`); the index's expression (of each backend's migrations) and
    // the partial index's condition are repeated word for word.
    let on = pool.on();
    let sql = match id {
        PublicId::ContactId => on.pick(
            "SELECT tenant_id, kind, id, body FROM directory_documents
             WHERE json_extract(body, '$.interact.contactId') = $1 AND kind IN ('service', 'user')
             ORDER BY tenant_id, kind, id",
            "SELECT tenant_id, kind, id, body FROM directory_documents
             WHERE (body::jsonb #>> '{interact,contactId}') = $1 AND kind IN ('service', 'user')
             ORDER BY tenant_id, kind, id",
        ),
        PublicId::WhatsAppNumber => on.pick(
            "SELECT tenant_id, kind, id, body FROM directory_documents
             WHERE json_extract(body, '$.whatsapp.phoneNumberId') = $1 AND kind = 'service'
             ORDER BY tenant_id, kind, id",
            "SELECT tenant_id, kind, id, body FROM directory_documents
             WHERE (body::jsonb #>> '{whatsapp,phoneNumberId}') = $1 AND kind = 'service'
             ORDER BY tenant_id, kind, id",
        ),
    };
    let rows: Vec<(String, String, String, String)> = crate::db!(on, |c| {
        sqlx::query_as(sql).bind(value).fetch_all(c).await
    })?;
    let mut found = Vec::new();
    for (tenant, kind, holder_id, body) in rows {
        let body: Value = serde_json::from_str(&body)?;
        if body.pointer(id.pointer()).and_then(Value::as_str) == Some(value) {
            found.push(Holder {
                tenant,
                kind,
                id: holder_id,
                body,
            });
        }
    }
    Ok(found)
}
