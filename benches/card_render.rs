//! Invitation-card renders per second on one core, with the template parsed once (criterion).
//! The typed path (markdown escaping + serialisation + expansion) is what the bot runs; the
//! plain expansion of the sample data and the parse are measured beside it for comparison.
//!
//! `cargo bench --bench card_render`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard::cards::data::{Customer, Id, Invitation, Parameter, Service, UserText};
use switchboard::cards::{CardCatalog, Template};

fn invitation() -> Invitation {
    Invitation {
        invitation: Id {
            id: "inv-7f3a".into(),
        },
        service: Service {
            name: "Support".into(),
        },
        customer: Customer {
            display_name: UserText::new("María García"),
            email: Some(UserText::new("maria.garcia@example.com")),
        },
        wait_seconds: 75,
        parameters: vec![
            Parameter {
                name: "Order".into(),
                value: UserText::new("A-10042"),
            },
            Parameter {
                name: "Topic".into(),
                value: UserText::new("Billing"),
            },
        ],
        first_message: Some(UserText::new(
            "Hello, I was charged twice for my subscription. Can someone help?",
        )),
        transfer: None,
    }
}

fn renders(c: &mut Criterion) {
    let catalog = CardCatalog::builtin().expect("cards");
    let card = catalog.get("im-invitation").expect("invitation card");
    let sample = card.sample.clone();
    let data = invitation();
    let source: serde_json::Value =
        serde_json::from_str(include_str!("../cards/im-invitation.json")).expect("template JSON");

    let mut group = c.benchmark_group("im-invitation");
    group.throughput(Throughput::Elements(1));
    group.bench_function("render from typed data", |b| {
        b.iter(|| catalog.render_data(black_box(&data)).expect("renders"))
    });
    group.bench_function("expand sample data", |b| {
        b.iter(|| {
            card.template
                .expand(black_box(&sample), None)
                .expect("expands")
        })
    });
    group.bench_function("parse template", |b| {
        b.iter(|| Template::parse(black_box(&source)).expect("parses"))
    });
    group.finish();
}

criterion_group!(benches, renders);
criterion_main!(benches);
