//! The Preferences page through real HTTP: a browser (cookies kept by hand, redirects followed
//! across the app and the mock Entra ID) signs in with authorization code + PKCE, registers
//! with the bot (Graph installs it, the Connector opens the personal chat, the welcome card
//! arrives, invitations follow), unregisters; forged, replayed and tampered sign-ins are
//! refused; admins grant the Graph permissions with the admin-consent link.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::helpers::teams::{self, ANNE, BOB, Teams, posts, wait_post};
use crate::helpers::{TestApp, TestConfig};
use crate::mock_bf::{OTHER_TENANT_ID, Scripted, TENANT_ID};

const GLOBAL_ADMIN: bool = true;

fn config() -> TestConfig {
    teams::config()
        .env("SWITCHBOARD_PREFERENCES__AUTHORITY_URL", "{mock}/entra")
        .env("SWITCHBOARD_BOT__SERVICE_URL", "{connector}")
}

async fn spawn() -> TestApp {
    let mock = crate::mock_bf::MockBotFramework::start().await;
    let mut config = config();
    for (_, value) in &mut config.env {
        *value = value
            .replace("{mock}", &mock.base_url)
            .replace("{connector}", &mock.service_url());
    }
    crate::helpers::spawn_app_on(mock, config).await
}

/// A browser: keeps the app's cookies (checking their attributes), follows nothing by itself.
struct Browser {
    http: reqwest::Client,
    app: String,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    code: Option<String>,
    body: String,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            app: app.address.clone(),
            cookies: HashMap::new(),
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.app)
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder, to_app: bool) -> Page {
        let request = if to_app && !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request.header(COOKIE, header.join("; "))
        } else {
            request
        };
        let response = request.send().await.expect("request");
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().expect("ascii cookie");
            assert!(to_app, "only the app sets cookies");
            for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
                assert!(set.contains(attribute), "{set} lacks {attribute}");
            }
            let (pair, _) = set.split_once(';').expect("attributes");
            let (name, value) = pair.split_once('=').expect("name=value");
            assert!(name.starts_with("__Host-"), "{name}");
            if set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().expect("location").to_owned()),
            code: response
                .headers()
                .get("x-switchboard-code")
                .map(|c| c.to_str().expect("code").to_owned()),
            body: response.text().await.expect("body"),
        }
    }

    async fn get(&mut self, path_or_url: &str) -> Page {
        let url = self.url(path_or_url);
        let to_app = url.starts_with(&self.app);
        self.send(self.http.get(&url), to_app).await
    }

    /// GETs and follows redirects (to the mock Entra ID and back).
    async fn visit(&mut self, path_or_url: &str) -> Page {
        let mut page = self.get(path_or_url).await;
        for _ in 0..10 {
            let Some(next) = page.location.clone().filter(|_| page.status / 100 == 3) else {
                return page;
            };
            let next = if next.starts_with('/') {
                format!("{}{next}", self.app)
            } else {
                next
            };
            page = self.get(&next).await;
        }
        panic!("redirect loop");
    }

    async fn post(&mut self, path: &str, csrf: Option<&str>) -> Page {
        let form: Vec<(&str, &str)> = csrf.map(|c| vec![("csrf", c)]).unwrap_or_default();
        let request = self.http.post(self.url(path)).form(&form);
        self.send(request, true).await
    }

    /// Posts a form and follows the redirect back to the page.
    async fn submit(&mut self, path: &str, csrf: &str) -> Page {
        let page = self.post(path, Some(csrf)).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let to = page.location.expect("location");
        self.visit(&to).await
    }

    async fn sign_in(&mut self) -> Page {
        let page = self.visit("/preferences/signin").await;
        assert_eq!(page.status, 200, "{}", page.body);
        page
    }
}

fn csrf_of(body: &str) -> String {
    let at = body
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    body[at..].split('"').next().expect("token").to_owned()
}

async fn registered(app: &TestApp, user: &str) -> Option<bool> {
    switchboard::store::registrations::registration_of(&app.state.pool, TENANT_ID, user)
        .await
        .expect("registration")
        .map(|r| r.registered)
}

#[tokio::test]
async fn an_agent_signs_in_registers_gets_invitations_and_unregisters() {
    let app = spawn().await;
    teams::seed(&app, "direct", 30, &[ANNE]).await;
    app.mock.sign_in_as(ANNE.aad, TENANT_ID, ANNE.name, false);
    let mut browser = Browser::new(&app);

    let page = browser.get("/preferences").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Sign in with Microsoft"),
        "{}",
        page.body
    );

    // Sign-in: to Entra ID with PKCE (S256), a nonce and the state bound to this browser.
    let start = browser.get("/preferences/signin").await;
    assert_eq!(start.status, 303);
    let authorize = url::Url::parse(&start.location.clone().expect("to Entra ID")).expect("url");
    assert!(authorize.as_str().starts_with(&format!(
        "{}/entra/{TENANT_ID}/oauth2/v2.0/authorize",
        app.mock.base_url
    )));
    let q: HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43, "a SHA-256 challenge");
    assert!(q["nonce"].len() >= 22 && q["state"].len() >= 22);
    assert_eq!(
        q["redirect_uri"],
        format!("{}/preferences/callback", app.address)
    );
    assert!(browser.cookies.contains_key("__Host-switchboard_signin"));
    let page = browser.visit(authorize.as_str()).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(browser.cookies.contains_key("__Host-switchboard_session"));
    assert!(
        !browser.cookies.contains_key("__Host-switchboard_signin"),
        "the sign-in cookie is spent"
    );
    assert!(page.body.contains("Signed in as <b>Anne Agent</b>"));
    assert!(page.body.contains("<b>not registered</b>"), "{}", page.body);
    assert!(
        !page.body.contains("Grant permissions"),
        "not an admin: no consent link"
    );

    // Forms without, or with another, CSRF token change nothing.
    let csrf = csrf_of(&page.body);
    let refused = browser.post("/preferences/register", None).await;
    assert_eq!(
        (refused.status, refused.code.as_deref()),
        (403, Some("csrf_failed"))
    );
    let refused = browser
        .post("/preferences/register", Some("forged-token"))
        .await;
    assert_eq!(refused.status, 403);
    let refused = browser
        .post("/preferences/consent/start", Some(&csrf))
        .await;
    assert_eq!(
        (refused.status, refused.code.as_deref()),
        (403, Some("admin_required"))
    );
    assert_eq!(registered(&app, ANNE.aad).await, None);

    // Register: Graph installs the bot for Anne, the Connector opens her personal chat (Teams
    // gives it the id it always has), the welcome card arrives there.
    app.mock
        .script([Scripted::status(201).body(json!({"id": ANNE.personal}))]);
    let page = browser.submit("/preferences/register", &csrf).await;
    assert!(page.body.contains("You are registered."), "{}", page.body);
    assert!(page.body.contains("<b>registered</b>"));
    let installs = app
        .mock
        .state
        .graph_user_installs
        .lock()
        .expect("lock")
        .clone();
    assert_eq!(installs, vec![ANNE.aad.to_owned()]);
    let graph = app.mock.state.graph_calls.lock().expect("lock").clone();
    let install = graph
        .iter()
        .find(|c| c.path == format!("/users/{}/teamwork/installedApps", ANNE.aad))
        .expect("install call");
    assert!(
        install
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer "))
    );
    assert!(
        install.body.as_ref().expect("body")["teamsApp@odata.bind"]
            .as_str()
            .is_some_and(|b| b.ends_with(&format!("/appCatalogs/teamsApps/{}", teams::TEAMS_APP)))
    );
    let create = app
        .mock
        .calls()
        .into_iter()
        .find(|c| c.path.ends_with("/v3/conversations"))
        .expect("conversation created");
    let body = create.body.expect("parameters");
    assert_eq!(body["members"][0]["id"], ANNE.aad);
    assert_eq!(body["tenantId"], TENANT_ID);
    assert_eq!(body["isGroup"], false);
    wait_post(&app, "welcome card", |(_, c, h, _)| {
        c == ANNE.personal && h == "Welcome to Switchboard"
    })
    .await;
    assert_eq!(registered(&app, ANNE.aad).await, Some(true));

    // Teams' own install events for the same chat follow: no second welcome.
    Teams { app: &app }.install(ANNE).await;
    // A chat is offered to Anne in that personal chat.
    let _customer = teams::start_chat(&app, "Ada", Some("Hello")).await;
    teams::invitation_for(&app, ANNE, 1).await;
    let welcomes = posts(&app)
        .into_iter()
        .filter(|(_, c, h, _)| c == ANNE.personal && h == "Welcome to Switchboard")
        .count();
    assert_eq!(welcomes, 1);

    // Unregister, then register again: the same personal chat, no new install.
    let page = browser.submit("/preferences/unregister", &csrf).await;
    assert!(page.body.contains("You are unregistered"), "{}", page.body);
    assert!(page.body.contains("<b>not registered</b>"));
    assert_eq!(registered(&app, ANNE.aad).await, Some(false));
    let page = browser.submit("/preferences/register", &csrf).await;
    assert!(page.body.contains("You are registered."), "{}", page.body);
    assert_eq!(registered(&app, ANNE.aad).await, Some(true));
    assert_eq!(
        app.mock
            .state
            .graph_user_installs
            .lock()
            .expect("lock")
            .len(),
        1
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while posts(&app)
        .iter()
        .filter(|(_, c, h, _)| c == ANNE.personal && h == "Welcome to Switchboard")
        .count()
        < 2
    {
        assert!(tokio::time::Instant::now() < deadline, "no second welcome");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Sign out: the cookie is cleared and the old session id no longer works.
    let old = browser.cookies.clone();
    let page = browser.submit("/preferences/signout", &csrf).await;
    assert!(page.body.contains("Sign in with Microsoft"));
    assert!(browser.cookies.is_empty());
    browser.cookies = old;
    let refused = browser.post("/preferences/unregister", Some(&csrf)).await;
    assert_eq!(
        (refused.status, refused.code.as_deref()),
        (401, Some("not_signed_in"))
    );
    assert_eq!(registered(&app, ANNE.aad).await, Some(true));
}

#[tokio::test]
async fn forged_replayed_and_tampered_sign_ins_are_refused() {
    let app = spawn().await;
    app.mock.sign_in_as(BOB.aad, TENANT_ID, BOB.name, false);

    // A callback this browser did not start (login CSRF): refused.
    let mut attacker = Browser::new(&app);
    let start = attacker.get("/preferences/signin").await;
    let victim_callback = {
        let mut b = Browser {
            cookies: HashMap::new(),
            ..Browser::new(&app)
        };
        let page = b.get(&start.location.clone().expect("authorize")).await;
        page.location.expect("back to the app")
    };
    let mut victim = Browser::new(&app);
    let page = victim.get(&victim_callback).await;
    assert_eq!(
        (page.status, page.code.as_deref()),
        (403, Some("signin_state_mismatch"))
    );
    assert!(victim.cookies.is_empty());

    // The browser that started it may finish it once; a replay is refused.
    let page = attacker.visit(&victim_callback).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(attacker.cookies.contains_key("__Host-switchboard_session"));
    attacker
        .cookies
        .insert("__Host-switchboard_signin".into(), {
            let q: HashMap<String, String> = url::Url::parse(&victim_callback)
                .expect("url")
                .query_pairs()
                .into_owned()
                .collect();
            q["state"].clone()
        });
    let page = attacker.get(&victim_callback).await;
    assert_eq!(
        (page.status, page.code.as_deref()),
        (403, Some("signin_expired"))
    );

    // Id tokens that must not be believed.
    for how in ["nonce", "aud", "issuer", "key", "expired"] {
        app.mock.tamper_id_token(Some(how));
        let mut b = Browser::new(&app);
        let page = b.visit("/preferences/signin").await;
        assert_eq!(
            (page.status, page.code.as_deref()),
            (401, Some("signin_failed")),
            "tampered {how}"
        );
        assert!(
            !b.cookies.contains_key("__Host-switchboard_session"),
            "tampered {how}"
        );
    }

    // A user of another tenant signs in fine at Entra ID but is not let in.
    app.mock
        .sign_in_as(BOB.aad, OTHER_TENANT_ID, BOB.name, GLOBAL_ADMIN);
    let mut b = Browser::new(&app);
    let page = b.visit("/preferences/signin").await;
    assert_eq!(
        (page.status, page.code.as_deref()),
        (403, Some("tenant_not_allowed")),
        "a single-tenant app lets its own tenant in only"
    );

    // Entra ID refusing (the user cancelled) is explained.
    let mut b = Browser::new(&app);
    let start = b.get("/preferences/signin").await;
    let q: HashMap<String, String> = url::Url::parse(&start.location.expect("authorize"))
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect();
    let page = b
        .get(&format!(
            "/preferences/callback?error=access_denied&error_description=cancelled&state={}",
            q["state"]
        ))
        .await;
    assert_eq!(
        (page.status, page.code.as_deref()),
        (401, Some("signin_refused"))
    );
}

#[tokio::test]
async fn an_admin_grants_the_permissions_and_then_users_can_register() {
    let app = spawn().await;
    app.mock.state.graph_refused.store(true, Ordering::SeqCst);

    // A user cannot register while the tenant has not consented: told why, nothing changes.
    app.mock.sign_in_as(BOB.aad, TENANT_ID, BOB.name, false);
    let mut bob = Browser::new(&app);
    let page = bob.sign_in().await;
    let page = bob
        .submit("/preferences/register", &csrf_of(&page.body))
        .await;
    assert!(
        page.body.contains("has not granted its permissions"),
        "{}",
        page.body
    );
    assert_eq!(registered(&app, BOB.aad).await, None);

    // The admin sees the Grant Permissions button, goes to Entra ID's admin consent and back.
    app.mock
        .sign_in_as(ANNE.aad, TENANT_ID, "Ada Admin", GLOBAL_ADMIN);
    let mut admin = Browser::new(&app);
    let page = admin.sign_in().await;
    assert!(page.body.contains("Grant permissions"), "{}", page.body);
    assert!(page.body.contains("needs your consent"));
    let csrf = csrf_of(&page.body);
    let start = admin.post("/preferences/consent/start", Some(&csrf)).await;
    assert_eq!(start.status, 303);
    let to = url::Url::parse(&start.location.clone().expect("to Entra ID")).expect("url");
    assert_eq!(
        to.path(),
        format!("/entra/{TENANT_ID}/adminconsent"),
        "the tenant's own admin-consent endpoint"
    );
    let q: HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], crate::mock_bf::APP_ID);
    assert_eq!(
        q["redirect_uri"],
        format!("{}/preferences/consent", app.address)
    );
    // A forged answer (another state) is refused.
    let forged = admin
        .get(&format!(
            "/preferences/consent?admin_consent=True&tenant={TENANT_ID}&state=forged"
        ))
        .await;
    assert_eq!(
        (forged.status, forged.code.as_deref()),
        (403, Some("consent_state_mismatch"))
    );
    let page = admin.visit(to.as_str()).await;
    assert!(
        page.body.contains("the permissions are granted"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Permissions granted on "));

    // Now Bob can register.
    app.mock
        .script([Scripted::status(201).body(json!({"id": BOB.personal}))]);
    let page = bob.visit("/preferences").await;
    let page = bob
        .submit("/preferences/register", &csrf_of(&page.body))
        .await;
    assert!(page.body.contains("You are registered."), "{}", page.body);
    wait_post(&app, "welcome card", |(_, c, h, _)| {
        c == BOB.personal && h == "Welcome to Switchboard"
    })
    .await;
    let page = bob.visit("/preferences").await;
    assert!(
        page.body.contains("does not know you as an agent yet"),
        "Bob is not in the directory: the page says so"
    );
}

#[tokio::test]
async fn without_sign_in_configured_the_page_explains_demo_mode() {
    let app = crate::helpers::spawn_app_with(TestConfig::anonymous()).await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/preferences").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("demo mode"), "{}", page.body);
    let page = browser.get("/preferences/signin").await;
    assert_eq!(
        (page.status, page.code.as_deref()),
        (404, Some("signin_not_configured"))
    );
}
