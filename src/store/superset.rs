//! A superset of the keys a table may hold, in memory: a lookup of a key that is surely not
//! there costs no read. A key is counted once more before each row of it is written, and once
//! less only after the removal of a row has committed, so the count is never below the rows
//! the table holds; a key with a count (or whose rows are gone since) is looked up in the store
//! as before. Until [`Superset::load`] has read the table, every key may be there, and the keys
//! added meanwhile are kept for when it has; removals are counted only after it (the read may
//! or may not have seen them).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

/// The counts, and whether the table has been read.
#[derive(Default)]
struct Counts {
    keys: HashMap<String, u32>,
    read: bool,
}

/// See the module docs.
#[derive(Default)]
pub struct Superset(Mutex<Counts>);

impl Superset {
    /// Whether the table may hold `key` (`false`: it surely does not).
    pub fn may_hold(&self, key: &str) -> bool {
        self.0
            .lock()
            .map_or(true, |c| !c.read || c.keys.contains_key(key))
    }

    /// Counts `key` once more: call it before writing a row of it.
    pub fn add(&self, key: &str) {
        if let Ok(mut counts) = self.0.lock() {
            *counts.keys.entry(key.to_owned()).or_default() += 1;
        }
    }

    /// Counts `key` once less: call it after the removal of a row of it has committed.
    pub fn removed(&self, key: &str) {
        if let Ok(mut counts) = self.0.lock()
            && counts.read
            && let Some(count) = counts.keys.get_mut(key)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.keys.remove(key);
            }
        }
    }

    /// Reads the table (`read`: the key of each row it holds) and from then on answers from
    /// memory; `what` names the table in the warning if the read fails (then every key stays
    /// possible). Call it once the instance owns the tenants: only the owner writes them.
    pub async fn load(&self, what: &str, read: impl Future<Output = sqlx::Result<Vec<String>>>) {
        match read.await {
            Ok(rows) => {
                if let Ok(mut counts) = self.0.lock() {
                    for key in rows {
                        *counts.keys.entry(key).or_default() += 1;
                    }
                    counts.read = true;
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, table = what, "reading a table into memory failed; each lookup goes to the store instead");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(keys: &[&str]) -> impl Future<Output = sqlx::Result<Vec<String>>> {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        async move { Ok(keys) }
    }

    #[tokio::test]
    async fn every_key_may_be_there_until_read_and_a_key_added_before_is_kept() {
        let set = Superset::default();
        assert!(set.may_hold("a"));
        set.add("early");
        set.load("t", rows(&["read"])).await;
        assert!(set.may_hold("read"));
        assert!(set.may_hold("early"), "added before the read ended");
        assert!(!set.may_hold("b"));
        set.add("b");
        assert!(set.may_hold("b"));
        let failed = Superset::default();
        failed
            .load("t", async { Err(sqlx::Error::PoolTimedOut) })
            .await;
        assert!(failed.may_hold("anything"), "a failed read knows nothing");
    }

    #[tokio::test]
    async fn a_key_goes_once_every_row_of_it_is_removed_and_removals_before_the_read_are_not_counted()
     {
        let set = Superset::default();
        set.add("x");
        set.removed("x");
        set.load("t", rows(&["x", "y"])).await;
        assert!(
            set.may_hold("x"),
            "a removal before the read is not counted"
        );
        set.removed("x");
        assert!(
            set.may_hold("x"),
            "counted twice: added before the read, and read"
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
