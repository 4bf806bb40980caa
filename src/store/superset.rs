//! A superset of the keys a table may hold, in memory: a lookup of a key that is surely not
//! there costs no read. A key is counted once more before each row of it is written, and once
//! less only after the removal of a row has committed, so the count is never below the rows
//! the table holds; a key with a count (or whose rows are gone since) is looked up in the store
//! as before. Until it is loaded, every key may be there; while it loads, removals are not
//! counted (the read may or may not have seen them).

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
enum State {
    /// Not read yet: every key may be in the table.
    #[default]
    Unloaded,
    /// Being read: the keys added meanwhile, merged when the read ends.
    Loading(HashMap<String, u32>),
    Loaded(HashMap<String, u32>),
}

/// See the module docs.
#[derive(Default)]
pub struct Superset(Mutex<State>);

impl Superset {
    /// Whether the table may hold `key` (`false`: it surely does not).
    pub fn may_hold(&self, key: &str) -> bool {
        match self.0.lock().as_deref() {
            Ok(State::Loaded(keys)) => keys.contains_key(key),
            _ => true,
        }
    }

    /// Counts `key` once more: call it before writing a row of it.
    pub fn add(&self, key: &str) {
        if let Ok(mut state) = self.0.lock() {
            match &mut *state {
                State::Unloaded => {}
                State::Loading(keys) | State::Loaded(keys) => {
                    *keys.entry(key.to_owned()).or_default() += 1;
                }
            }
        }
    }

    /// Counts `key` once less: call it after the removal of a row of it has committed.
    pub fn removed(&self, key: &str) {
        if let Ok(mut state) = self.0.lock()
            && let State::Loaded(keys) = &mut *state
            && let Some(count) = keys.get_mut(key)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                keys.remove(key);
            }
        }
    }

    /// Starts a load: keys added from now on are kept whatever the read returns.
    pub fn loading(&self) {
        if let Ok(mut state) = self.0.lock() {
            *state = State::Loading(HashMap::new());
        }
    }

    /// Ends a load with the key of each row the table held when read after
    /// [`Superset::loading`]; a failed read leaves every key possible.
    pub fn loaded(&self, read: Option<Vec<String>>) {
        if let Ok(mut state) = self.0.lock() {
            let mut keys = match std::mem::take(&mut *state) {
                State::Loading(keys) | State::Loaded(keys) => keys,
                State::Unloaded => HashMap::new(),
            };
            *state = match read {
                Some(rows) => {
                    for key in rows {
                        *keys.entry(key).or_default() += 1;
                    }
                    State::Loaded(keys)
                }
                None => State::Unloaded,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_may_be_there_until_loaded_and_a_key_added_while_loading_is_kept() {
        let set = Superset::default();
        assert!(set.may_hold("a"));
        set.add("lost");
        set.loading();
        assert!(set.may_hold("b"), "still loading");
        set.add("during");
        set.loaded(Some(vec!["read".into()]));
        assert!(set.may_hold("read"));
        assert!(set.may_hold("during"), "added while the read ran");
        assert!(!set.may_hold("b"));
        set.add("b");
        assert!(set.may_hold("b"));
        set.loading();
        set.loaded(None);
        assert!(set.may_hold("anything"), "a failed read knows nothing");
    }

    #[test]
    fn a_key_goes_once_every_row_of_it_is_removed_and_removals_while_loading_are_not_counted() {
        let set = Superset::default();
        set.loading();
        set.add("x");
        set.removed("x");
        set.loaded(Some(vec!["x".into(), "y".into()]));
        assert!(set.may_hold("x"), "a removal while loading is not counted");
        set.removed("x");
        assert!(
            set.may_hold("x"),
            "counted twice: added while loading, and read"
        );
        set.removed("x");
        assert!(!set.may_hold("x"));
        set.add("y");
        set.removed("y");
        assert!(set.may_hold("y"), "one row of y is left");
        set.removed("y");
        set.removed("y");
        assert!(!set.may_hold("y"));
        set.add("y");
        assert!(set.may_hold("y"), "a count never goes below nothing");
    }
}
