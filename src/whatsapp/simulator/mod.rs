//! The WhatsApp simulator of anonymous dev mode: a phone-shaped chat at `/dev/whatsapp` that
//! talks to Switchboard exactly as Meta does, so the whole WhatsApp loop runs on one machine
//! with no Meta account.
//!
//! - The page's customer messages become **signed webhooks** posted over HTTP to
//!   `/api/whatsapp/webhook` (signed with an app secret made up at start, which the webhook then
//!   checks like any other).
//! - Switchboard's Cloud API calls go to the **built-in Graph mock** ([`graph`]) at
//!   `/dev/whatsapp/graph/v24.0`: messages (text, reply buttons, lists, templates; the 131047
//!   refusal while the page says the 24-hour window is closed), read receipts and typing,
//!   message templates and media, each with the demo tenant's made-up access token checked.
//!   What it is sent appears on the page; `sent` and `delivered` statuses follow as signed
//!   webhooks, `read` once the page has shown the message.
//!
//! It exists only in anonymous dev mode without a configured `whatsapp.app_secret`, answers
//! only loopback clients, and keeps its chats in memory (the last [`MAX_ENTRIES`] lines).

mod graph;
mod phone;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::clock::Clock;
use crate::http::client_ip::ClientIp;
use crate::http::extract::JsonBody;
use crate::http::problem::{ApiResult, Refused};
use crate::whatsapp_cloud::webhook::signature;
use phone::{Entry, Phone};

/// Where the page is.
pub const PATH: &str = "/dev/whatsapp";
/// The Graph API base URL path of the built-in mock.
pub const GRAPH_PATH: &str = "/dev/whatsapp/graph/v24.0";
/// The simulated WhatsApp Business Account (the demo tenant's `businessAccountId`).
pub const BUSINESS_ACCOUNT: &str = "100000000000002";
/// The display number of the simulated business.
const DISPLAY_NUMBER: &str = "15550000001";
/// Lines kept in memory, all customers together.
pub const MAX_ENTRIES: usize = 2000;
/// The longest a page's poll waits for news.
const POLL_WAIT: Duration = Duration::from_secs(25);

const PAGE: &str = include_str!("page.html");

/// The simulator: its made-up credentials, where it posts webhooks, and the chats it shows.
pub struct Simulator {
    app_secret: String,
    access_token: String,
    webhook_url: String,
    base_url: String,
    http: reqwest::Client,
    phone: std::sync::Mutex<Phone>,
    version: tokio::sync::watch::Sender<u64>,
    window_closed: AtomicBool,
    clock: Arc<dyn Clock>,
    /// The service is stopping: waiting polls end.
    stopping: CancellationToken,
}

/// The routes' state: the simulator, when this mode has one.
type Sim = Option<Arc<Simulator>>;

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// A simulator for the service listening at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(
        base_url: &str,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        stopping: CancellationToken,
    ) -> Self {
        Simulator {
            app_secret: crate::security::new_secret(),
            access_token: format!("simulator-{}", crate::security::new_secret()),
            webhook_url: format!("{base_url}/api/whatsapp/webhook"),
            base_url: base_url.to_owned(),
            http,
            phone: std::sync::Mutex::new(Phone::default()),
            version: tokio::sync::watch::channel(0).0,
            window_closed: AtomicBool::new(false),
            clock,
            stopping,
        }
    }

    /// The app secret the webhooks are signed with (`whatsapp.app_secret` while it runs).
    pub fn app_secret(&self) -> &str {
        &self.app_secret
    }

    /// The access token the Graph mock accepts (stored as the demo tenant's).
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// The Graph API base URL of the built-in mock (`whatsapp.graph_base_url` while it runs).
    pub fn graph_base_url(&self) -> String {
        format!("{}{GRAPH_PATH}", self.base_url)
    }

    /// The chats, locked (a panic elsewhere while they were locked leaves them as they were).
    fn phone(&self) -> std::sync::MutexGuard<'_, Phone> {
        self.phone.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the chats under the lock and wakes the pages.
    fn change<T>(&self, f: impl FnOnce(&mut Phone) -> T) -> T {
        let result = {
            let mut phone = self.phone();
            f(&mut phone)
        };
        self.version.send_modify(|v| *v += 1);
        result
    }

    /// Posts `value` as a signed `messages` webhook, as Meta does; returns the HTTP status.
    async fn post_webhook(&self, value: Value) -> Result<u16, String> {
        let body = json!({"object": "whatsapp_business_account",
            "entry": [{"id": BUSINESS_ACCOUNT, "changes": [{"field": "messages", "value": value}]}]})
        .to_string();
        let signed = signature(self.app_secret.as_bytes(), body.as_bytes());
        self.http
            .post(&self.webhook_url)
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-hub-signature-256", signed)
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("the webhook could not be posted: {e}"))
    }

    /// Posts the status of a business message, as Meta does.
    async fn post_status(&self, number: &str, wamid: &str, customer: &str, status: &str) {
        let value = json!({"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": number},
            "statuses": [{"id": wamid, "status": status, "timestamp": now_secs(),
                          "recipient_id": customer,
                          "conversation": {"id": "simulated", "origin": {"type": "service"}},
                          "pricing": {"billable": true, "pricing_model": "PMP", "category": "service"}}]});
        if let Err(error) = self.post_webhook(value).await {
            tracing::warn!(error = %error, "the WhatsApp simulator could not post a status");
        }
    }
}

/// In anonymous dev mode without a configured `whatsapp.app_secret`: the simulator for the
/// service listening at `address`. Its made-up app secret and built-in Graph mock become the
/// WhatsApp settings ([`take_demo`] gives the demo tenant its access token). `None` in every
/// other mode.
pub async fn start(
    settings: &mut crate::config::Settings,
    http: &reqwest::Client,
    address: std::net::SocketAddr,
    clock: Arc<dyn Clock>,
    stopping: CancellationToken,
) -> anyhow::Result<Option<Arc<Simulator>>> {
    use anyhow::Context as _;
    if !settings.is_anonymous() || settings.whatsapp.app_secret.is_some() {
        return Ok(None);
    }
    let base = format!("http://{address}");
    let simulator = Simulator::new(&base, http.clone(), clock, stopping);
    settings.whatsapp.app_secret = Some(simulator.app_secret().to_owned().into());
    settings.whatsapp.graph_base_url = url::Url::parse(&simulator.graph_base_url())
        .context("the WhatsApp simulator's Graph URL")?;
    Ok(Some(Arc::new(simulator)))
}

/// Gives the seeded demo tenant this simulator's access token (unless someone stored a real
/// one), and says where the simulator is. Run by the instance that owns the tenants: at start,
/// or when it takes them over (the simulator whose token is stored is the owner's, and
/// every request to the simulator reaches the owner).
pub async fn take_demo(
    simulator: &Simulator,
    pool: &crate::store::Pool,
    now: i64,
) -> anyhow::Result<()> {
    use crate::demo::{DEMO_TENANT, DEMO_WHATSAPP_NUMBER};
    use crate::store::whatsapp as wa_store;
    let base = simulator.base_url.clone();
    if crate::demo::is_seeded_demo(pool, DEMO_TENANT).await? {
        let mut conn = pool.acquire().await?;
        let stored = wa_store::credentials(&mut conn, DEMO_TENANT).await?;
        let ours = stored
            .access_token
            .as_deref()
            .is_none_or(|t| t.starts_with("simulator-"));
        if ours {
            let credentials = wa_store::Credentials {
                access_token: Some(simulator.access_token().to_owned()),
                business_account_id: Some(BUSINESS_ACCOUNT.to_owned()),
                updated_at: None,
            };
            wa_store::set_credentials(&mut conn, DEMO_TENANT, &credentials, now).await?;
        }
        let number = crate::directory::contacts::whatsapp_service(pool, DEMO_WHATSAPP_NUMBER)
            .await?
            .filter(|(tenant, _)| tenant == DEMO_TENANT);
        match number {
            Some((_, service)) => tracing::info!(
                service.id = %service.id,
                simulator = %format!("{base}{PATH}"),
                "demo: the service takes WhatsApp chats; open the WhatsApp simulator to write as a customer"
            ),
            None => tracing::info!(
                simulator = %format!("{base}{PATH}"),
                "demo: no demo service has the simulator's number {DEMO_WHATSAPP_NUMBER} (a database from an earlier version); give one a whatsapp.phoneNumberId to use the WhatsApp simulator"
            ),
        }
    }
    Ok(())
}

fn now_secs() -> String {
    (crate::clock::SystemClock.now_ms() / 1000).to_string()
}

pub fn router(simulator: Sim) -> Router<AppState> {
    Router::new()
        .route(PATH, get(page))
        .route("/dev/whatsapp/api/chat", get(chat))
        .route("/dev/whatsapp/api/messages", post(customer_writes))
        .route("/dev/whatsapp/api/seen", post(seen))
        .route("/dev/whatsapp/api/window", post(window))
        .merge(graph::router())
        .with_state(simulator)
}

/// The simulator, for a loopback client in dev mode; 404 otherwise (403 for another address).
fn simulator(sim: &Sim, client: ClientIp) -> Result<Arc<Simulator>, Refused> {
    let Some(simulator) = sim else {
        return Err(Refused::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the WhatsApp simulator runs only in anonymous dev mode without whatsapp.app_secret",
        ));
    };
    if !client.0.is_loopback() {
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            "loopback_only",
            "the WhatsApp simulator answers loopback clients only",
        ));
    }
    Ok(Arc::clone(simulator))
}

async fn page(State(sim): State<Sim>, client: ClientIp) -> ApiResult {
    simulator(&sim, client)?;
    let mut response = Html(PAGE).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize)]
struct ChatQuery {
    customer: String,
    #[serde(default)]
    after: Option<u64>,
}

/// One customer's chat. With `after` equal to the current version, waits (up to
/// [`POLL_WAIT`]) for something to change first.
async fn chat(
    State(sim): State<Sim>,
    client: ClientIp,
    Query(query): Query<ChatQuery>,
) -> ApiResult {
    let simulator = simulator(&sim, client)?;
    let mut changes = simulator.version.subscribe();
    if query.after == Some(*changes.borrow_and_update()) {
        tokio::select! {
            _ = changes.changed() => {}
            () = tokio::time::sleep(POLL_WAIT) => {}
            () = simulator.stopping.cancelled() => {}
        }
    }
    let version = *simulator.version.borrow();
    let now = simulator.clock.now_ms();
    let phone = simulator.phone();
    let entries: Vec<&Entry> = phone.chat(&query.customer).collect();
    Ok(axum::Json(json!({
        "version": version,
        "windowClosed": simulator.window_closed.load(Ordering::Relaxed),
        "typing": phone.typing_until(&query.customer).is_some_and(|until| until > now),
        "entries": entries,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CustomerMessage {
    customer: String,
    name: String,
    number: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    reply: Option<Reply>,
    #[serde(default)]
    image: Option<Image>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    id: String,
    title: String,
    /// `button` or `list`.
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Image {
    /// Base64 of the bytes.
    data: String,
    mime_type: String,
    #[serde(default)]
    caption: Option<String>,
}

/// The largest image the page sends (its base64 fits the webhook route's 1 MB body limit;
/// Meta's own limit for images is 5 MB).
pub const MAX_IMAGE_BYTES: usize = 700 * 1024;

fn invalid(detail: &str) -> Refused {
    Refused::new(StatusCode::BAD_REQUEST, "invalid_message", detail)
}

/// The customer writes: the message becomes a signed webhook, as Meta would post it.
async fn customer_writes(
    State(sim): State<Sim>,
    client: ClientIp,
    JsonBody(message): JsonBody<CustomerMessage>,
) -> ApiResult {
    let simulator = simulator(&sim, client)?;
    let customer = message.customer.trim();
    if !(6..=15).contains(&customer.len()) || !customer.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "customer must be a WhatsApp number: 6 to 15 digits",
        ));
    }
    let name = message.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(invalid("name must be 1 to 64 characters"));
    }
    let number = message.number.trim();
    if number.is_empty() || number.len() > 32 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("number must be a phone number id: 1 to 32 digits"));
    }
    let wamid = format!("wamid.SIM{}", crate::security::new_secret());
    let (payload, entry) = match (&message.text, &message.reply, &message.image) {
        (Some(text), None, None) if !text.trim().is_empty() && text.chars().count() <= 4096 => (
            json!({"type": "text", "text": {"body": text}}),
            Entry::text(text),
        ),
        (None, Some(reply), None) if matches!(reply.kind.as_str(), "button" | "list") => {
            let kind = format!("{}_reply", reply.kind);
            (
                json!({"type": "interactive", "interactive": {"type": kind,
                    kind.clone(): {"id": reply.id, "title": reply.title}}}),
                Entry::text(&reply.title),
            )
        }
        (None, None, Some(image)) => {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(image.data.as_bytes())
                .map_err(|_| invalid("image.data must be base64"))?;
            if bytes.is_empty() || bytes.len() > MAX_IMAGE_BYTES {
                return Err(invalid("the simulator takes images of 1 byte to 700 KB"));
            }
            if !matches!(image.mime_type.as_str(), "image/jpeg" | "image/png") {
                return Err(invalid("WhatsApp takes JPEG and PNG images"));
            }
            let caption = image.caption.clone().filter(|c| !c.trim().is_empty());
            let media = simulator.change(|p| p.keep_media(&image.mime_type, bytes));
            let mut body =
                json!({"id": media, "mime_type": image.mime_type, "sha256": "simulated"});
            if let Some(caption) = &caption {
                body["caption"] = json!(caption);
            }
            (
                json!({"type": "image", "image": body}),
                Entry::image(&format!("{GRAPH_PATH}/{media}/content"), caption.as_deref()),
            )
        }
        _ => {
            return Err(invalid(
                "give one of text (1 to 4096 characters), reply ({id, title, kind: button or list}) or image",
            ));
        }
    };
    let mut item = payload;
    item["from"] = json!(customer);
    item["id"] = json!(wamid);
    item["timestamp"] = json!(now_secs());
    // A customer's message opens the 24-hour window again.
    simulator.window_closed.store(false, Ordering::Relaxed);
    let seq =
        simulator.change(|p| p.push(entry.by_customer(customer, &wamid, simulator.clock.now_ms())));
    let value = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": number},
        "contacts": [{"profile": {"name": name}, "wa_id": customer}],
        "messages": [item]});
    let outcome = simulator.post_webhook(value).await;
    let (status, error) = match &outcome {
        Ok(200) => ("delivered", None),
        Ok(status) => (
            "failed",
            Some(format!("Switchboard answered the webhook with {status}")),
        ),
        Err(e) => ("failed", Some(e.clone())),
    };
    simulator.change(|p| p.set_status(seq, status, error.clone()));
    Ok(axum::Json(json!({"wamid": wamid, "status": status, "error": error})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seen {
    customer: String,
    number: String,
}

/// The page showed the business's messages to the customer: `read` statuses for them.
async fn seen(
    State(sim): State<Sim>,
    client: ClientIp,
    JsonBody(seen): JsonBody<Seen>,
) -> ApiResult {
    let simulator = simulator(&sim, client)?;
    let unread = simulator.change(|p| p.read_by_customer(&seen.customer));
    for wamid in &unread {
        simulator
            .post_status(&seen.number, wamid, &seen.customer, "read")
            .await;
    }
    Ok(axum::Json(json!({"read": unread.len()})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Window {
    closed: bool,
}

/// Whether the Graph mock refuses free-form messages with 131047, as Meta does 24 hours after
/// the customer's last message.
async fn window(
    State(sim): State<Sim>,
    client: ClientIp,
    JsonBody(window): JsonBody<Window>,
) -> ApiResult {
    let simulator = simulator(&sim, client)?;
    simulator
        .window_closed
        .store(window.closed, Ordering::Relaxed);
    simulator.change(|_| ());
    Ok(axum::Json(json!({"windowClosed": window.closed})).into_response())
}
