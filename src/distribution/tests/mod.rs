//! Distribution scenarios in plain words, on the pure state machine with a virtual clock; a
//! randomised test of its invariants (`invariants`) and a model-based one (`model_based`).

mod invariants;
mod model_based;

use crate::distribution::model::{Distribution, Priority};
use crate::distribution::{
    Agent, CancelReason, Decision, EnqueueRequest, Event, OfferOutcome, Presence, ServiceSettings,
    State, TaskOutcome,
};

const S: &str = "support";

fn service(settings: ServiceSettings) -> State {
    let mut state = State::default();
    state.apply(
        Event::UpsertService {
            id: S.into(),
            settings,
        },
        0,
    );
    state
}

/// Agents a, b, c… idle since 1, 2, 3… (so `a` is the longest idle).
fn with_agents(state: &mut State, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        state.apply(
            Event::UpsertAgent(Box::new(Agent::new(*name, i as i64 + 1).in_service(S))),
            5,
        );
    }
}

fn enqueue(session: &str, distribution: Distribution) -> Event {
    Event::Enqueue(EnqueueRequest {
        session: session.into(),
        service: S.into(),
        priority: Priority::Normal,
        distribution,
        ring_ms: 30_000,
        last_user: None,
    })
}

fn offers(effects: &[Decision]) -> Vec<(u64, String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Decision::Offered {
                offer,
                session,
                user,
                ..
            } => Some((*offer, session.clone(), user.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn direct_distribution_offers_the_longest_idle_agent_first() {
    let mut state = service(ServiceSettings::default());
    with_agents(&mut state, &["b", "a"]);
    // "b" was added first, so it has idled longer.
    let effects = state.apply(enqueue("s1", Distribution::Direct), 10);
    assert_eq!(offers(&effects), vec![(1, "s1".into(), "b".into())]);
}

#[test]
fn agent_misses_the_invitation_gets_rona_the_next_agent_is_invited_and_the_first_is_back_after_the_reset()
 {
    let mut state = service(ServiceSettings::default());
    with_agents(&mut state, &["a", "b"]);
    state.apply(enqueue("s1", Distribution::Direct), 0);
    assert_eq!(state.next_deadline(), Some(30_000));
    let effects = state.apply(Event::Tick, 30_000);
    assert!(effects.contains(&Decision::OfferEnded {
        offer: 1,
        session: "s1".into(),
        user: "a".into(),
        outcome: OfferOutcome::Rona
    }));
    assert!(effects.contains(&Decision::RonaSet {
        user: "a".into(),
        until: 630_000
    }));
    assert_eq!(offers(&effects), vec![(2, "s1".into(), "b".into())]);
    // "a" stays out until the reset, even for new tasks.
    let effects = state.apply(enqueue("s2", Distribution::Direct), 40_000);
    assert!(offers(&effects).is_empty());
    // Meanwhile "b" missed s1 too. When "a" is back, s1 — waiting longest — comes first,
    // although "a" missed it once: a task every agent passed is offered again.
    let effects = state.apply(Event::Tick, 630_000);
    assert!(effects.contains(&Decision::RonaCleared { user: "a".into() }));
    assert_eq!(offers(&effects), vec![(3, "s1".into(), "a".into())]);
}

#[test]
fn i_am_back_and_going_offline_reset_rona() {
    let mut state = service(ServiceSettings::default());
    with_agents(&mut state, &["a"]);
    state.apply(enqueue("s1", Distribution::Direct), 0);
    state.apply(Event::Tick, 30_000);
    let effects = state.apply(Event::RonaReset { user: "a".into() }, 31_000);
    assert!(effects.contains(&Decision::RonaCleared { user: "a".into() }));
    // "a" missed s1, but nobody else can take it: it is offered to "a" again.
    assert_eq!(offers(&effects), vec![(2, "s1".into(), "a".into())]);

    state.apply(enqueue("s2", Distribution::Direct), 32_000);
    state.apply(Event::Tick, 62_000);
    let mut offline = state.agents["a"].clone();
    offline.presence = Presence::Offline;
    let effects = state.apply(Event::UpsertAgent(Box::new(offline)), 63_000);
    assert!(effects.contains(&Decision::RonaCleared { user: "a".into() }));
}

#[test]
fn two_agents_broadcast_both_accept_at_once_exactly_one_wins_and_the_other_card_says_taken() {
    let mut state = service(ServiceSettings::default());
    with_agents(&mut state, &["a", "b"]);
    let effects = state.apply(enqueue("s1", Distribution::Broadcast), 0);
    assert_eq!(offers(&effects).len(), 2);
    let first = state.apply(
        Event::Accept {
            offer: 2,
            user: "b".into(),
        },
        1000,
    );
    assert!(first.contains(&Decision::Connected {
        session: "s1".into(),
        user: "b".into()
    }));
    assert!(first.contains(&Decision::OfferEnded {
        offer: 1,
        session: "s1".into(),
        user: "a".into(),
        outcome: OfferOutcome::Cancelled(CancelReason::Taken)
    }));
    let second = state.apply(
        Event::Accept {
            offer: 1,
            user: "a".into(),
        },
        1000,
    );
    assert_eq!(
        second,
        vec![Decision::AcceptRefused {
            offer: 1,
            user: "a".into()
        }]
    );
    let connected = |effects: &[Decision]| {
        effects
            .iter()
            .filter(|e| matches!(e, Decision::Connected { .. }))
            .count()
    };
    assert_eq!(connected(&first) + connected(&second), 1);
}

#[test]
fn broadcast_rings_at_most_ten_agents_and_sets_no_rona() {
    let mut state = service(ServiceSettings::default());
    let names: Vec<String> = (0..12).map(|i| format!("agent{i:02}")).collect();
    with_agents(
        &mut state,
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let effects = state.apply(enqueue("s1", Distribution::Broadcast), 0);
    assert_eq!(offers(&effects).len(), 10);
    let effects = state.apply(Event::Tick, 30_000);
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Decision::RonaSet { .. }))
    );
    // The two who were not rung come first, then eight of the ten who missed it: an
    // unanswered broadcast rings again rather than waiting for good.
    assert_eq!(
        offers(&effects)
            .iter()
            .map(|o| o.2.as_str())
            .collect::<Vec<_>>(),
        vec![
            "agent10", "agent11", "agent00", "agent01", "agent02", "agent03", "agent04", "agent05",
            "agent06", "agent07"
        ]
    );
}

#[test]
fn customer_leaves_while_ringing_the_offer_is_cancelled_and_the_outcome_is_abandoned() {
    let mut state = service(ServiceSettings::default());
    with_agents(&mut state, &["a"]);
    state.apply(enqueue("s1", Distribution::Direct), 0);
    let effects = state.apply(
        Event::Cancel {
            session: "s1".into(),
            reason: CancelReason::CustomerLeft,
        },
        5000,
    );
    assert_eq!(
        effects,
        vec![
            Decision::OfferEnded {
                offer: 1,
                session: "s1".into(),
                user: "a".into(),
                outcome: OfferOutcome::Cancelled(CancelReason::CustomerLeft)
            },
            Decision::TaskEnded {
                session: "s1".into(),
                outcome: TaskOutcome::Abandoned
            },
        ]
    );
    assert!(state.agents["a"].ringing.is_none());
    assert_eq!(
        state.apply(
            Event::Accept {
                offer: 1,
                user: "a".into()
            },
            6000
        ),
        vec![Decision::AcceptRefused {
            offer: 1,
            user: "a".into()
        }]
    );
}

#[test]
fn a_decline_passes_the_task_to_the_next_agent_and_persistent_rona_flags_the_decliner() {
    let mut state = service(ServiceSettings {
        persistent_rona: true,
        ..ServiceSettings::default()
    });
    with_agents(&mut state, &["a", "b"]);
    state.apply(enqueue("s1", Distribution::Direct), 0);
    let effects = state.apply(
        Event::Decline {
            offer: 1,
            user: "a".into(),
        },
        1000,
    );
    assert!(effects.contains(&Decision::RonaSet {
        user: "a".into(),
        until: 601_000
    }));
    assert_eq!(offers(&effects), vec![(2, "s1".into(), "b".into())]);
}

#[test]
fn capacity_limits_concurrent_chats() {
    let mut state = service(ServiceSettings {
        acw: crate::distribution::model::AcwSettings {
            duration_ms: 0,
            allow_early_end: true,
            extension_ms: None,
        },
        ..ServiceSettings::default()
    });
    let mut agent = Agent::new("a", 0).in_service(S);
    agent.capacity = 2;
    state.apply(Event::UpsertAgent(Box::new(agent)), 0);
    for (i, session) in ["s1", "s2", "s3"].iter().enumerate() {
        let effects = state.apply(enqueue(session, Distribution::Direct), i as i64);
        if let Some((offer, _, _)) = offers(&effects).first() {
            state.apply(
                Event::Accept {
                    offer: *offer,
                    user: "a".into(),
                },
                i as i64,
            );
        }
    }
    assert_eq!(state.agents["a"].connected.len(), 2);
    assert!(state.offers.is_empty(), "s3 waits");
    let effects = state.apply(
        Event::SessionEnded {
            session: "s1".into(),
        },
        100,
    );
    assert_eq!(offers(&effects), vec![(3, "s3".into(), "a".into())]);
}

#[test]
fn acw_blocks_new_offers_until_it_ends_early_or_on_time_and_extension_is_a_fresh_counter() {
    let mut state = service(ServiceSettings::default());
    with_agents(&mut state, &["a"]);
    state.apply(enqueue("s1", Distribution::Direct), 0);
    state.apply(
        Event::Accept {
            offer: 1,
            user: "a".into(),
        },
        1000,
    );
    let effects = state.apply(
        Event::SessionEnded {
            session: "s1".into(),
        },
        60_000,
    );
    assert!(effects.contains(&Decision::AcwStarted {
        user: "a".into(),
        until: 80_000
    }));
    assert!(offers(&state.apply(enqueue("s2", Distribution::Direct), 61_000)).is_empty());
    let effects = state.apply(Event::AcwExtend { user: "a".into() }, 75_000);
    assert!(effects.contains(&Decision::AcwStarted {
        user: "a".into(),
        until: 105_000
    }));
    assert!(offers(&state.apply(Event::Tick, 80_000)).is_empty());
    let effects = state.apply(Event::AcwDone { user: "a".into() }, 90_000);
    assert!(effects.contains(&Decision::AcwEnded { user: "a".into() }));
    assert_eq!(offers(&effects), vec![(2, "s2".into(), "a".into())]);
}

#[test]
fn strict_goes_first_then_priority_then_arrival_and_priority_never_preempts_ringing() {
    let mut state = service(ServiceSettings::default());
    with_agents(&mut state, &["a"]);
    state.apply(enqueue("ringing", Distribution::Direct), 0);
    for (session, priority) in [
        ("low", Priority::Low),
        ("normal1", Priority::Normal),
        ("high", Priority::High),
        ("normal2", Priority::Normal),
        ("strict", Priority::Strict),
    ] {
        let mut e = enqueue(session, Distribution::Direct);
        if let Event::Enqueue(r) = &mut e {
            r.priority = priority;
        }
        state.apply(e, 1);
    }
    let effects = state.apply(
        Event::SetPriority {
            session: "low".into(),
            priority: Priority::Strict,
        },
        2,
    );
    assert!(
        offers(&effects).is_empty(),
        "the ringing offer is not pre-empted"
    );
    let mut order = Vec::new();
    let mut now = 10;
    let mut offer = 1;
    state.apply(
        Event::Accept {
            offer,
            user: "a".into(),
        },
        now,
    );
    let mut session = "ringing".to_owned();
    for _ in 0..5 {
        now += 10;
        let effects = state.apply(
            Event::SessionEnded {
                session: session.clone(),
            },
            now,
        );
        assert!(offers(&effects).is_empty());
        now += 20_000;
        let effects = state.apply(Event::Tick, now);
        let (next_offer, next_session, _) = offers(&effects).remove(0);
        order.push(next_session.clone());
        offer = next_offer;
        session = next_session;
        state.apply(
            Event::Accept {
                offer,
                user: "a".into(),
            },
            now,
        );
    }
    assert_eq!(order, vec!["low", "strict", "high", "normal1", "normal2"]);
}

#[test]
fn a_returning_customer_is_offered_first_to_the_agent_who_last_handled_them() {
    let mut state = service(ServiceSettings::default());
    with_agents(&mut state, &["a", "b"]);
    let mut e = enqueue("s1", Distribution::Direct);
    if let Event::Enqueue(r) = &mut e {
        r.last_user = Some("b".into());
    }
    assert_eq!(
        offers(&state.apply(e, 0)),
        vec![(1, "s1".into(), "b".into())]
    );
}

#[test]
fn unselectable_agents_are_never_offered_a_task() {
    let variants: Vec<fn(&mut Agent)> = vec![
        |a| a.registered = false,
        |a| a.im_license = false,
        |a| a.presence = Presence::Offline,
        |a| a.presence = Presence::Busy,
        |a| a.presence = Presence::Away,
        |a| a.on_duty = false,
        |a| {
            a.active_in.clear();
        },
        |a| {
            a.member_of.clear();
        },
    ];
    for change in variants {
        let mut state = service(ServiceSettings::default());
        let mut agent = Agent::new("a", 0).in_service(S);
        change(&mut agent);
        state.apply(Event::UpsertAgent(Box::new(agent)), 0);
        assert!(offers(&state.apply(enqueue("s1", Distribution::Direct), 1)).is_empty());
    }
    let mut state = service(ServiceSettings {
        allow_busy: true,
        ..ServiceSettings::default()
    });
    let mut agent = Agent::new("a", 0).in_service(S);
    agent.presence = Presence::Busy;
    state.apply(Event::UpsertAgent(Box::new(agent)), 0);
    assert_eq!(
        offers(&state.apply(enqueue("s1", Distribution::Direct), 1)).len(),
        1,
        "Busy is allowed when the service says so"
    );
}

#[test]
fn a_transfer_to_a_service_passes_a_decline_on_and_moves_the_chat_and_its_capacity_on_accept() {
    use crate::distribution::{TransferFailure, TransferTarget};
    let mut state = service(ServiceSettings::default());
    with_agents(&mut state, &["a", "b", "c"]);
    let offered = offers(&state.apply(enqueue("s1", Distribution::Direct), 10));
    state.apply(
        Event::Accept {
            offer: offered[0].0,
            user: "a".into(),
        },
        11,
    );
    let transfer = |from: &str| Event::Transfer {
        session: "s1".into(),
        from: from.into(),
        target: TransferTarget::Service(S.into()),
        ring_ms: 30_000,
    };
    // Only the chat's agent may transfer it, and only once at a time.
    let refused = state.apply(transfer("b"), 12);
    assert!(matches!(
        refused.as_slice(),
        [Decision::TransferFailed {
            reason: TransferFailure::NotPossible,
            ..
        }]
    ));
    // Offered to b (longest idle but a); the chat stays with a meanwhile.
    let first = offers(&state.apply(transfer("a"), 20));
    assert_eq!(
        first.iter().map(|o| o.2.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    assert!(state.agents["a"].connected.contains("s1"));
    assert!(matches!(
        state.apply(transfer("a"), 21).as_slice(),
        [Decision::TransferFailed {
            reason: TransferFailure::NotPossible,
            ..
        }]
    ));
    // b declines: offered to c; c accepts.
    let next = state.apply(
        Event::Decline {
            offer: first[0].0,
            user: "b".into(),
        },
        30,
    );
    let second = offers(&next);
    assert_eq!(
        second.iter().map(|o| o.2.as_str()).collect::<Vec<_>>(),
        ["c"]
    );
    assert!(
        state.agents["b"].rona_until.is_none(),
        "a declined transfer sets no RONA"
    );
    let accepted = state.apply(
        Event::Accept {
            offer: second[0].0,
            user: "c".into(),
        },
        40,
    );
    assert!(accepted.contains(&Decision::Transferred {
        session: "s1".into(),
        from: "a".into(),
        to: "c".into(),
    }));
    assert!(
        !state.agents["a"].connected.contains("s1") && state.agents["c"].connected.contains("s1")
    );
    assert!(state.transfers.is_empty());
    state.check_indexes().expect("indexes");
    // The chat ends with c: c's ACW, a handled task.
    let ended = state.apply(
        Event::SessionEnded {
            session: "s1".into(),
        },
        50,
    );
    assert!(ended.contains(&Decision::TaskEnded {
        session: "s1".into(),
        outcome: TaskOutcome::Handled
    }));
    assert!(state.agents["c"].acw_until.is_some() && state.agents["a"].acw_until.is_none());
}

#[test]
fn a_transfer_nobody_answers_comes_back_and_one_the_customer_leaves_is_withdrawn() {
    use crate::distribution::{TransferFailure, TransferTarget};
    let mut state = service(ServiceSettings::default());
    with_agents(&mut state, &["a", "b"]);
    let offered = offers(&state.apply(enqueue("s1", Distribution::Direct), 10));
    state.apply(
        Event::Accept {
            offer: offered[0].0,
            user: "a".into(),
        },
        11,
    );
    let to_b = Event::Transfer {
        session: "s1".into(),
        from: "a".into(),
        target: TransferTarget::User("b".into()),
        ring_ms: 30_000,
    };
    state.apply(to_b.clone(), 20);
    let expired = state.apply(Event::Tick, 30_020);
    assert!(expired.contains(&Decision::TransferFailed {
        session: "s1".into(),
        from: "a".into(),
        reason: TransferFailure::Unanswered,
    }));
    assert!(state.agents["b"].rona_until.is_none() && state.agents["b"].ringing.is_none());
    // Tried once per transfer: a new transfer may ring b again; the customer leaves meanwhile.
    let again = offers(&state.apply(to_b, 40_000));
    assert_eq!(again.len(), 1);
    let left = state.apply(
        Event::SessionEnded {
            session: "s1".into(),
        },
        41_000,
    );
    assert!(left.contains(&Decision::OfferEnded {
        offer: again[0].0,
        session: "s1".into(),
        user: "b".into(),
        outcome: OfferOutcome::Cancelled(CancelReason::CustomerLeft),
    }));
    assert!(state.transfers.is_empty() && state.offers.is_empty());
    state.check_indexes().expect("indexes");
}
