//! How many customer event streams are open, per session and per client address. A session
//! may have a few (tabs, a reconnect racing a dying stream); a newer stream past the limit ends
//! the session's oldest, so the widget that just connected is the one served. An address past
//! its limit is refused with 429: one client cannot hold the service's connections open by
//! streaming many sessions.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Open {
    sessions: HashMap<String, VecDeque<(u64, CancellationToken)>>,
    addresses: HashMap<IpAddr, usize>,
    next: u64,
}

/// The streams open now.
#[derive(Clone)]
pub struct Streams {
    open: Arc<Mutex<Open>>,
    per_session: usize,
    per_address: usize,
}

/// A stream's place; dropping it (the stream ended) frees it. `ended` is cancelled when a
/// newer stream of the same session took its place.
pub struct Slot {
    id: u64,
    session: String,
    addr: IpAddr,
    pub ended: CancellationToken,
    open: Arc<Mutex<Open>>,
}

/// Too many streams from one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany;

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    open.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Streams {
    pub fn new(per_session: usize, per_address: usize) -> Self {
        Streams {
            open: Arc::default(),
            per_session: per_session.max(1),
            per_address: per_address.max(1),
        }
    }

    pub fn open(&self, session: &str, addr: IpAddr) -> Result<Slot, TooMany> {
        let mut open = lock(&self.open);
        let from_address = open.addresses.get(&addr).copied().unwrap_or(0);
        if from_address >= self.per_address {
            return Err(TooMany);
        }
        let id = open.next;
        open.next += 1;
        let ended = CancellationToken::new();
        let list = open.sessions.entry(session.to_owned()).or_default();
        while list.len() >= self.per_session {
            if let Some((_, oldest)) = list.pop_front() {
                oldest.cancel();
            }
        }
        list.push_back((id, ended.clone()));
        *open.addresses.entry(addr).or_insert(0) += 1;
        Ok(Slot {
            id,
            session: session.to_owned(),
            addr,
            ended,
            open: Arc::clone(&self.open),
        })
    }

    /// Streams open now (for tests and metrics).
    pub fn count(&self) -> usize {
        lock(&self.open).addresses.values().sum()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        if let Some(list) = open.sessions.get_mut(&self.session) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                open.sessions.remove(&self.session);
            }
        }
        if let Some(n) = open.addresses.get_mut(&self.addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.addresses.remove(&self.addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_stream_ends_the_oldest_of_its_session_and_addresses_are_capped() {
        let streams = Streams::new(2, 3);
        let here: IpAddr = "192.0.2.1".parse().expect("ip");
        let a = streams.open("s1", here).expect("first");
        let b = streams.open("s1", here).expect("second");
        let c = streams.open("s1", here).expect("third");
        assert!(a.ended.is_cancelled(), "the oldest made room");
        assert!(!b.ended.is_cancelled() && !c.ended.is_cancelled());
        assert_eq!(streams.open("s2", here).err(), Some(TooMany));
        drop(a);
        assert_eq!(streams.count(), 2);
        let d = streams.open("s2", here).expect("room again");
        drop((b, c, d));
        assert_eq!(streams.count(), 0);
    }
}
