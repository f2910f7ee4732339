//! Poll destinations: workers that hold a connection open to the server and take their messages
//! from it. The connections live elsewhere (a [`PollHub`]); the deliverer only hands messages to
//! the hub that is registered, and fails the delivery when none is, so the task is retried later.

use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;

use super::DeliveryError;
use super::recv::Cast;

/// Hands messages to poll connections.
pub trait PollHub: Send + Sync {
    /// Sends `body` to a connection of `group`: for [`Cast::Uni`] the one with `id`; for
    /// [`Cast::Any`] the one with `id` when given and connected, else any of the group.
    ///
    /// # Errors
    /// [`DeliveryError::Poll`] when no connection can take it.
    fn deliver(
        &self,
        group: &str,
        id: Option<&str>,
        cast: Cast,
        body: Bytes,
    ) -> Result<(), DeliveryError>;
}

/// The poll hub in use, if one is registered.
#[derive(Default)]
pub(super) struct PollRegistry {
    hub: RwLock<Option<Arc<dyn PollHub>>>,
}

impl PollRegistry {
    /// Registers `hub`, replacing any earlier one.
    pub(super) fn register(&self, hub: Arc<dyn PollHub>) {
        *self.hub.write().unwrap_or_else(PoisonError::into_inner) = Some(hub);
    }

    /// The registered hub.
    pub(super) fn get(&self) -> Option<Arc<dyn PollHub>> {
        self.hub.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}
