//! A whole tenant as one JSON document (config as code): `switchboard export` writes it,
//! `switchboard import` (or `PUT …/import`) applies it. Every document is checked as the admin
//! API checks it, all problems are reported with their path in the file, and nothing is
//! written unless everything is valid. Applying the same file twice changes nothing the second
//! time (unchanged documents keep their version).
//!
//! ```json
//! { "switchboardTenant": 1, "tenant": {"id": "…", "name": "…", "imEnabled": true},
//!   "calendars": [], "workflows": [], "users": [], "services": [],
//!   "webhooks": [{"id": "crm", "url": "https://…", "secret": "…"}] }
//! ```
//!
//! Webhook secrets are write-only: an export lists endpoints by id and URL, and importing it
//! keeps the stored secret of every endpoint it names; a new endpoint needs its `secret`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::directory::document::{DocKind, check};
use crate::directory::model::Tenant;
use crate::directory::store::{self as docs, Kind, PublicId, StoreError};
use crate::store::Pool;

/// The format version this build reads and writes.
pub const FORMAT: u32 = 1;

/// The order documents are written in: what others refer to first.
const ORDER: [(DocKind, &str); 5] = [
    (DocKind::Calendar, "calendars"),
    (DocKind::Workflow, "workflows"),
    (DocKind::User, "users"),
    (DocKind::Service, "services"),
    (DocKind::CannedAnswer, "cannedAnswers"),
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bundle {
    pub switchboard_tenant: u32,
    pub tenant: Tenant,
    #[serde(default)]
    pub calendars: Vec<Value>,
    #[serde(default)]
    pub workflows: Vec<Value>,
    #[serde(default)]
    pub users: Vec<Value>,
    #[serde(default)]
    pub services: Vec<Value>,
    #[serde(default)]
    pub canned_answers: Vec<Value>,
    /// Webhook endpoints (`{id, url, secret}`); absent: left as they are (deleted with prune).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Vec<Value>>,
}

impl Bundle {
    fn docs(&self, kind: DocKind) -> &[Value] {
        match kind {
            DocKind::Calendar => &self.calendars,
            DocKind::Workflow => &self.workflows,
            DocKind::User => &self.users,
            DocKind::Service => &self.services,
            DocKind::CannedAnswer => &self.canned_answers,
        }
    }

    /// Parses a file's text, naming the JSON path of a shape error; a key given twice in one
    /// object is refused (`duplicate_key`), never silently the last one kept.
    pub fn parse(text: &str) -> Result<Bundle, ImportError> {
        let value: Value = crate::strict_json::from_str(text).map_err(|e| {
            ImportError::Invalid(vec![
                json!({"path": e.path(), "code": e.code(), "message": e.to_string()}),
            ])
        })?;
        if value.get("switchboardTenant").and_then(Value::as_u64) != Some(u64::from(FORMAT)) {
            return Err(ImportError::Invalid(vec![json!({
                "path": "/switchboardTenant", "code": "unsupported_format",
                "message": format!("this build reads tenant files of format {FORMAT} (\"switchboardTenant\": {FORMAT})"),
            })]));
        }
        serde_json::from_value(value).map_err(|e| {
            ImportError::Invalid(vec![
                json!({"path": "", "code": "invalid_shape", "message": e.to_string()}),
            ])
        })
    }
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file has {} problem(s)", .0.len())]
    Invalid(Vec<Value>),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    pub tenant: String,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deleted: usize,
    /// Documents written or deleted, as `kind/id`, in the order they were.
    pub changes: Vec<String>,
}

/// The tenant as a bundle (documents ordered by id).
pub async fn export(pool: &Pool, tenant: &str) -> Result<Bundle, StoreError> {
    let settings = docs::get::<Tenant>(pool, tenant, Kind::Tenant, tenant)
        .await?
        .map_or_else(
            || Tenant {
                id: tenant.to_owned(),
                name: String::new(),
                im_enabled: true,
                http_allowed_networks: Vec::new(),
            },
            |t| t.value,
        );
    let mut bundle = Bundle {
        switchboard_tenant: FORMAT,
        tenant: settings,
        calendars: Vec::new(),
        workflows: Vec::new(),
        users: Vec::new(),
        services: Vec::new(),
        canned_answers: Vec::new(),
        webhooks: None,
    };
    let mut conn = pool.acquire().await?;
    let hooks = crate::webhooks::endpoints::list(&mut conn, tenant).await?;
    drop(conn);
    if !hooks.is_empty() {
        bundle.webhooks = Some(
            hooks
                .into_iter()
                .map(|h| json!({"id": h.id, "url": h.url}))
                .collect(),
        );
    }
    for (kind, _) in ORDER {
        let values = docs::list::<Value>(pool, tenant, kind.kind())
            .await?
            .into_iter()
            .map(|d| d.value)
            .collect();
        match kind {
            DocKind::Calendar => bundle.calendars = values,
            DocKind::Workflow => bundle.workflows = values,
            DocKind::User => bundle.users = values,
            DocKind::Service => bundle.services = values,
            DocKind::CannedAnswer => bundle.canned_answers = values,
        }
    }
    Ok(bundle)
}

/// The public identifiers of the file's documents, checked: one contact id for one service or
/// user, one WhatsApp number for one service. Two documents of the file may not share one, nor
/// may one take one that another tenant's document, or one of this tenant's the file leaves in
/// place, already holds.
async fn checked_claims(
    pool: &Pool,
    tenant: &str,
    bundle: &Bundle,
    wanted: &BTreeMap<&'static str, BTreeMap<String, Value>>,
    prune: bool,
) -> Result<Vec<Value>, ImportError> {
    let mut problems = Vec::new();
    for public in [PublicId::ContactId, PublicId::WhatsAppNumber] {
        let sections: &[(&str, DocKind)] = match public {
            PublicId::ContactId => &[("services", DocKind::Service), ("users", DocKind::User)],
            PublicId::WhatsAppNumber => &[("services", DocKind::Service)],
        };
        let mut in_file: BTreeMap<&str, String> = BTreeMap::new();
        for (section, kind) in sections {
            for (id, doc) in wanted.get(section).into_iter().flatten() {
                let Some(held) = doc.pointer(public.pointer()).and_then(Value::as_str) else {
                    continue;
                };
                let index = bundle
                    .docs(*kind)
                    .iter()
                    .position(|s| s.get("id").and_then(Value::as_str) == Some(id.as_str()))
                    .unwrap_or_default();
                let path = format!("/{section}/{index}{}", public.pointer());
                let who = format!("{} {id:?}", kind.name());
                if let Some(first) = in_file.insert(held, who) {
                    problems.push(json!({"path": path, "code": public.code(),
                        "message": format!("{public} {held} is given to {first} too")}));
                    continue;
                }
                // A document of this tenant that the file replaces, or removes, lets it go.
                let replaced = |k: &str, owner: &str| {
                    prune
                        || [("service", "services"), ("user", "users")].iter().any(
                            |(name, section)| {
                                k == *name
                                    && wanted.get(section).is_some_and(|s| s.contains_key(owner))
                            },
                        )
                };
                let taken =
                    crate::directory::contacts::taken(pool, tenant, public, held, replaced).await?;
                if let Some(who) = taken {
                    problems.push(json!({"path": path, "code": public.code(),
                        "message": format!("{public} {held} is already taken by {who}")}));
                }
            }
        }
    }
    Ok(problems)
}

fn checked(
    bundle: &Bundle,
    stored_workflows: &BTreeMap<String, Value>,
    stored_services: &[Value],
) -> Result<BTreeMap<&'static str, BTreeMap<String, Value>>, Vec<Value>> {
    let mut problems = Vec::new();
    // A Transfer may name a service of the file or one the tenant keeps.
    let services = crate::workflow::ServiceNames::from_documents(
        bundle.services.iter().chain(stored_services),
    );
    let bundled_workflows: BTreeMap<&str, &Value> = bundle
        .workflows
        .iter()
        .filter_map(|w| Some((w.get("id")?.as_str()?, w)))
        .collect();
    let mut out = BTreeMap::new();
    for (kind, section) in ORDER {
        let mut docs = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, doc) in bundle.docs(kind).iter().enumerate() {
            if let Some(id) = doc.get("id").and_then(Value::as_str)
                && !seen.insert(id)
            {
                problems.push(
                    json!({"path": format!("/{section}/{i}/id"), "code": "duplicate_id",
                    "message": format!("{} {id:?} is in the file more than once", kind.name())}),
                );
                continue;
            }
            let workflow = doc
                .get("workflow")
                .and_then(Value::as_str)
                .filter(|_| kind == DocKind::Service)
                .and_then(|id| {
                    bundled_workflows
                        .get(id)
                        .copied()
                        .or_else(|| stored_workflows.get(id))
                });
            match check(kind, doc.clone(), workflow, &services) {
                Ok((id, value)) => {
                    docs.insert(id, value);
                }
                Err(found) => problems.extend(found.into_iter().map(|mut p| {
                    let path = format!("/{section}/{i}{}", p["path"].as_str().unwrap_or_default());
                    p["path"] = json!(path);
                    p
                })),
            }
        }
        out.insert(section, docs);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Applies `bundle` in one transaction; with `prune`, documents of the tenant that are not in
/// the file are deleted.
pub async fn import(
    pool: &Pool,
    bundle: &Bundle,
    prune: bool,
    now: i64,
) -> Result<Imported, ImportError> {
    let tenant = bundle.tenant.id.trim().to_ascii_lowercase();
    if tenant.is_empty() {
        return Err(ImportError::Invalid(vec![
            json!({"path": "/tenant/id", "code": "required", "message": "the tenant id is required"}),
        ]));
    }
    let mut current: BTreeMap<&'static str, BTreeMap<String, (Value, i64)>> = BTreeMap::new();
    for (kind, section) in ORDER {
        let docs = docs::list::<Value>(pool, &tenant, kind.kind())
            .await?
            .into_iter()
            .filter_map(|d| {
                Some((
                    d.value.get("id")?.as_str()?.to_owned(),
                    (d.value, d.version),
                ))
            })
            .collect();
        current.insert(section, docs);
    }
    let stored_workflows: BTreeMap<String, Value> = if prune {
        BTreeMap::new()
    } else {
        current["workflows"]
            .iter()
            .map(|(id, (v, _))| (id.clone(), v.clone()))
            .collect()
    };
    let stored_services: Vec<Value> = if prune {
        Vec::new()
    } else {
        current["services"]
            .values()
            .map(|(v, _)| v.clone())
            .collect()
    };
    let wanted = checked(bundle, &stored_workflows, &stored_services);
    let hooks = checked_webhooks(pool, &tenant, bundle, prune).await?;
    let wanted = match wanted {
        Ok(wanted) => match checked_claims(pool, &tenant, bundle, &wanted, prune).await? {
            problems if problems.is_empty() => Ok(wanted),
            problems => Err(problems),
        },
        Err(problems) => Err(problems),
    };
    let (wanted, hooks) = match (wanted, hooks) {
        (Ok(wanted), Ok(hooks)) => (wanted, hooks),
        (Err(mut problems), Err(more)) => {
            problems.extend(more);
            return Err(ImportError::Invalid(problems));
        }
        (Err(problems), _) | (_, Err(problems)) => return Err(ImportError::Invalid(problems)),
    };

    let mut done = Imported {
        tenant: tenant.clone(),
        ..Imported::default()
    };
    let mut tx = crate::store::begin_write(pool).await?;
    let conflict = |e: StoreError| match e {
        StoreError::Conflict { kind, id, .. } => ImportError::Conflict(format!(
            "{kind} {id} was changed while the file was applied; nothing was written, apply it again"
        )),
        StoreError::Claimed(public) => ImportError::Conflict(format!(
            "{public} of a document in the file was taken while the file was applied; nothing was written, apply it again"
        )),
        other => ImportError::Store(other),
    };
    let mut settings = bundle.tenant.clone();
    settings.id.clone_from(&tenant);
    let stored_settings = docs::get::<Tenant>(pool, &tenant, Kind::Tenant, &tenant).await?;
    match &stored_settings {
        Some(s) if serde_json::to_value(&s.value).ok() == serde_json::to_value(&settings).ok() => {
            done.unchanged += 1;
        }
        _ => {
            docs::put_in(
                &mut tx,
                &tenant,
                Kind::Tenant,
                &tenant,
                &settings,
                stored_settings.as_ref().map(|s| s.version),
                now,
            )
            .await
            .map_err(conflict)?;
            if stored_settings.is_some() {
                done.updated += 1;
            } else {
                done.created += 1;
            }
            done.changes.push(format!("tenant/{tenant}"));
        }
    }
    if prune {
        // Services first: they refer to the others.
        for (kind, section) in ORDER.iter().rev() {
            for (id, (_, version)) in &current[section] {
                if !wanted[section].contains_key(id) {
                    docs::delete_in(&mut tx, &tenant, kind.kind(), id, *version)
                        .await
                        .map_err(conflict)?;
                    done.deleted += 1;
                    done.changes.push(format!("{}/{id}", kind.name()));
                }
            }
        }
    }
    // The documents the file changes let their public identifiers go first, so that two of
    // them may swap contact ids or numbers whatever order they are written in (the unique
    // indexes are checked at each statement).
    for (kind, section) in ORDER {
        for (id, value) in &wanted[section] {
            if current[section].get(id).is_some_and(|(v, _)| v != value) {
                docs::release_public_ids_in(&mut tx, &tenant, kind.kind(), id).await?;
            }
        }
    }
    for (kind, section) in ORDER {
        for (id, value) in &wanted[section] {
            let before = current[section].get(id);
            if before.is_some_and(|(v, _)| v == value) {
                done.unchanged += 1;
                continue;
            }
            docs::put_in(
                &mut tx,
                &tenant,
                kind.kind(),
                id,
                value,
                before.map(|(_, version)| *version),
                now,
            )
            .await
            .map_err(conflict)?;
            if before.is_some() {
                done.updated += 1;
            } else {
                done.created += 1;
            }
            done.changes.push(format!("{}/{id}", kind.name()));
        }
    }
    if let Some(hooks) = &hooks {
        let changes =
            crate::webhooks::endpoints::store(&mut tx, &tenant, hooks, prune, now).await?;
        done.created += changes.created.len();
        done.updated += changes.updated.len();
        done.unchanged += changes.unchanged.len();
        done.deleted += changes.deleted.len();
        for id in changes
            .deleted
            .iter()
            .chain(&changes.created)
            .chain(&changes.updated)
        {
            done.changes.push(format!("webhook/{id}"));
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// The file's webhook endpoints, checked: `None` leaves the stored ones alone (absent section,
/// no prune); with prune an absent section means none.
async fn checked_webhooks(
    pool: &Pool,
    tenant: &str,
    bundle: &Bundle,
    prune: bool,
) -> Result<Result<Option<Vec<crate::webhooks::endpoints::EndpointInput>>, Vec<Value>>, ImportError>
{
    let raw = match (&bundle.webhooks, prune) {
        (Some(list), _) => Value::Array(list.clone()),
        (None, true) => Value::Array(Vec::new()),
        (None, false) => return Ok(Ok(None)),
    };
    let mut conn = pool.acquire().await?;
    let known = crate::webhooks::endpoints::list(&mut conn, tenant).await?;
    drop(conn);
    Ok(crate::webhooks::validate::endpoints(
        &raw,
        "/webhooks",
        &bundle.tenant.http_allowed_networks,
        &known,
    )
    .await
    .map(Some))
}
