//! Distribution decisions with 1,000 agents and 10,000 queued tasks (criterion).
//!
//! Every agent holds one chat; each round one agent's chat ends (the distribution decision:
//! the agent is free, the head of the queue is offered to them), the agent accepts, and a new
//! task joins the queue so it stays at 10,000. `decision` times the session end alone;
//! `event mix` times all three events of a round.
//!
//! `cargo bench --bench distribution`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard::distribution::model::{AcwSettings, Distribution, Priority};
use switchboard::distribution::{Agent, Decision, EnqueueRequest, Event, ServiceSettings, State};

const AGENTS: usize = 1_000;
const QUEUED: usize = 10_000;

struct Bench {
    state: State,
    now: i64,
    next_session: usize,
    /// The chat each agent holds.
    holding: Vec<String>,
    round: usize,
}

fn enqueue(session: String) -> Event {
    Event::Enqueue(EnqueueRequest {
        session,
        service: "support".into(),
        priority: Priority::Normal,
        distribution: Distribution::Direct,
        ring_ms: 30_000,
        last_user: None,
    })
}

impl Bench {
    fn new() -> Self {
        let mut state = State::default();
        let settings = ServiceSettings {
            acw: AcwSettings {
                duration_ms: 0,
                allow_early_end: true,
                extension_ms: None,
            },
            ..ServiceSettings::default()
        };
        state.apply(
            Event::UpsertService {
                id: "support".into(),
                settings,
            },
            0,
        );
        for i in 0..AGENTS {
            state.apply(
                Event::UpsertAgent(Box::new(
                    Agent::new(format!("agent{i:04}"), i as i64).in_service("support"),
                )),
                0,
            );
        }
        let mut bench = Bench {
            state,
            now: 1,
            next_session: 0,
            holding: vec![String::new(); AGENTS],
            round: 0,
        };
        for _ in 0..AGENTS + QUEUED {
            let session = bench.new_session();
            let effects = bench.state.apply(enqueue(session), 1);
            bench.accept_all(&effects);
        }
        assert_eq!(bench.state.tasks.len(), AGENTS + QUEUED);
        bench
    }

    fn new_session(&mut self) -> String {
        self.next_session += 1;
        format!("s{}", self.next_session)
    }

    fn accept_all(&mut self, effects: &[Decision]) {
        for effect in effects {
            if let Decision::Offered {
                offer,
                session,
                user,
                ..
            } = effect
            {
                let index: usize = user["agent".len()..].parse().expect("agent index");
                self.holding[index] = session.clone();
                self.state.apply(
                    Event::Accept {
                        offer: *offer,
                        user: user.clone(),
                    },
                    self.now,
                );
            }
        }
    }

    /// One round; returns the time the session end (the decision) took.
    fn round(&mut self) -> Duration {
        self.now += 1;
        let agent = self.round % AGENTS;
        self.round += 1;
        let session = std::mem::take(&mut self.holding[agent]);
        let started = Instant::now();
        let effects = self.state.apply(Event::SessionEnded { session }, self.now);
        let decision = started.elapsed();
        self.accept_all(black_box(&effects));
        let session = self.new_session();
        self.state.apply(enqueue(session), self.now);
        decision
    }
}

fn distribution(c: &mut Criterion) {
    let mut group = c.benchmark_group("distribution (1,000 agents, 10,000 queued)");
    group.throughput(Throughput::Elements(1));
    let mut bench = Bench::new();
    group.bench_function("decision: session end to next offer", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| bench.round()).sum())
    });
    let mut bench = Bench::new();
    group.throughput(Throughput::Elements(3));
    group.bench_function("event mix: end, accept, enqueue", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                bench.round();
            }
            started.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, distribution);

/// The same rounds through the whole engine core: workflow runs (Accept, QueueTask, a Delay
/// loop) plus distribution, and the deadline lookup the actor does after every command.
mod engine {
    use std::collections::BTreeMap;
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use serde_json::json;
    use switchboard::directory::model::{Service, User};
    use switchboard::distribution::Presence;
    use switchboard::engine::{
        core::Core,
        messages::{Command, Customer, Effect},
    };

    pub struct EngineBench {
        core: Core,
        now: i64,
        next: usize,
        holding: Vec<String>,
        round: usize,
    }

    impl EngineBench {
        pub fn new(agents: usize, queued: usize) -> Self {
            let mut core = Core::default();
            let workflow = json!({"id": "w", "name": "W", "start": "a", "activities": {
                "a": {"type": "Accept", "next": "q"},
                "q": {"type": "QueueTask", "exits": {"queued": "wait", "failed": "end"}},
                "wait": {"type": "Delay", "seconds": 3600, "next": "check"},
                "check": {"type": "CheckTask", "exits": {"queued": "wait", "ringing": "wait", "connected": "wait", "notQueued": "end"}},
                "end": {"type": "Disconnect"}
            }});
            let members: Vec<String> = (0..agents).map(|i| format!("agent{i:04}")).collect();
            let service: Service = serde_json::from_value(json!({
                "id": "support", "name": "Support", "workflow": "w",
                "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
                "interact": {"enabled": true, "instantMessage": true},
                "distribution": {"acwSeconds": 0}, "members": members
            }))
            .expect("service");
            core.handle(Command::UpsertWorkflow { document: workflow }, 0);
            core.handle(
                Command::UpsertService {
                    service: Box::new(service),
                },
                0,
            );
            for id in &members {
                let user: User =
                    serde_json::from_value(json!({"id": id, "upn": id, "displayName": id,
                    "licenses": {"im": true}, "activeIn": ["support"]}))
                    .expect("user");
                core.handle(
                    Command::UpsertUser {
                        user: Box::new(user),
                        registered: true,
                        presence: Presence::Available,
                    },
                    0,
                );
            }
            let mut bench = EngineBench {
                core,
                now: 1,
                next: 0,
                holding: vec![String::new(); agents],
                round: 0,
            };
            for _ in 0..agents + queued {
                let effects = bench.start_session();
                bench.accept_all(&effects);
            }
            bench
        }

        fn start_session(&mut self) -> Vec<Effect> {
            self.next += 1;
            let command = Command::StartSession {
                session: format!("s{}", self.next),
                service: "support".into(),
                channel: "interact".into(),
                customer: Customer {
                    display_name: "C".into(),
                    email: format!("c{}@example.com", self.next),
                },
                parameters: BTreeMap::new(),
                first_message: None,
            };
            self.core.handle(command, self.now)
        }

        fn accept_all(&mut self, effects: &[Effect]) {
            for effect in effects {
                if let Effect::SendInvitation {
                    offer,
                    session,
                    user,
                    ..
                } = effect
                {
                    let index: usize = user["agent".len()..].parse().expect("index");
                    self.holding[index] = session.clone();
                    self.core.handle(
                        Command::Accept {
                            offer: *offer,
                            user: user.clone(),
                        },
                        self.now,
                    );
                }
            }
        }

        /// One round (end, accept, start); returns its duration.
        pub fn round(&mut self) -> Duration {
            self.now += 1;
            let agent = self.round % self.holding.len();
            self.round += 1;
            let session = std::mem::take(&mut self.holding[agent]);
            let started = Instant::now();
            let effects = self.core.handle(Command::EndSession { session }, self.now);
            black_box(self.core.next_deadline());
            self.accept_all(&effects);
            black_box(self.core.next_deadline());
            self.start_session();
            black_box(self.core.next_deadline());
            started.elapsed()
        }
    }
}

fn engine_core(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine core (1,000 agents, 10,000 queued)");
    group.throughput(Throughput::Elements(3));
    let mut bench = engine::EngineBench::new(AGENTS, QUEUED);
    group.bench_function("commands: end, accept, start session", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| bench.round()).sum())
    });
    group.finish();
}

criterion_group!(engine_benches, engine_core);
criterion_main!(benches, engine_benches);
