//! The engine: a customer chat from the workflow to an agent and back, the reporting facts,
//! and a restart that resumes sessions, queues and timers exactly where they were.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use switchboard::clock::ManualClock;
use switchboard::directory::model::{Service, User};
use switchboard::distribution::{OfferOutcome, Presence};
use switchboard::engine::actor::Engine;
use switchboard::engine::{
    core::Core,
    messages::{Command, Customer, Effect, Fact, Outcome, SessionState},
};
use switchboard::store::AsPool;
use tokio_util::sync::CancellationToken;

use crate::helpers::spawn_app;

pub(crate) fn setup() -> Vec<Command> {
    let service: Service = serde_json::from_value(json!({
        "id": "support", "name": "Support", "workflow": "support-im",
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true},
        "members": ["u1", "u2"]
    }))
    .expect("service");
    let workflow: Value =
        serde_json::from_str(include_str!("../workflows/support.json")).expect("workflow");
    let user = |id: &str| -> User {
        serde_json::from_value(
            json!({"id": id, "upn": format!("{id}@example.com"), "displayName": id,
            "licenses": {"im": true}, "activeIn": ["support"]}),
        )
        .expect("user")
    };
    vec![
        Command::UpsertWorkflow { document: workflow },
        Command::UpsertService {
            service: Box::new(service),
        },
        Command::UpsertUser {
            user: Box::new(user("u1")),
            registered: true,
            presence: Presence::Available,
        },
        Command::UpsertUser {
            user: Box::new(user("u2")),
            registered: true,
            presence: Presence::Available,
        },
    ]
}

/// The start of a session on `support` for Ada.
pub fn start(session: &str) -> Command {
    Command::StartSession {
        session: session.into(),
        service: "support".into(),
        channel: "interact".into(),
        customer: Customer {
            display_name: "Ada".into(),
            email: "ada@example.com".into(),
        },
        parameters: BTreeMap::new(),
        first_message: None,
    }
}

/// Sets up the directory in `engine`, starts chat s1 and answers its question: u1 is invited.
async fn queue_first_chat(engine: &Engine) {
    for command in setup() {
        engine.send(command).await.expect("setup");
    }
    engine.send(start("s1")).await.expect("start");
    let effects = engine
        .send(Command::CustomerMessage {
            session: "s1".into(),
            text: "Technical".into(),
            seq: None,
        })
        .await
        .expect("answer");
    assert_eq!(invitations(&effects), vec![(1, "u1".to_owned())]);
}

fn invitations(effects: &[Effect]) -> Vec<(u64, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::SendInvitation { offer, user, .. } => Some((*offer, user.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_chat_goes_from_the_workflow_to_an_agent_and_ends_with_one_outcome_per_session_and_offer() {
    let mut core = Core::default();
    for command in setup() {
        core.handle(command, 0);
    }
    let effects = core.handle(start("s1"), 1000);
    assert!(effects.iter().any(|e| matches!(e, Effect::ToCustomer { text: Some(t), .. } if t == "Hello Ada, thanks for contacting Support.")));
    let effects = core.handle(
        Command::CustomerMessage {
            session: "s1".into(),
            text: "Technical".into(),
            seq: None,
        },
        2000,
    );
    let offered = invitations(&effects);
    assert_eq!(offered, vec![(1, "u1".to_owned())]);
    assert_eq!(core.sessions["s1"].state, SessionState::Queued);

    let effects = core.handle(
        Command::Accept {
            offer: 1,
            user: "u1".into(),
        },
        3000,
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::OpenChatroom { session, user, brief }
            if session == "s1" && user == "u1" && brief.service == "Support"
                && brief.customer.display_name == "Ada"
                && brief.first_message.as_deref() == Some("Technical")
    )));
    let effects = core.handle(
        Command::CustomerMessage {
            session: "s1".into(),
            text: "my printer".into(),
            seq: None,
        },
        4000,
    );
    assert_eq!(
        effects,
        vec![Effect::RelayToAgent {
            session: "s1".into(),
            user: "u1".into(),
            text: "my printer".into(),
            seq: None,
        }]
    );

    let effects = core.handle(
        Command::EndSession {
            session: "s1".into(),
        },
        60_000,
    );
    let facts: Vec<&Fact> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Report(f) => Some(f),
            _ => None,
        })
        .collect();
    assert!(
        matches!(
            facts.as_slice(),
            [Fact::SessionEnded { outcome: Outcome::Handled, agent: Some(a), created_at: 1000, queued_at: Some(2000), accepted_at: Some(3000), ended_at: 60_000, .. }] if a == "u1"
        ),
        "{facts:?}"
    );
    assert!(core.sessions.is_empty());
    // The returning customer is offered first to the agent who handled them, once free.
    core.handle(Command::AcwDone { user: "u1".into() }, 61_000);
    core.handle(start("s2"), 62_000);
    let effects = core.handle(
        Command::CustomerMessage {
            session: "s2".into(),
            text: "Technical".into(),
            seq: None,
        },
        63_000,
    );
    assert_eq!(invitations(&effects), vec![(2, "u1".to_owned())]);
}

#[test]
fn a_customer_who_leaves_while_ringing_is_abandoned_and_the_offer_cancelled() {
    let mut core = Core::default();
    for command in setup() {
        core.handle(command, 0);
    }
    core.handle(start("s1"), 0);
    core.handle(
        Command::CustomerMessage {
            session: "s1".into(),
            text: "Technical".into(),
            seq: None,
        },
        1000,
    );
    let effects = core.handle(
        Command::CustomerLeft {
            session: "s1".into(),
            inactive: false,
        },
        2000,
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::UpdateInvitation {
            outcome: OfferOutcome::Cancelled(_),
            ..
        }
    )));
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Report(Fact::SessionEnded {
            outcome: Outcome::Abandoned,
            ..
        })
    )));
    assert!(core.distribution.tasks.is_empty() && core.distribution.offers.is_empty());
}

/// A snapshot written under other distribution rules may hold a queued chat that a free agent
/// could take (as when a chat every agent missed was left waiting): the engine offers it when
/// it starts, before any command arrives.
#[tokio::test]
async fn at_start_the_engine_offers_what_a_restored_snapshot_left_waiting() {
    let app = spawn_app().await;
    let pool = app.state.pool.clone();
    let clock = Arc::new(ManualClock::default());
    let now = switchboard::clock::Clock::now_ms(clock.as_ref());
    let mut core = Core::default();
    for command in setup() {
        core.handle(command, now);
    }
    let mut away = setup();
    for command in &mut away {
        if let Command::UpsertUser { presence, .. } = command {
            *presence = Presence::Away;
        }
    }
    for command in away {
        core.handle(command, now);
    }
    core.handle(start("s1"), now);
    core.handle(
        Command::CustomerMessage {
            session: "s1".into(),
            text: "Technical".into(),
            seq: None,
        },
        now,
    );
    assert!(
        core.distribution.offers.is_empty() && core.distribution.queues["support"].len() == 1,
        "queued while everyone is away"
    );
    // The stored state of another version: u1 free, and no pass made for it.
    let u1 = core.distribution.agents.get_mut("u1").expect("u1");
    u1.presence = Presence::Available;
    let key = (u1.idle_since, u1.id.clone());
    core.distribution.free.insert(key);
    core.distribution.dirty = false;
    core.distribution.check_indexes().expect("indexes");
    let state = serde_json::to_string(&core).expect("state");
    switchboard::db!(pool.on(), |c| {
        sqlx::query(
            "INSERT INTO engine_snapshots (tenant_id, seq, state, taken_at) VALUES ('tenant-s', 7, $1, 0)",
        )
        .bind(&state)
        .execute(c)
        .await
        .map(|_| ())
    })
    .expect("snapshot");

    let stop = CancellationToken::new();
    let (_engine, actor) = Engine::start(pool.clone(), "tenant-s", clock, stop.clone())
        .await
        .expect("start");
    let invited = app
        .count(
            "SELECT COUNT(*) FROM engine_effects WHERE tenant_id = 'tenant-s' AND kind = 'sendInvitation'",
        )
        .await;
    assert_eq!(invited, 1, "the waiting chat is offered at start");
    stop.cancel();
    actor.await.expect("actor stops");
}

#[tokio::test]
async fn a_restart_resumes_the_queue_and_its_ring_timer_and_keeps_the_reporting_facts() {
    let app = spawn_app().await;
    let pool = app.state.pool.clone();
    let clock = Arc::new(ManualClock::default());
    let t0 = switchboard::clock::Clock::now_ms(clock.as_ref());

    let stop = CancellationToken::new();
    let (engine, actor) = Engine::start(pool.clone(), "tenant-1", clock.clone(), stop.clone())
        .await
        .expect("start");
    queue_first_chat(&engine).await;
    // The effects were stored with the command.
    let stored = app
        .count("SELECT COUNT(*) FROM engine_effects WHERE tenant_id = 'tenant-1'")
        .await;
    assert!(stored > 0);
    stop.cancel();
    actor.await.expect("actor stops");

    // Restart: the session is still queued and ringing u1, with the same deadline.
    let stop = CancellationToken::new();
    let (engine, actor) = Engine::start(pool.clone(), "tenant-1", clock.clone(), stop.clone())
        .await
        .expect("restart");
    clock.advance(chrono::Duration::seconds(30));
    let effects = engine.send(Command::Tick).await.expect("tick");
    assert!(
        effects.iter().any(|e| matches!(
            e,
            Effect::UpdateInvitation {
                offer: 1,
                outcome: OfferOutcome::Rona,
                ..
            }
        )),
        "{effects:?}"
    );
    assert_eq!(
        invitations(&effects),
        vec![(2, "u2".to_owned())],
        "RONA, then the next agent"
    );
    engine
        .send(Command::Accept {
            offer: 2,
            user: "u2".into(),
        })
        .await
        .expect("accept");
    engine
        .send(Command::EndSession {
            session: "s1".into(),
        })
        .await
        .expect("end");
    stop.cancel();
    actor.await.expect("actor stops");

    let sessions = switchboard::db!(pool.on(), |c| {
        sqlx::query_as::<_, (String, Option<String>, i64, Option<i64>)>(
            "SELECT outcome, agent, created_at, offered_at FROM report_sessions WHERE tenant_id = 'tenant-1'",
        )
        .fetch_all(c)
        .await
    })
    .expect("report");
    assert_eq!(sessions.len(), 1);
    let (outcome, agent, created_at, offered_at) = &sessions[0];
    assert_eq!(outcome, "handled");
    assert_eq!(agent.as_deref(), Some("u2"));
    assert_eq!(*created_at, t0);
    assert_eq!(
        *offered_at,
        Some(t0),
        "the first invitation, before the restart"
    );
    let offers = app
        .texts(
            "SELECT outcome FROM report_offers WHERE tenant_id = 'tenant-1' ORDER BY offer_id",
            &[],
        )
        .await;
    assert_eq!(offers, vec!["rona", "accepted"]);
}

#[tokio::test]
async fn after_a_crash_the_replayed_log_behaves_exactly_like_the_engine_that_crashed() {
    let app = spawn_app().await;
    let pool = app.state.pool.clone();
    let clock = Arc::new(ManualClock::default());
    let now = || switchboard::clock::Clock::now_ms(clock.as_ref());
    let (engine, actor) = Engine::start(pool.clone(), "t", clock.clone(), CancellationToken::new())
        .await
        .expect("start");
    let mut shadow = Core::default();
    let mut commands = setup();
    commands.extend([
        start("a"),
        start("b"),
        Command::CustomerMessage {
            session: "a".into(),
            text: "Billing".into(),
            seq: None,
        },
    ]);
    for command in commands {
        let effects = engine.send(command.clone()).await.expect("send");
        assert_eq!(effects, shadow.handle(command, now()));
        clock.advance(chrono::Duration::milliseconds(250));
    }
    // A crash: no shutdown snapshot, only the log.
    actor.abort();
    let _ = actor.await;
    let (engine, _actor) =
        Engine::start(pool.clone(), "t", clock.clone(), CancellationToken::new())
            .await
            .expect("restart");
    clock.advance(chrono::Duration::seconds(40));
    for command in [
        Command::Tick,
        Command::CustomerMessage {
            session: "b".into(),
            text: "Technical".into(),
            seq: None,
        },
        Command::Decline {
            offer: 2,
            user: "u2".into(),
        },
        Command::CustomerLeft {
            session: "a".into(),
            inactive: false,
        },
    ] {
        let effects = engine.send(command.clone()).await.expect("send");
        assert_eq!(effects, shadow.handle(command, now()));
    }
}

mod send_http_request {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use axum::Router;
    use axum::routing::get;
    use serde_json::json;
    use switchboard::config::Network;
    use switchboard::engine::http_request::execute;

    async fn server() -> String {
        let app = Router::new()
            .route(
                "/crm",
                get(|| async { axum::Json(json!({"customer": {"tier": "gold"}})) }),
            )
            .route(
                "/moved",
                get(|| async {
                    axum::response::Redirect::temporary("http://127.0.0.1:1/elsewhere")
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "late"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_loopback_target_is_refused_unless_the_tenant_allows_it() {
        let base = server().await;
        let refused = execute(
            "GET",
            &format!("{base}/crm"),
            &BTreeMap::new(),
            None,
            5,
            &[],
        )
        .await;
        assert_eq!(refused.status, None, "loopback is refused by default");
        let allowed = [Network::parse("127.0.0.0/8").expect("net")];
        let done = execute(
            "GET",
            &format!("{base}/crm"),
            &BTreeMap::new(),
            None,
            5,
            &allowed,
        )
        .await;
        assert_eq!(done.status, Some(200));
        assert_eq!(done.body, Some(json!({"customer": {"tier": "gold"}})));
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_slow_targets_time_out() {
        let base = server().await;
        let allowed = [Network::parse("127.0.0.0/8").expect("net")];
        let moved = execute(
            "GET",
            &format!("{base}/moved"),
            &BTreeMap::new(),
            None,
            5,
            &allowed,
        )
        .await;
        assert_eq!(moved.status, Some(307));
        let slow = execute(
            "GET",
            &format!("{base}/slow"),
            &BTreeMap::new(),
            None,
            1,
            &allowed,
        )
        .await;
        assert_eq!(slow.status, None);
    }

    #[tokio::test]
    async fn private_and_metadata_addresses_are_refused_before_any_connection() {
        use switchboard::engine::http_request::{TargetRefused, vet};
        for url in [
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/",
            "http://[::1]:9/",
            "http://localhost:9/",
        ] {
            let refused = vet(&url::Url::parse(url).expect("url"), &[]).await;
            assert!(
                matches!(refused, Err(TargetRefused::Internal(_))),
                "{url}: {refused:?}"
            );
        }
        let ftp = vet(&url::Url::parse("ftp://example.com/").expect("url"), &[]).await;
        assert_eq!(ftp, Err(TargetRefused::BadUrl));
    }
}

#[test]
fn a_tenant_with_im_disabled_gets_no_workflow_and_the_session_fails() {
    use switchboard::directory::Tenant;
    let mut core = Core::default();
    for command in setup() {
        core.handle(command, 0);
    }
    let tenant = Tenant {
        id: "t".into(),
        name: "T".into(),
        im_enabled: false,
        http_allowed_networks: Vec::new(),
    };
    core.handle(
        Command::UpsertTenant {
            tenant: Box::new(tenant),
        },
        0,
    );
    let effects = core.handle(start("s1"), 1);
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Report(Fact::SessionEnded {
            outcome: Outcome::Failed,
            ..
        })
    )));
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::ToCustomer { text: Some(_), .. }))
    );
}

#[test]
fn a_direct_chat_goes_straight_to_a_user_with_the_interact_license_and_is_refused_otherwise() {
    let mut core = Core::default();
    for command in setup() {
        core.handle(command, 0);
    }
    let direct: User = serde_json::from_value(
        json!({"id": "d1", "upn": "d1@example.com", "displayName": "Dana",
        "licenses": {"interact": true}, "interact": {"enabled": true, "instantMessage": true}}),
    )
    .expect("user");
    core.handle(
        Command::UpsertUser {
            user: Box::new(direct),
            registered: true,
            presence: Presence::Available,
        },
        0,
    );
    let customer = Customer {
        display_name: "Ada".into(),
        email: "ada@example.com".into(),
    };
    let effects = core.handle(
        Command::StartDirectSession {
            session: "d".into(),
            user: "d1".into(),
            customer: customer.clone(),
            first_message: None,
        },
        10,
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::OpenChatroom { session, user, .. } if session == "d" && user == "d1"
    )));
    assert!(
        core.distribution.queues.values().all(|q| q.is_empty()),
        "no queue"
    );
    assert!(
        core.distribution.agents["d1"].connected.contains("d"),
        "the chat counts against the user's capacity"
    );
    let effects = core.handle(
        Command::EndSession {
            session: "d".into(),
        },
        20,
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Report(Fact::SessionEnded {
            outcome: Outcome::Handled,
            ..
        })
    )));

    // u1 has only the IM license: no direct chats.
    let effects = core.handle(
        Command::StartDirectSession {
            session: "x".into(),
            user: "u1".into(),
            customer,
            first_message: None,
        },
        30,
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Report(Fact::SessionEnded {
            outcome: Outcome::Failed,
            ..
        })
    )));
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::OpenChatroom { .. }))
    );
}

#[tokio::test]
async fn the_application_resumes_every_tenants_engine_at_boot() {
    use crate::helpers::{TestConfig, spawn_app_on};
    use crate::mock_bf::MockBotFramework;

    let clock = Arc::new(ManualClock::default());
    let mock = MockBotFramework::start().await;
    let app = spawn_app_on(mock.clone(), TestConfig::default().clock(clock.clone())).await;
    let engine = app.state.engines.get("tenant-9").await.expect("engine");
    queue_first_chat(&engine).await;
    let config = app.stop().await;

    let app = spawn_app_on(mock, config).await;
    assert_eq!(
        app.state.engines.running().await,
        vec!["tenant-9".to_owned()],
        "started at boot, not on demand"
    );
    clock.advance(chrono::Duration::seconds(31));
    let engine = app.state.engines.get("tenant-9").await.expect("engine");
    let effects = engine.send(Command::Tick).await.expect("tick");
    assert_eq!(
        invitations(&effects),
        vec![(2, "u2".to_owned())],
        "the ring timer survived the restart"
    );
}

/// Random command sequences through the whole engine: a session is never in two states (the
/// engine's and distribution's views agree), never gets two outcomes or two agents, offers end
/// once, capacity holds, and the indexes stay in step.
#[test]
fn random_command_sequences_keep_the_engine_consistent() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use switchboard::distribution::model::Phase;

    let mut totals = (0, 0);
    for seed in 0..60u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut core = Core::default();
        for command in setup() {
            core.handle(command, 0);
        }
        let mut now = 0;
        let mut ended = std::collections::BTreeMap::<String, usize>::new();
        let mut offers_ended = std::collections::BTreeMap::<u64, usize>::new();
        let mut opened = std::collections::BTreeMap::<String, usize>::new();
        let mut next = 0;
        for step in 0..250 {
            now += rng.random_range(0..15_000);
            let pick = |rng: &mut StdRng| format!("s{}", rng.random_range(0..next.max(1)));
            let offer = core.distribution.offers.keys().next().copied();
            let command = match rng.random_range(0..10) {
                0 | 1 => {
                    next += 1;
                    start(&format!("s{}", next - 1))
                }
                2 => Command::CustomerMessage {
                    session: pick(&mut rng),
                    text: ["Technical", "Billing", "?"][rng.random_range(0..3)].into(),
                    seq: None,
                },
                3 => match offer {
                    Some(o) => Command::Accept {
                        offer: o,
                        user: core.distribution.offers[&o].user.clone(),
                    },
                    None => Command::Tick,
                },
                4 => match offer {
                    Some(o) => Command::Decline {
                        offer: o,
                        user: core.distribution.offers[&o].user.clone(),
                    },
                    None => Command::Tick,
                },
                5 => Command::CustomerLeft {
                    session: pick(&mut rng),
                    inactive: false,
                },
                6 => Command::EndSession {
                    session: pick(&mut rng),
                },
                7 => Command::AcwDone {
                    user: ["u1", "u2"][rng.random_range(0..2)].into(),
                },
                8 => Command::Accept {
                    offer: rng.random_range(1..20),
                    user: "u1".into(),
                },
                _ => Command::Tick,
            };
            for effect in core.handle(command, now) {
                match effect {
                    Effect::Report(Fact::SessionEnded { session, .. }) => {
                        *ended.entry(session).or_default() += 1
                    }
                    Effect::Report(Fact::OfferEnded { offer, .. }) => {
                        *offers_ended.entry(offer).or_default() += 1
                    }
                    Effect::OpenChatroom { session, .. } => {
                        *opened.entry(session).or_default() += 1
                    }
                    _ => {}
                }
            }
            let context = format!("seed {seed} step {step}");
            assert!(
                ended.values().all(|n| *n == 1),
                "{context}: a session ended twice"
            );
            assert!(
                offers_ended.values().all(|n| *n == 1),
                "{context}: an offer ended twice"
            );
            assert!(
                opened.values().all(|n| *n == 1),
                "{context}: two agents on one chat"
            );
            core.distribution
                .check_indexes()
                .unwrap_or_else(|e| panic!("{context}: {e}"));
            // Idle is idle: a tick at `now` leaves nothing due at `now` (an ended session's
            // run timer once stayed due for ever, and the actor ticked without end).
            let mut ticked = core.clone();
            ticked.handle(Command::Tick, now);
            assert!(
                ticked.next_deadline().is_none_or(|t| t > now),
                "{context}: a tick at {now} leaves a deadline due ({:?})",
                ticked.next_deadline()
            );
            for a in core.distribution.agents.values() {
                assert!(
                    a.connected.len() as u32 <= a.capacity,
                    "{context}: capacity"
                );
            }
            for session in ended.keys() {
                assert!(
                    !core.sessions.contains_key(session)
                        && !core.distribution.tasks.contains_key(session),
                    "{context}: {session} ended but alive"
                );
            }
            for (id, s) in &core.sessions {
                let task = core.distribution.tasks.get(id).map(|t| &t.phase);
                let agrees = match s.state {
                    SessionState::Workflow => task.is_none(),
                    SessionState::Queued => matches!(task, Some(Phase::Queued | Phase::Ringing(_))),
                    SessionState::Connected => matches!(task, Some(Phase::Connected(_))),
                    SessionState::Ended => false,
                };
                assert!(
                    agrees,
                    "{context}: session {id} is {:?} but its task is {task:?}",
                    s.state
                );
            }
        }
        totals.0 += ended.len();
        totals.1 += opened.len();
    }
    assert!(
        totals.0 > 500 && totals.1 > 100,
        "the sequences exercise the engine: {totals:?}"
    );
}

#[tokio::test]
async fn a_workflow_http_request_is_performed_and_its_result_continues_the_workflow() {
    use axum::routing::get;
    use switchboard::directory::Tenant;
    use switchboard::directory::store::{self as docs, Kind};

    let crm = axum::Router::new().route(
        "/customer",
        get(|| async { axum::Json(json!({"tier": "gold"})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let crm_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, crm).await.expect("serve") });

    let app = spawn_app().await;
    let pool = app.state.pool.clone();
    let tenant = Tenant {
        id: "t-http".into(),
        name: "T".into(),
        im_enabled: true,
        http_allowed_networks: vec!["127.0.0.0/8".into()],
    };
    docs::put(&pool, "t-http", Kind::Tenant, "t-http", &tenant, None, 0)
        .await
        .expect("tenant");

    let engine = app.state.engines.get("t-http").await.expect("engine");
    let mut commands = setup();
    commands[0] = Command::UpsertWorkflow {
        document: json!({"id": "support-im", "name": "Lookup", "start": "a", "activities": {
            "a": {"type": "Accept", "next": "h"},
            "h": {"type": "SendHttpRequest", "url": format!("http://{crm_addr}/customer"), "saveTo": {"tier": "/tier"},
                  "exits": {"success": "ok", "failure": "ko"}},
            "ok": {"type": "Disconnect", "text": "tier ${tier}"},
            "ko": {"type": "Disconnect", "text": "lookup failed"}
        }}),
    };
    for command in commands {
        engine.send(command).await.expect("setup");
    }
    let effects = engine.send(start("s1")).await.expect("start");
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::HttpRequest { .. }))
    );

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let outcome = app
            .text(
                "SELECT outcome FROM report_sessions WHERE tenant_id = 't-http' AND session_id = 's1'",
                &[],
            )
            .await;
        if let Some(outcome) = outcome {
            assert_eq!(outcome, "cancelled", "disconnected by the workflow");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the HTTP result never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let said = app
        .texts(
            "SELECT effect FROM engine_effects WHERE tenant_id = 't-http' ORDER BY id",
            &[],
        )
        .await;
    assert!(said.iter().any(|e| e.contains("tier gold")), "{said:?}");
}

#[tokio::test]
async fn restart_while_queued_keeps_the_queue_position_and_the_workflow_timer() {
    use crate::helpers::{TestConfig, spawn_app_on};
    use crate::mock_bf::MockBotFramework;

    let clock = Arc::new(ManualClock::default());
    let mock = MockBotFramework::start().await;
    let app = spawn_app_on(mock.clone(), TestConfig::default().clock(clock.clone())).await;
    let engine = app.state.engines.get("t-q").await.expect("engine");
    for command in setup() {
        engine.send(command).await.expect("setup");
    }
    for session in ["s1", "s2", "s3"] {
        engine.send(start(session)).await.expect("start");
        engine
            .send(Command::CustomerMessage {
                session: session.into(),
                text: "Technical".into(),
                seq: None,
            })
            .await
            .expect("answer");
    }
    let config = app.stop().await;

    let app = spawn_app_on(mock, config).await;
    clock.advance(chrono::Duration::seconds(61));
    let engine = app.state.engines.get("t-q").await.expect("engine");
    let effects = engine.send(Command::Tick).await.expect("tick");
    let told = |session: &str| -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::ToCustomer {
                    session: s,
                    text: Some(t),
                    ..
                } if s == session => Some(t.clone()),
                _ => None,
            })
            .collect()
    };
    // s1 and s2 rang out (RONA) and went back ahead of s3, which kept its place behind them.
    assert_eq!(told("s1"), vec!["You are number 1 in the queue."]);
    assert_eq!(told("s3"), vec!["You are number 3 in the queue."]);
}

#[tokio::test]
async fn upserts_of_what_the_engine_already_holds_are_not_logged_again() {
    let app = spawn_app().await;
    let engine = app.state.engines.get("t-noop").await.expect("engine");
    let logged = || app.count("SELECT COUNT(*) FROM engine_log WHERE tenant_id = 't-noop'");
    let commands = setup();
    for command in &commands {
        engine.send(command.clone()).await.expect("setup");
    }
    let first = logged().await;
    assert_eq!(first, commands.len() as i64);
    // The same workflow, service and users again (as every session start and every sync at
    // boot sends them): nothing logged.
    for command in &commands {
        engine.send(command.clone()).await.expect("again");
    }
    assert_eq!(logged().await, first);
    // A user whose registration changed is logged.
    let Command::UpsertUser { user, presence, .. } = &commands[2] else {
        panic!("setup order")
    };
    engine
        .send(Command::UpsertUser {
            user: user.clone(),
            registered: false,
            presence: *presence,
        })
        .await
        .expect("unregistered");
    assert_eq!(logged().await, first + 1);
    let first = first + 1;
    // A changed service is logged and takes effect.
    let Command::UpsertService { service } = &commands[1] else {
        panic!("setup order")
    };
    let mut changed = service.clone();
    changed.name = "Support (renamed)".into();
    engine
        .send(Command::UpsertService { service: changed })
        .await
        .expect("changed");
    assert_eq!(logged().await, first + 1);
}
