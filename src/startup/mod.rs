//! Building and running the application. `main` and every test go through
//! [`Application::build`], so tests exercise the same wiring as production.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::{App, AppState};
use crate::botframework::auth::InboundAuth;
use crate::botframework::auth::jwks::JwksCache;
use crate::botframework::connector::ConnectorClient;
use crate::botframework::retry::Backoff;
use crate::botframework::tokens::AccessTokens;
use crate::cards::CardCatalog;
use crate::clock::{Clock, SystemClock};
use crate::config::{BotAuth, Settings};
use crate::customer::events::EventHub;
use crate::engine::effects::EffectQueue;
use crate::engine::registry::Engines;
use crate::outbox::{Dispatcher, Outbox};
use crate::store;
use crate::store::conversations::ConversationReferences;

mod owner;
use owner::{advertise_default, own, take_over};

/// The routes of every HTTP edge: the bot's `/api/messages`, the customer API and pages, the
/// admin API with its reports, the Preferences page, the WhatsApp webhook and `/metrics`.
fn edges(simulator: Option<Arc<crate::whatsapp::simulator::Simulator>>) -> Router<AppState> {
    Router::new()
        .route("/metrics", get(crate::reporting::metrics))
        .route(
            "/api/messages",
            post(crate::bot::messages).fallback(crate::http::method_not_allowed),
        )
        .nest("/api/interact/v1", crate::interact::router())
        .nest(
            "/api/admin/v1",
            crate::admin::router().merge(crate::reporting::router()),
        )
        .merge(crate::interact::pages::router())
        .merge(crate::preferences::router())
        .merge(crate::bot::tab::router())
        .merge(crate::whatsapp::router(simulator))
}

/// A built, not yet running, service.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    dispatcher: Dispatcher,
    /// The WhatsApp simulator of anonymous dev mode (`None` in every other mode).
    whatsapp_simulator: Option<Arc<crate::whatsapp::simulator::Simulator>>,
    /// This process's hold on an SQLite file, kept until it stops serving.
    claim: store::Claim,
    /// Whether this instance owns the tenants from the start (always, on SQLite).
    owns: bool,
}

/// The one outbound HTTP client: timeouts, a user agent, and no redirects (a redirect must
/// never carry a bearer token or a client secret somewhere else).
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")
}

impl Application {
    /// Builds the service with the real clock.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the service: opens the store, binds the listener, wires the adapters.
    pub async fn build_with_clock(
        mut settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        match &settings.bot.auth {
            BotAuth::Anonymous => tracing::warn!(
                server.bind = %settings.server.bind,
                "ANONYMOUS DEV MODE: no bot.app_id is configured, so /api/messages accepts \
                 requests WITHOUT authentication and no Bot Framework token is requested. \
                 Loopback only; never expose this to a network."
            ),
            BotAuth::Credentials(c) => tracing::info!(
                bot.app_type = ?c.app_type,
                "Bot Framework authentication enabled"
            ),
        }
        let cards = Arc::new(
            CardCatalog::load(settings.cards.dir.as_deref())
                .context("loading the card templates")?,
        );
        tracing::info!(
            store.url = %store::loggable_url(&settings.store.url),
            "opening the store"
        );
        let instance = crate::cluster::new_instance_id();
        let (pool, claim) = store::connect_to_serve(
            &settings.store.url,
            &crate::cluster::application_name(&instance),
        )
        .await?;

        let http = http_client()?;
        let keys = Arc::new(JwksCache::new(
            http.clone(),
            Arc::clone(&clock),
            settings.bot.jwks_refresh_interval,
            settings.bot.jwks_unknown_kid_interval,
        ));
        let inbound_auth = Arc::new(InboundAuth::new(
            &settings.bot,
            Arc::clone(&keys),
            Arc::clone(&clock),
        ));
        let http_for_signin = http.clone();
        let http_for_app = http.clone();
        let http_for_simulator = http.clone();
        let tokens = Arc::new(match &settings.bot.auth {
            BotAuth::Anonymous => AccessTokens::anonymous(),
            BotAuth::Credentials(c) => AccessTokens::client_credentials(
                http.clone(),
                &c.token_url,
                &c.app_id,
                &c.app_password,
            ),
        });
        let graph = Arc::new(crate::graph::GraphClient::new(
            http.clone(),
            settings.graph.base_url.clone(),
            match &settings.bot.auth {
                BotAuth::Anonymous => None,
                BotAuth::Credentials(c) => Some((
                    c.app_id.clone(),
                    c.app_password.clone(),
                    settings.graph.token_url.clone(),
                )),
            },
            settings.graph.teams_app_id.clone(),
        ));
        let connector = Arc::new(
            ConnectorClient::new(
                http,
                tokens,
                settings.bot.allowed_service_urls.clone(),
                Backoff {
                    base: settings.outbox.retry_base,
                    max: settings.outbox.retry_max,
                },
                settings.outbox.attempts_per_claim,
            )
            .with_tenant_rate(settings.outbox.tenant_requests_per_second),
        );
        let outbox = Arc::new(Outbox::new(pool.clone(), Arc::clone(&clock)));
        let whatsapp_inbound = Arc::new(tokio::sync::Notify::new());
        let whatsapp_writer = crate::store::whatsapp::InboundWriter::start(
            pool.clone(),
            Arc::clone(&clock),
            Arc::clone(&whatsapp_inbound),
        );

        let max_connections = connection_budget(settings.server.max_connections);
        let connections = crate::http::serve::Connections::new(crate::http::serve::ServerLimits {
            header_read_timeout: settings.server.header_read_timeout,
            idle_timeout: settings.server.idle_timeout,
            max_connections,
            max_connections_per_address: settings.server.max_connections_per_address,
            trusted_proxies: settings.server.trusted_proxies.clone(),
        });
        let streams = crate::http::streams::Streams::new(
            settings.server.max_streams_per_session,
            settings.server.max_streams_per_address,
        );
        let listener = TcpListener::bind(settings.server.bind)
            .await
            .with_context(|| format!("binding {}", settings.server.bind))?;
        let public_base = match &settings.server.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", listener.local_addr()?),
        };
        // On PostgreSQL, the instances share the database: this one owns the tenants now if
        // nobody else does, and otherwise waits to take them over.
        let cluster = match &pool {
            store::Db::Postgres(pg, fence, _) => {
                let advertise_url = match &settings.cluster.advertise_url {
                    Some(url) => url.as_str().trim_end_matches('/').to_owned(),
                    None => advertise_default(listener.local_addr()?),
                };
                let cluster = crate::cluster::Cluster::join(
                    pg.clone(),
                    Arc::clone(fence),
                    instance,
                    advertise_url,
                    settings.cluster.lease,
                )
                .await?;
                tracing::info!(
                    cluster.instance = cluster.instance(),
                    cluster.advertise_url = cluster.advertise_url(),
                    "joined the instances of the PostgreSQL store"
                );
                Some(cluster)
            }
            store::Db::Sqlite(..) => None,
        };
        let owns = match &cluster {
            Some(cluster) => cluster.try_take().await?,
            None => true,
        };
        let stopping = CancellationToken::new();
        let whatsapp_simulator = crate::whatsapp::simulator::start(
            &mut settings,
            &http_for_simulator,
            listener.local_addr()?,
            Arc::clone(&clock),
            stopping.clone(),
        )
        .await?;
        let whatsapp_cloud = Arc::new(crate::whatsapp_cloud::client::CloudClient::new(
            settings.whatsapp.graph_base_url.as_str(),
        )?);
        let dispatcher = Dispatcher::new(
            Arc::clone(&outbox),
            Arc::clone(&connector),
            settings.outbox.clone(),
        )
        .with_whatsapp(Arc::clone(&whatsapp_cloud));
        let signin = match &settings.bot.auth {
            BotAuth::Anonymous => None,
            BotAuth::Credentials(c) => Some(Arc::new(crate::entra::Signin::new(
                http_for_signin,
                Arc::clone(&keys),
                &settings.preferences.authority_url,
                c,
                settings.bot.allowed_tenants.clone(),
                &public_base,
            )?)),
        };
        let effects = Arc::new(EffectQueue::new());
        let uploads_per_minute = settings.interact.uploads_per_minute;
        let state = AppState::new(App {
            settings,
            references: ConversationReferences::new(pool.clone()),
            cards,
            engines: Arc::new(Engines::new(
                pool.clone(),
                Arc::clone(&clock),
                Arc::clone(&effects),
                Arc::new(crate::webhooks::Recorder::new(outbox.waker())),
            )),
            events: Arc::new(EventHub::new(Arc::clone(&effects))),
            effects,
            limits: crate::http::limits::Limits::new(uploads_per_minute),
            session_gates: crate::customer::gates::SessionGates::default(),
            graph,
            resends: crate::botframework::resends::Resends::default(),
            barge_in_conversations: crate::store::superset::Superset::default(),
            chatroom_conversations: crate::store::superset::Superset::default(),
            in_order: crate::botframework::in_order::InOrder::default(),
            typing: moka::sync::Cache::builder()
                .time_to_idle(Duration::from_secs(60))
                .build(),
            public_base,
            signin,
            stopping,
            hot_reads: store::HotReads::open(&pool, 2)
                .await
                .context("opening the store's read connections")?,
            pool,
            clock,
            inbound_auth,
            connector,
            outbox,
            connections,
            streams,
            whatsapp_writer,
            whatsapp_inbound,
            whatsapp_media: Arc::new(tokio::sync::Notify::new()),
            whatsapp_counts: crate::whatsapp_cloud::Counts::default(),
            http_stats: crate::telemetry::HttpStats::default(),
            whatsapp_cloud,
            cluster,
            http: http_for_app,
        });
        if owns {
            take_over(&state, whatsapp_simulator.as_deref()).await?;
        } else {
            tracing::info!(
                "another instance owns the tenants: this one forwards to it, and takes over when it goes"
            );
        }
        Ok(Application {
            listener,
            state,
            dispatcher,
            whatsapp_simulator,
            claim,
            owns,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves HTTP and runs the workers until `shutdown` resolves, then drains. On a PostgreSQL
    /// store, an instance that does not own the tenants forwards to the owner until it takes
    /// them over; an owner that loses its lease stops, with an error.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr()?;
        let claim = self.claim;
        let stop = CancellationToken::new();
        let failed = CancellationToken::new();
        let owner = tokio::spawn(own(
            self.state.clone(),
            self.dispatcher,
            self.whatsapp_simulator.clone(),
            self.owns,
            stop.clone(),
            failed.clone(),
        ));
        let mut router = crate::http::router(self.state.clone(), edges(self.whatsapp_simulator));
        let lost = match &self.state.cluster {
            Some(cluster) => {
                router = router.layer(axum::middleware::from_fn_with_state(
                    Arc::clone(cluster),
                    crate::cluster::forward::route,
                ));
                cluster.lost().clone()
            }
            None => CancellationToken::new(),
        };
        tracing::info!(server.addr = %addr, "Switchboard listening; Bot Framework endpoint is /api/messages");
        let stop_serving = stop.clone();
        let stopping = self.state.stopping.clone();
        let (lost_serving, failed_serving) = (lost.clone(), failed.clone());
        let served = crate::http::serve::serve(
            self.listener,
            router,
            Arc::clone(&self.state.connections),
            async move {
                tokio::select! {
                    () = shutdown => {}
                    () = stop_serving.cancelled() => {}
                    () = lost_serving.cancelled() => {}
                    () = failed_serving.cancelled() => {}
                }
                tracing::info!("shutting down");
                stopping.cancel();
            },
        )
        .await;
        stop.cancel();
        if lost.is_cancelled() {
            // Nothing this instance writes can commit any more: its workers get a moment to
            // notice, and the process goes without waiting for them.
            let _ = tokio::time::timeout(Duration::from_secs(2), owner).await;
            anyhow::bail!(
                "this instance lost its lease on the tenants to another instance (paused or cut \
                 off for longer than cluster.lease_secs): it stops, and starts again as a follower"
            );
        }
        let owned = match owner.await {
            Ok(owned) => owned,
            Err(_) => Err(anyhow::anyhow!("the tenants' workers ended abnormally")),
        };
        if let Some(cluster) = &self.state.cluster {
            cluster.release().await;
        }
        self.state.pool.close().await;
        drop(claim);
        owned?;
        served.context("serving HTTP")
    }
}

/// How many connections the process can hold: `wanted`, unless the open-file limit (raised to
/// its hard maximum first) leaves less once the store, outbound calls and logs have theirs.
fn connection_budget(wanted: usize) -> usize {
    const RESERVED: u64 = 512;
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(error = %error, "could not read the open-file limit");
            return wanted;
        }
    };
    let room = usize::try_from(limit.saturating_sub(RESERVED).max(64)).unwrap_or(usize::MAX);
    if room < wanted {
        tracing::warn!(
            server.max_connections = wanted,
            open_file_limit = limit,
            used = room,
            "server.max_connections is more than the open-file limit allows; using less"
        );
    }
    wanted.min(room)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
