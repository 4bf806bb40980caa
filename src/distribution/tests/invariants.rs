//! Random event sequences never offer to an unselectable agent, never exceed capacity, never
//! connect two agents to one chat, and end every task with exactly one outcome.

use crate::distribution::model::Distribution;
use crate::distribution::{Agent, CancelReason, Decision, Event, Presence, ServiceSettings};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{S, enqueue, service};

/// Each agent's fixed capacity in the randomised test.
fn capacity(agent: &str) -> u32 {
    if agent == "b" || agent == "d" { 2 } else { 1 }
}

/// Random event sequences never offer to an unselectable agent, never exceed capacity, never
/// connect two agents to one chat, and end every task with exactly one outcome.
#[test]
fn random_event_sequences_keep_every_invariant() {
    let (mut total_offers, mut total_connected, mut total_ended) = (0, 0, 0);
    for seed in 0..200u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut state = service(ServiceSettings {
            persistent_rona: rng.random_bool(0.5),
            ..ServiceSettings::default()
        });
        let agents = ["a", "b", "c", "d"];
        let mut now = 0i64;
        let mut ended: std::collections::BTreeMap<String, usize> = Default::default();
        let mut connected: std::collections::BTreeMap<String, usize> = Default::default();
        let mut sessions = 0;
        for step in 0..300 {
            now += rng.random_range(0..20_000);
            let agent = agents[rng.random_range(0..agents.len())].to_owned();
            let offer_ids: Vec<u64> = state.offers.keys().copied().collect();
            let any_offer = offer_ids
                .get(rng.random_range(0..offer_ids.len().max(1)))
                .copied()
                .unwrap_or(99);
            let session = format!("s{}", rng.random_range(0..sessions.max(1)));
            let event = match rng.random_range(0..12) {
                0 | 1 => {
                    sessions += 1;
                    enqueue(
                        &format!("s{}", sessions - 1),
                        if rng.random_bool(0.5) {
                            Distribution::Direct
                        } else {
                            Distribution::Broadcast
                        },
                    )
                }
                2 => Event::Accept {
                    offer: any_offer,
                    user: agent,
                },
                3 => {
                    let holder = state
                        .offers
                        .get(&any_offer)
                        .map_or(agent, |o| o.user.clone());
                    Event::Accept {
                        offer: any_offer,
                        user: holder,
                    }
                }
                4 => Event::Decline {
                    offer: any_offer,
                    user: state
                        .offers
                        .get(&any_offer)
                        .map_or(agent, |o| o.user.clone()),
                },
                5 => Event::Cancel {
                    session,
                    reason: if rng.random_bool(0.5) {
                        CancelReason::CustomerLeft
                    } else {
                        CancelReason::TaskCancelled
                    },
                },
                6 => Event::SessionEnded { session },
                7 => Event::AcwDone { user: agent },
                8 => Event::RonaReset { user: agent },
                9 => {
                    let mut a = Agent::new(agent.as_str(), 0).in_service(S);
                    a.capacity = capacity(&agent);
                    a.presence = [Presence::Available, Presence::Busy, Presence::Offline]
                        [rng.random_range(0..3)];
                    a.on_duty = rng.random_bool(0.9);
                    Event::UpsertAgent(Box::new(a))
                }
                10 => Event::AcwExtend { user: agent },
                _ => Event::Tick,
            };
            let effects = state.apply(event, now);
            for effect in &effects {
                match effect {
                    Decision::Offered { user, .. } => {
                        total_offers += 1;
                        let a = &state.agents[user];
                        let settings = &state.services[S];
                        let mut free = a.clone();
                        free.ringing = None;
                        assert!(
                            free.selectable(&S.to_owned(), settings, now),
                            "seed {seed} step {step}: offer to unselectable {user}"
                        );
                    }
                    Decision::TaskEnded { session, .. } => {
                        total_ended += 1;
                        *ended.entry(session.clone()).or_default() += 1
                    }
                    Decision::Connected { session, .. } => {
                        total_connected += 1;
                        *connected.entry(session.clone()).or_default() += 1
                    }
                    _ => {}
                }
            }
            for a in state.agents.values() {
                assert!(
                    a.connected.len() as u32 <= a.capacity,
                    "seed {seed} step {step}: {} over capacity",
                    a.id
                );
                if let Some(offer) = a.ringing {
                    assert_eq!(
                        state.offers[&offer].user, a.id,
                        "seed {seed}: ringing points at its own offer"
                    );
                }
            }
            assert!(
                ended.values().all(|n| *n == 1),
                "seed {seed} step {step}: a task ended twice"
            );
            assert!(
                connected.values().all(|n| *n == 1),
                "seed {seed} step {step}: two agents on one chat"
            );
            for session in ended.keys() {
                assert!(
                    !state.tasks.contains_key(session),
                    "seed {seed}: an ended task is still queued"
                );
            }
        }
    }
    // The sequences really exercise the machine.
    assert!(
        total_offers > 1000 && total_connected > 300 && total_ended > 300,
        "{total_offers} {total_connected} {total_ended}"
    );
}
