//! In-order lanes, the one scheduler of per-key work: items queued per key, each key's items one
//! at a time and in order, different keys in parallel. The outbox dispatcher runs a lane per
//! conversation (and per webhook endpoint and session, per WhatsApp session); the Teams worker a
//! lane per session or agent. Pure bookkeeping, every operation O(1) (parking O(log n)) whatever
//! the backlog: the caller starts what it is given and reports back.
//!
//! A key with items waiting is in exactly one place: ready (its head may start), parked (its
//! head waits for a deadline), busy (an item is under way), or held by the caller (taken with
//! [`Lanes::pop_ready`] and neither started nor parked: the caller hands it back with
//! [`Lanes::make_ready`]).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::Hash;

pub struct Lanes<K, T> {
    queues: HashMap<K, VecDeque<T>>,
    /// Keys with an item under way.
    busy: HashSet<K>,
    /// Keys whose head may start, in the order they became ready.
    ready: VecDeque<K>,
    /// Keys whose head waits, by deadline (ms) and then in the order they were parked.
    parked: BTreeMap<(i64, u64), K>,
    parked_seq: u64,
}

impl<K: Clone + Eq + Hash, T> Default for Lanes<K, T> {
    fn default() -> Self {
        Lanes {
            queues: HashMap::new(),
            busy: HashSet::new(),
            ready: VecDeque::new(),
            parked: BTreeMap::new(),
            parked_seq: 0,
        }
    }
}

impl<K: Clone + Eq + Hash, T> Lanes<K, T> {
    /// Queues `item` behind the items of `key`.
    pub fn push(&mut self, key: K, item: T) {
        let queue = self.queues.entry(key.clone()).or_default();
        let was_empty = queue.is_empty();
        queue.push_back(item);
        if was_empty && !self.busy.contains(&key) {
            self.ready.push_back(key);
        }
    }

    /// The next item that may start (its key has nothing under way); its key is then busy
    /// until [`Lanes::finish`] or [`Lanes::put_back`].
    pub fn next(&mut self) -> Option<(K, T)> {
        while let Some(key) = self.pop_ready() {
            if let Some(item) = self.start(key.clone()) {
                return Some((key, item));
            }
        }
        None
    }

    /// The next ready key, which the caller now holds: it starts its head ([`Lanes::start`]),
    /// parks it ([`Lanes::park`]) or keeps it aside and hands it back ([`Lanes::make_ready`]).
    pub fn pop_ready(&mut self) -> Option<K> {
        while let Some(key) = self.ready.pop_front() {
            if self.queues.get(&key).is_some_and(|q| !q.is_empty()) {
                return Some(key);
            }
            self.queues.remove(&key);
        }
        None
    }

    /// The item at the head of `key`'s queue.
    pub fn head(&self, key: &K) -> Option<&T> {
        self.queues.get(key).and_then(VecDeque::front)
    }

    /// Takes the head of a held key: the key is busy until [`Lanes::finish`] or
    /// [`Lanes::put_back`].
    pub fn start(&mut self, key: K) -> Option<T> {
        let item = self.queues.get_mut(&key).and_then(VecDeque::pop_front)?;
        self.busy.insert(key);
        Some(item)
    }

    /// A held key waits until `at` (ms) before its head may start.
    pub fn park(&mut self, key: K, at: i64) {
        self.parked_seq += 1;
        self.parked.insert((at, self.parked_seq), key);
    }

    /// A held key may start again.
    pub fn make_ready(&mut self, key: K) {
        self.ready.push_back(key);
    }

    /// Moves the parked keys whose deadline has come to ready; returns the next deadline.
    pub fn unpark(&mut self, now: i64) -> Option<i64> {
        while let Some(entry) = self.parked.first_entry() {
            if entry.key().0 > now {
                return Some(entry.key().0);
            }
            let key = entry.remove();
            self.ready.push_back(key);
        }
        None
    }

    /// The earliest deadline of a parked key.
    pub fn next_deadline(&self) -> Option<i64> {
        self.parked.keys().next().map(|(at, _)| *at)
    }

    /// The item of `key` under way is finished: the key's next item may start.
    pub fn finish(&mut self, key: &K) {
        self.busy.remove(key);
        match self.queues.get(key) {
            Some(queue) if !queue.is_empty() => self.ready.push_back(key.clone()),
            _ => {
                self.queues.remove(key);
            }
        }
    }

    /// The item of `key` under way is to be tried again at `at` (ms), before the key's others.
    pub fn put_back(&mut self, key: K, item: T, at: i64) {
        self.busy.remove(&key);
        self.queues.entry(key.clone()).or_default().push_front(item);
        self.park(key, at);
    }

    /// Whether `key` has an item waiting or under way.
    pub fn is_active(&self, key: &K) -> bool {
        self.busy.contains(key) || self.queues.get(key).is_some_and(|q| !q.is_empty())
    }

    /// Items waiting (not under way).
    pub fn waiting(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// Items waiting or under way.
    pub fn pending(&self) -> usize {
        self.waiting() + self.busy.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_item_per_key_at_a_time_in_order_and_keys_in_parallel() {
        let mut lanes = Lanes::default();
        lanes.push("a", 1);
        lanes.push("a", 2);
        lanes.push("b", 3);
        assert_eq!(lanes.next(), Some(("a", 1)));
        assert_eq!(lanes.next(), Some(("b", 3)));
        // a's second item waits for its first.
        assert_eq!(lanes.next(), None);
        lanes.finish(&"a");
        assert_eq!(lanes.next(), Some(("a", 2)));
        assert!(lanes.is_active(&"b"));
        lanes.finish(&"b");
        assert!(!lanes.is_active(&"b"));
        lanes.finish(&"a");
        assert_eq!(lanes.next(), None);
        assert_eq!(lanes.waiting(), 0);
        assert!(lanes.queues.is_empty() && lanes.busy.is_empty());
    }

    #[test]
    fn an_item_pushed_while_its_key_is_busy_starts_after_the_finish() {
        let mut lanes = Lanes::default();
        lanes.push("a", 1);
        assert_eq!(lanes.next(), Some(("a", 1)));
        lanes.push("a", 2);
        assert_eq!(lanes.next(), None);
        assert!(lanes.is_active(&"a"));
        lanes.finish(&"a");
        assert_eq!(lanes.next(), Some(("a", 2)));
    }

    #[test]
    fn a_slow_key_does_not_hold_up_the_others() {
        let mut lanes = Lanes::default();
        for i in 0..3 {
            lanes.push("slow", i);
        }
        assert_eq!(lanes.next(), Some(("slow", 0)));
        for i in 0..100 {
            lanes.push(if i % 2 == 0 { "x" } else { "y" }, i);
        }
        let mut done = Vec::new();
        while done.len() < 100 {
            let (key, item) = lanes.next().expect("x and y go on");
            done.push(item);
            lanes.finish(&key);
        }
        let xs: Vec<i32> = done.iter().copied().filter(|i| i % 2 == 0).collect();
        assert!(xs.windows(2).all(|w| w[0] < w[1]), "in order per key");
        assert_eq!(lanes.waiting(), 2, "the slow key's items still wait");
    }

    /// An item tried again later goes back before the key's others, and the key waits for its
    /// deadline while other keys go on; deadlines come in order.
    #[test]
    fn an_item_put_back_goes_first_after_its_deadline() {
        let mut lanes = Lanes::default();
        lanes.push("a", 1);
        lanes.push("a", 2);
        lanes.push("b", 3);
        let (key, item) = lanes.next().expect("a");
        lanes.put_back(key, item, 100);
        assert_eq!(lanes.next(), Some(("b", 3)));
        assert_eq!(lanes.next(), None, "a waits for its deadline");
        assert_eq!(lanes.unpark(99), Some(100));
        assert_eq!(lanes.next(), None);
        assert_eq!(lanes.unpark(100), None);
        assert_eq!(lanes.next(), Some(("a", 1)), "the retried item first");
        lanes.finish(&"a");
        assert_eq!(lanes.next(), Some(("a", 2)));
    }

    /// A key the caller holds aside (its endpoint busy) is neither started nor lost, and comes
    /// back when handed back.
    #[test]
    fn a_held_key_waits_until_it_is_handed_back() {
        let mut lanes = Lanes::default();
        lanes.push("a", 1);
        let held = lanes.pop_ready().expect("a");
        assert_eq!(lanes.head(&held), Some(&1));
        assert_eq!(lanes.next(), None);
        lanes.push("a", 2);
        assert_eq!(lanes.next(), None, "still held");
        lanes.make_ready(held);
        assert_eq!(lanes.next(), Some(("a", 1)));
        assert_eq!(lanes.pending(), 2);
    }
}
