//! The in-process hub of poll connections.
//!
//! Each connection registers as `(group, id)` with a bounded channel. A delivery with cast `uni`
//! goes only to a connection with that exact id; with cast `any` it goes to a connection with the
//! given id when one is connected, else to a connection of the group, taken in turn. A connection
//! whose channel is closed (the client is gone) is forgotten at once and the next one is tried; a
//! full channel fails for that connection only. When no connection takes the message the delivery
//! fails, so the task stays INIT and is sent again later.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::delivery::{Cast, DeliveryError, PollHub};

/// How many messages a connection may have waiting before deliveries to it fail.
pub const DEFAULT_CAPACITY: usize = 64;

/// The open poll connections. Share it in an [`Arc`]: [`Hub::register`] takes `&Arc<Hub>`.
#[derive(Debug)]
pub struct Hub {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    groups: HashMap<String, Group>,
    next_key: u64,
    closed: bool,
}

/// The connections of one group, oldest first, and the round-robin cursor.
#[derive(Debug, Default)]
struct Group {
    connections: Vec<Connection>,
    cursor: usize,
}

#[derive(Debug)]
struct Connection {
    key: u64,
    id: String,
    sender: mpsc::Sender<Bytes>,
}

/// A registered connection: dropping it removes the connection from the hub.
#[derive(Debug)]
pub struct Registration {
    hub: Weak<Hub>,
    group: String,
    key: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.remove(&self.group, self.key);
        }
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(DEFAULT_CAPACITY)
    }
}

/// What happened when a message was offered to one connection.
enum Offer {
    Taken,
    Closed,
    Full,
}

impl Hub {
    /// A hub whose connections buffer up to `capacity` messages each (at least 1).
    pub fn new(capacity: usize) -> Self {
        Hub { capacity: capacity.max(1), state: Mutex::new(State::default()) }
    }

    /// Registers a connection of `group` with `id`. Messages for it arrive on the receiver; the
    /// connection stays registered until the [`Registration`] is dropped (or, failing that, until
    /// a delivery finds the receiver gone).
    pub fn register(
        self: &Arc<Self>,
        group: &str,
        id: &str,
    ) -> (Registration, mpsc::Receiver<Bytes>) {
        let (sender, receiver) = mpsc::channel(self.capacity);
        let mut state = self.lock();
        let key = state.next_key;
        state.next_key += 1;
        if state.closed {
            // The sender is dropped here, so the stream ends at once.
            return (Registration { hub: Weak::new(), group: group.to_owned(), key }, receiver);
        }
        state.groups.entry(group.to_owned()).or_default().connections.push(Connection {
            key,
            id: id.to_owned(),
            sender,
        });
        drop(state);
        tracing::debug!(group, id, "poll connection opened");
        let registration = Registration { hub: Arc::downgrade(self), group: group.to_owned(), key };
        (registration, receiver)
    }

    /// Forgets every connection and refuses new ones, so their streams end (at shutdown: an
    /// open stream would otherwise keep the HTTP server from finishing).
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.groups.clear();
    }

    /// How many connections `group` has.
    pub fn connections(&self, group: &str) -> usize {
        self.lock().groups.get(group).map_or(0, |g| g.connections.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remove(&self, group: &str, key: u64) {
        let mut state = self.lock();
        if let Some(g) = state.groups.get_mut(group) {
            g.connections.retain(|c| c.key != key);
            if g.connections.is_empty() {
                state.groups.remove(group);
            }
        }
        tracing::debug!(group, "poll connection closed");
    }

    /// Offers `body` to the connection at `index`, forgetting it when its client is gone.
    fn offer(group: &mut Group, index: usize, body: &Bytes) -> Offer {
        let Some(connection) = group.connections.get(index) else {
            return Offer::Closed;
        };
        match connection.sender.try_send(body.clone()) {
            Ok(()) => Offer::Taken,
            Err(TrySendError::Full(_)) => Offer::Full,
            Err(TrySendError::Closed(_)) => {
                group.connections.remove(index);
                Offer::Closed
            }
        }
    }

    /// Tries the connections with `id`, newest first (a client that reconnected is more likely
    /// alive on its new connection). Returns whether one took the message.
    fn send_to_id(group: &mut Group, id: &str, body: &Bytes) -> bool {
        let mut index = group.connections.len();
        while index > 0 {
            index -= 1;
            if group.connections.get(index).is_some_and(|c| c.id == id)
                && matches!(Self::offer(group, index, body), Offer::Taken)
            {
                return true;
            }
        }
        false
    }

    /// Tries every connection of the group in turn, from the cursor on. Returns whether one took
    /// the message.
    fn send_round_robin(group: &mut Group, body: &Bytes) -> bool {
        let mut tries = group.connections.len();
        while tries > 0 && !group.connections.is_empty() {
            tries -= 1;
            let index = group.cursor % group.connections.len();
            match Self::offer(group, index, body) {
                Offer::Taken => {
                    group.cursor = index + 1;
                    return true;
                }
                // The next connection has moved into this index.
                Offer::Closed => group.cursor = index,
                Offer::Full => group.cursor = index + 1,
            }
        }
        false
    }
}

impl PollHub for Hub {
    fn deliver(
        &self,
        group: &str,
        id: Option<&str>,
        cast: Cast,
        body: Bytes,
    ) -> Result<(), DeliveryError> {
        let fail = |message: String| DeliveryError::Poll { group: group.to_owned(), message };
        let mut state = self.lock();
        let Some(connections) = state.groups.get_mut(group) else {
            return Err(fail("no connection in the group".to_owned()));
        };
        let taken = match (cast, id) {
            (Cast::Uni, None) => return Err(fail("cast uni needs a connection id".to_owned())),
            (Cast::Uni, Some(id)) => Self::send_to_id(connections, id, &body),
            (Cast::Any, Some(id)) => {
                Self::send_to_id(connections, id, &body)
                    || Self::send_round_robin(connections, &body)
            }
            (Cast::Any, None) => Self::send_round_robin(connections, &body),
        };
        if connections.connections.is_empty() {
            state.groups.remove(group);
        }
        match (taken, cast, id) {
            (true, _, _) => Ok(()),
            (false, Cast::Uni, Some(id)) => {
                Err(fail(format!("no connection with id {id:?} can take the message")))
            }
            (false, _, _) => Err(fail("no connection can take the message".to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn uni_goes_only_to_the_exact_id() {
        let hub = Arc::new(Hub::default());
        let (_a, mut ra) = hub.register("g", "a");
        let (_b, mut rb) = hub.register("g", "b");
        hub.deliver("g", Some("b"), Cast::Uni, body("1")).expect("delivered");
        assert_eq!(rb.try_recv().ok(), Some(body("1")));
        assert!(ra.try_recv().is_err());
        assert!(hub.deliver("g", Some("c"), Cast::Uni, body("2")).is_err());
        assert!(hub.deliver("g", None, Cast::Uni, body("2")).is_err());
        assert!(hub.deliver("h", Some("a"), Cast::Uni, body("2")).is_err());
    }

    #[test]
    fn any_prefers_the_id_then_takes_turns() {
        let hub = Arc::new(Hub::default());
        let (_a, mut ra) = hub.register("g", "a");
        let (_b, mut rb) = hub.register("g", "b");
        for _ in 0..3 {
            hub.deliver("g", Some("b"), Cast::Any, body("x")).expect("delivered");
        }
        assert!(ra.try_recv().is_err());
        for _ in 0..3 {
            assert_eq!(rb.try_recv().ok(), Some(body("x")));
        }
        for _ in 0..4 {
            hub.deliver("g", Some("zzz"), Cast::Any, body("y")).expect("delivered");
        }
        let (mut na, mut nb) = (0, 0);
        while ra.try_recv().is_ok() {
            na += 1;
        }
        while rb.try_recv().is_ok() {
            nb += 1;
        }
        assert_eq!((na, nb), (2, 2));
    }

    #[test]
    fn closed_connections_are_forgotten_and_full_ones_skipped() {
        let hub = Arc::new(Hub::new(1));
        let (_a, ra) = hub.register("g", "a");
        let (_b, mut rb) = hub.register("g", "b");
        drop(ra);
        hub.deliver("g", None, Cast::Any, body("1")).expect("delivered");
        assert_eq!(hub.connections("g"), 1);
        // b is full now: nothing can take the next message.
        assert!(hub.deliver("g", None, Cast::Any, body("2")).is_err());
        assert_eq!(rb.try_recv().ok(), Some(body("1")));
        hub.deliver("g", None, Cast::Any, body("3")).expect("delivered");
        drop(rb);
        assert!(hub.deliver("g", None, Cast::Any, body("4")).is_err());
        assert_eq!(hub.connections("g"), 0);
    }

    #[test]
    fn dropping_the_registration_removes_the_connection() {
        let hub = Arc::new(Hub::default());
        let (a, _ra) = hub.register("g", "a");
        let (_b, _rb) = hub.register("g", "b");
        assert_eq!(hub.connections("g"), 2);
        drop(a);
        assert_eq!(hub.connections("g"), 1);
        assert!(hub.deliver("g", Some("a"), Cast::Uni, body("1")).is_err());
    }
}
