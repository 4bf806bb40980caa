//! In-order lanes for the Teams worker: work items queued per key (a session, or an agent),
//! each key's items one at a time and in order, different keys in parallel. Pure bookkeeping:
//! the worker starts what [`Lanes::next`] gives and reports back with [`Lanes::finish`].
//! Every operation is O(1) whatever the backlog.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;

pub struct Lanes<K, T> {
    queues: HashMap<K, VecDeque<T>>,
    /// Keys with an item under way.
    busy: HashSet<K>,
    /// Keys with items waiting and none under way, in the order they became ready.
    ready: VecDeque<K>,
}

impl<K: Clone + Eq + Hash, T> Default for Lanes<K, T> {
    fn default() -> Self {
        Lanes {
            queues: HashMap::new(),
            busy: HashSet::new(),
            ready: VecDeque::new(),
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
    /// until [`Lanes::finish`].
    pub fn next(&mut self) -> Option<(K, T)> {
        while let Some(key) = self.ready.pop_front() {
            if let Some(item) = self.queues.get_mut(&key).and_then(VecDeque::pop_front) {
                self.busy.insert(key.clone());
                return Some((key, item));
            }
        }
        None
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

    /// Whether `key` has an item waiting or under way.
    pub fn is_active(&self, key: &K) -> bool {
        self.busy.contains(key) || self.queues.get(key).is_some_and(|q| !q.is_empty())
    }

    /// Items waiting (not under way).
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
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
}
