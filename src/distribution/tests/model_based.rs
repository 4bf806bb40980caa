//! The indexed distribution checked step by step against a small reference model that is
//! obviously correct because it is naive: after each event's own rules, the reference scans
//! every queued task in the one order that spans all services (strict first, then priority,
//! then waiting time) and, for each, every agent, and says which offers must follow. The real
//! pass (per-service queue and free-agent indexes) must make exactly those offers, and after
//! every step no queued task may have a selectable agent who has not declined it (liveness: a
//! task every agent missed is offered again; a decline is final for that agent and task).
//! Sequences mix three services that share agents, every priority, direct and broadcast, ring
//! timeouts (RONA and unanswered broadcasts), declines, presence and duty changes, capacity,
//! ACW, transfers, direct-to-user chats and restarts (the state through JSON and back, as a
//! snapshot).
//!
//! `SWITCHBOARD_MODEL_SEEDS` (default 1,500) sets the number of sequences of 250 steps.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use crate::distribution::model::{Distribution, Phase, Priority, Task};
use crate::distribution::{
    Agent, BROADCAST_BATCH, CancelReason, Decision, EnqueueRequest, Event, Presence,
    ServiceSettings, State,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SERVICES: [&str; 3] = ["billing", "sales", "support"];
const AGENTS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
const PRIORITIES: [Priority; 4] = [
    Priority::Low,
    Priority::Normal,
    Priority::High,
    Priority::Strict,
];

/// The offers (session, agents in the order offered) a naive scan says must be made now.
fn reference_offers(state: &State, now: i64) -> Vec<(String, Vec<String>)> {
    let mut queued: Vec<&Task> = state
        .tasks
        .values()
        .filter(|t| t.phase == Phase::Queued)
        .collect();
    queued.sort_by_key(|t| (Reverse(t.priority), t.queued_at, t.seq));
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut offers = Vec::new();
    for task in queued {
        let Some(settings) = state.services.get(&task.service) else {
            continue;
        };
        let mut pool: Vec<&Agent> = state
            .agents
            .values()
            .filter(|a| {
                !taken.contains(&a.id)
                    && !task.declined_by.contains(&a.id)
                    && a.selectable(&task.service, settings, now)
            })
            .collect();
        pool.sort_by_key(|a| (a.idle_since, a.id.clone()));
        if pool.is_empty() {
            continue;
        }
        let batch = match task.distribution {
            Distribution::Direct => 1,
            Distribution::Broadcast => BROADCAST_BATCH,
        };
        let mut chosen: Vec<String> = Vec::new();
        let passed = |id: &str| task.passed_by.contains(id);
        // The agent who last handled the customer, then those who have not passed the task,
        // then those who have.
        if let Some(last) = &task.last_user
            && pool.iter().any(|a| &a.id == last)
            && !passed(last)
        {
            chosen.push(last.clone());
        }
        for a in pool.iter().filter(|a| !passed(&a.id)) {
            if !chosen.contains(&a.id) {
                chosen.push(a.id.clone());
            }
        }
        for a in pool.iter().filter(|a| passed(&a.id)) {
            chosen.push(a.id.clone());
        }
        chosen.truncate(batch);
        taken.extend(chosen.iter().cloned());
        offers.push((task.session.clone(), chosen));
    }
    offers
}

/// The offers among `effects`, grouped per task in the order made.
fn offers_made(effects: &[Decision]) -> Vec<(String, Vec<String>)> {
    let mut made: Vec<(String, Vec<String>)> = Vec::new();
    for effect in effects {
        if let Decision::Offered { session, user, .. } = effect {
            match made.last_mut() {
                Some((s, users)) if s == session => users.push(user.clone()),
                _ => made.push((session.clone(), vec![user.clone()])),
            }
        }
    }
    made
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn random_agent(rng: &mut StdRng, id: &str) -> Agent {
    let mut agent = Agent::new(id, 0);
    for service in SERVICES {
        if rng.random_bool(0.6) {
            agent.member_of.insert(service.into());
            if rng.random_bool(0.85) {
                agent.active_in.insert(service.into());
            }
        }
    }
    agent.capacity = rng.random_range(1..=3);
    agent.presence = *pick(
        rng,
        &[
            Presence::Available,
            Presence::Available,
            Presence::Available,
            Presence::Busy,
            Presence::Away,
            Presence::Offline,
        ],
    );
    agent.on_duty = rng.random_bool(0.9);
    agent.registered = rng.random_bool(0.95);
    agent
}

fn random_settings(rng: &mut StdRng) -> ServiceSettings {
    let mut settings = ServiceSettings {
        allow_busy: rng.random_bool(0.3),
        allow_away: rng.random_bool(0.2),
        persistent_rona: rng.random_bool(0.3),
        rona_reset_ms: rng.random_range(10_000..120_000),
        ..ServiceSettings::default()
    };
    settings.acw.duration_ms = *pick(rng, &[0, 5_000, 20_000]);
    settings
}

fn random_event(rng: &mut StdRng, state: &State, sessions: &mut u32) -> Event {
    let agent = pick(rng, &AGENTS).to_string();
    let offer_ids: Vec<u64> = state.offers.keys().copied().collect();
    let offer = if offer_ids.is_empty() {
        99
    } else {
        *pick(rng, &offer_ids)
    };
    let holder = state.offers.get(&offer).map(|o| o.user.clone());
    let known: Vec<String> = state.tasks.keys().cloned().collect();
    let session = if known.is_empty() || rng.random_bool(0.05) {
        format!("s{}", rng.random_range(0..=*sessions))
    } else {
        pick(rng, &known).clone()
    };
    match rng.random_range(0..100) {
        0..=19 => {
            *sessions += 1;
            Event::Enqueue(EnqueueRequest {
                session: format!("s{sessions}"),
                service: pick(rng, &SERVICES).to_string(),
                priority: *pick(rng, &PRIORITIES),
                distribution: if rng.random_bool(0.7) {
                    Distribution::Direct
                } else {
                    Distribution::Broadcast
                },
                ring_ms: rng.random_range(1_000..40_000),
                last_user: rng.random_bool(0.3).then(|| pick(rng, &AGENTS).to_string()),
            })
        }
        20..=29 => Event::Accept {
            offer,
            user: holder.unwrap_or(agent),
        },
        30..=31 => Event::Accept { offer, user: agent },
        32..=39 => Event::Decline {
            offer,
            user: holder.unwrap_or(agent),
        },
        40..=44 => Event::Cancel {
            session,
            reason: *pick(
                rng,
                &[CancelReason::CustomerLeft, CancelReason::TaskCancelled],
            ),
        },
        45..=54 => Event::SessionEnded { session },
        55..=57 => Event::AcwDone { user: agent },
        58 => Event::AcwExtend { user: agent },
        59..=62 => Event::RonaReset { user: agent },
        63..=72 => Event::UpsertAgent(Box::new(random_agent(rng, &agent))),
        73..=74 => Event::UpsertService {
            id: pick(rng, &SERVICES).to_string(),
            settings: random_settings(rng),
        },
        75..=77 => Event::SetPriority {
            session,
            priority: *pick(rng, &PRIORITIES),
        },
        78..=80 => {
            *sessions += 1;
            Event::ConnectDirect {
                session: format!("s{sessions}"),
                user: agent,
            }
        }
        _ => Event::Tick,
    }
}

/// A transfer as the engine does it: the task is cancelled and the session queued again on
/// another service (the rules of both events; the distribution pass follows).
fn transfer(state: &mut State, rng: &mut StdRng, now: i64) -> Vec<Decision> {
    let open: Vec<String> = state
        .tasks
        .values()
        .filter(|t| !matches!(t.phase, Phase::Connected(_)))
        .map(|t| t.session.clone())
        .collect();
    if open.is_empty() {
        return Vec::new();
    }
    let session = pick(rng, &open).clone();
    let mut effects = state.apply_rules(
        Event::Cancel {
            session: session.clone(),
            reason: CancelReason::TaskCancelled,
        },
        now,
    );
    effects.extend(state.apply_rules(
        Event::Enqueue(EnqueueRequest {
            session,
            service: pick(rng, &SERVICES).to_string(),
            priority: *pick(rng, &PRIORITIES),
            distribution: Distribution::Direct,
            ring_ms: 20_000,
            last_user: None,
        }),
        now,
    ));
    effects
}

fn liveness(state: &State, now: i64) -> Result<(), String> {
    for task in state.tasks.values().filter(|t| t.phase == Phase::Queued) {
        let Some(settings) = state.services.get(&task.service) else {
            continue;
        };
        if let Some(a) = state.agents.values().find(|a| {
            a.selectable(&task.service, settings, now) && !task.declined_by.contains(&a.id)
        }) {
            return Err(format!(
                "task {} waits in {} while {} is selectable",
                task.session, task.service, a.id
            ));
        }
    }
    for task in state.tasks.values() {
        if matches!(&task.phase, Phase::Ringing(ids) if ids.is_empty()) {
            return Err(format!("task {} rings nobody", task.session));
        }
    }
    Ok(())
}

fn run_sequence(seed: u64, steps: usize, tally: &mut [usize; 4]) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut state = State::default();
    let mut now = 1_000i64;
    for service in SERVICES {
        let settings = random_settings(&mut rng);
        state.apply(
            Event::UpsertService {
                id: service.into(),
                settings,
            },
            now,
        );
    }
    let mut sessions = 0u32;
    for step in 0..steps {
        now += *pick(&mut rng, &[0, 0, 500, 3_000, 15_000, 45_000]);
        let roll = rng.random_range(0..100);
        if roll < 2 {
            // A restart: the state through its snapshot form, then the start-up pass.
            let json = serde_json::to_string(&state).expect("state serialises");
            state = serde_json::from_str(&json).expect("state deserialises");
            state.dirty = true;
        }
        let mut effects = if (2..5).contains(&roll) {
            transfer(&mut state, &mut rng, now)
        } else {
            let event = if roll < 2 {
                Event::Tick
            } else {
                random_event(&mut rng, &state, &mut sessions)
            };
            state.apply_rules(event, now)
        };
        // The reference says which offers must follow the rules; the real pass makes them.
        let before_pass = state.clone();
        let expected = reference_offers(&before_pass, now);
        effects.extend(state.apply(Event::Tick, now));
        let real = offers_made(&effects);
        assert_eq!(
            real, expected,
            "seed {seed} step {step}: the offers differ from the reference model"
        );
        if let Err(e) = state.check_indexes() {
            panic!("seed {seed} step {step}: {e}");
        }
        if let Err(e) = liveness(&state, now) {
            panic!("seed {seed} step {step}: {e}");
        }
        tally[0] += real.len();
        tally[1] += effects
            .iter()
            .filter(|e| matches!(e, Decision::Connected { .. }))
            .count();
        tally[2] += effects
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Decision::OfferEnded {
                        outcome: crate::distribution::OfferOutcome::Rona,
                        ..
                    }
                )
            })
            .count();
        tally[3] += real
            .iter()
            .filter(|(s, users)| {
                before_pass
                    .tasks
                    .get(s)
                    .is_some_and(|t| users.iter().any(|u| t.passed_by.contains(u)))
            })
            .count();
    }
}

#[test]
fn the_indexed_distribution_makes_exactly_the_offers_of_a_naive_reference_model() {
    let seeds: u64 = std::env::var("SWITCHBOARD_MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_500);
    let mut tally = [0usize; 4];
    for seed in 0..seeds {
        run_sequence(seed, 250, &mut tally);
    }
    let [offers, connected, rona, passed_again] = tally;
    eprintln!(
        "{seeds} sequences: {offers} offers, {connected} connected, {rona} ring timeouts, \
         {passed_again} offers to an agent who had passed the task"
    );
    // The sequences really reach every corner.
    assert!(offers > seeds as usize * 5, "{tally:?}");
    assert!(connected > seeds as usize * 2, "{tally:?}");
    assert!(rona > seeds as usize, "{tally:?}");
    assert!(passed_again > seeds as usize / 10, "{tally:?}");
}
