//! Who arrives at a contact's widget: the contact looked up, the page's origin checked, the
//! customer's name, email and consent read, and the widget key compared. Session creation
//! ([`super::api`]) and the messages left and surveys ([`super::feedback`]) start here.

use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::session::{any_origin, cors};
use super::validate::{CustomerEmail, DisplayName};
use crate::app::AppState;
use crate::directory::contacts::{self, Contact};
use crate::engine::messages::Customer;
use crate::http::problem::Refused;
use crate::security::{hash_secret, same_hash};

pub(super) fn bad_request(code: &str, detail: &str) -> Refused {
    Refused::new(StatusCode::BAD_REQUEST, code, detail)
}

/// The contact, or a 404 `unknown_contact` the page can read (a wrong `data-contact`).
pub(super) async fn find_contact(app: &AppState, contact: &str) -> Result<Contact, Refused> {
    contacts::find(&app.pool, contact).await?.ok_or_else(|| {
        Refused::new(StatusCode::NOT_FOUND, "unknown_contact", "no such contact")
            .with(&any_origin())
    })
}

/// Whether `presented` is the contact's widget key (compared in constant time).
fn key_matches(contact: &Contact, presented: &str) -> bool {
    contact
        .interact()
        .widget_key
        .as_deref()
        .is_some_and(|k| same_hash(&hash_secret(k), &hash_secret(presented)))
}

/// Who a customer says they are in the widget's forms (a chat, a message left).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CustomerForm {
    widget_key: String,
    display_name: String,
    email: String,
    privacy_consent: bool,
}

/// A customer at a contact's widget: the contact, the page's CORS headers, and the customer.
pub(super) struct Arrival {
    pub contact: Contact,
    pub cors: HeaderMap,
    pub customer: Customer,
    widget_key: String,
}

impl Arrival {
    /// A 400 the page can read.
    pub fn refuse(&self, code: &str, detail: &str) -> Refused {
        bad_request(code, detail).with(&self.cors)
    }

    /// Refuses a widget key that is not the contact's.
    pub fn require_key(&self) -> Result<(), Refused> {
        require_key(&self.contact, &self.widget_key, &self.cors)
    }
}

/// Checks a widget form as far as the contact and the customer go: the client's new-session
/// limit, the contact, the page's origin, the name, email and consent. Every refusal is
/// readable by the page (a wrong contact and a rate limit by any), so the widget can tell the
/// customer why. The widget key is the caller's to check, after its own fields.
pub(super) async fn arrive(
    app: &AppState,
    client: &str,
    contact_id: &str,
    headers: &HeaderMap,
    form: CustomerForm,
) -> Result<Arrival, Refused> {
    app.limits
        .new_session(client)
        .map_err(|l| Refused::from(l).with(&any_origin()))?;
    let contact = find_contact(app, contact_id).await?;
    let cors = cors(&contact, headers)?;
    let refuse = |code: &str, detail: &str| bad_request(code, detail).with(&cors);
    let name =
        DisplayName::parse(&form.display_name).map_err(|e| refuse("invalid_display_name", e))?;
    let email = CustomerEmail::parse(&form.email).map_err(|e| refuse("invalid_email", e))?;
    if !form.privacy_consent {
        return Err(refuse("consent_required", "privacyConsent must be true"));
    }
    Ok(Arrival {
        contact,
        cors,
        customer: Customer {
            display_name: name.as_str().to_owned(),
            email: email.as_str().to_owned(),
        },
        widget_key: form.widget_key,
    })
}

/// Refuses (403, readable by the page) a widget key that is not the contact's.
pub(super) fn require_key(
    contact: &Contact,
    presented: &str,
    cors: &HeaderMap,
) -> Result<(), Refused> {
    if key_matches(contact, presented) {
        return Ok(());
    }
    Err(Refused::new(
        StatusCode::FORBIDDEN,
        "invalid_widget_key",
        "the widget key does not match this contact",
    )
    .with(cors))
}
