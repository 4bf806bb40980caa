use super::*;
use crate::engine::messages::AgentStateChange;

fn handed(id: i64, effect: Effect) -> Handed {
    Handed {
        id: EffectId(id),
        tenant: "t".into(),
        seq: id,
        effect,
    }
}

fn to_customer(session: &str) -> Effect {
    Effect::QueuePosition {
        session: session.into(),
        position: 1,
    }
}

#[test]
fn collect_information_is_recorded_done_and_reports_are_not_stored() {
    let collect = Effect::CollectInformation {
        session: "s".into(),
        parameters: vec!["crmId".into()],
        customer: Default::default(),
    };
    assert_eq!(Consumer::of(&collect), Consumer::Webhooks);
    assert_eq!(
        Consumer::of(&collect).initial_state(),
        Some(EffectState::Done)
    );
    let agent = Effect::AgentState {
        user: "u".into(),
        state: AgentStateChange::AcwEnded,
    };
    assert_eq!(
        Consumer::of(&agent).initial_state(),
        Some(EffectState::Pending)
    );
    assert_eq!(Consumer::Reporting.initial_state(), None);
}

#[test]
fn effects_are_handed_to_their_consumer_in_order() {
    let queue = EffectQueue::new();
    let relay = Effect::RelayToAgent {
        session: "s".into(),
        user: "u".into(),
        text: "hi".into(),
        seq: None,
    };
    queue.hand_over(vec![
        handed(1, to_customer("a")),
        handed(2, relay.clone()),
        handed(3, to_customer("b")),
    ]);
    let ids = |v: Vec<Handed>| v.into_iter().map(|h| h.id.get()).collect::<Vec<_>>();
    assert_eq!(ids(queue.customer().take(10)), [1, 3]);
    assert_eq!(ids(queue.teams().take(10)), [2]);
    assert!(queue.http().is_empty());
}

#[test]
fn a_detached_queue_keeps_nothing() {
    let queue = EffectQueue::detached();
    queue.hand_over(vec![handed(1, to_customer("a"))]);
    assert!(queue.customer().is_empty());
}

#[test]
fn recovered_effects_go_first_and_what_recovery_read_is_not_kept_twice() {
    let inbox = Inbox::default();
    // Handed over while the recovery read: 2 was read by it too, 3 was committed later.
    inbox.put([handed(2, to_customer("b")), handed(3, to_customer("c"))]);
    inbox.recovered(vec![
        handed(1, to_customer("a")),
        handed(2, to_customer("b")),
    ]);
    let ids: Vec<i64> = inbox.take(10).into_iter().map(|h| h.id.get()).collect();
    assert_eq!(ids, [1, 2, 3]);
}

#[test]
fn effects_put_back_are_taken_again_first() {
    let inbox = Inbox::default();
    inbox.put([
        handed(1, to_customer("a")),
        handed(2, to_customer("b")),
        handed(3, to_customer("c")),
    ]);
    let first = inbox.take(2);
    inbox.put_back(first);
    let ids: Vec<i64> = inbox.take(10).into_iter().map(|h| h.id.get()).collect();
    assert_eq!(ids, [1, 2, 3]);
}
