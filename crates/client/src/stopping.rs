//! What a stopping process does with a NATS connection: flush what it has sent, in bounded
//! time, and never wait for a server that cannot be reached (a flush waits for the server's
//! answer, which would hold the stop until the server came back).

use std::time::Duration;

/// How long a flush at shutdown may take.
pub const STOP_FLUSH_TIMEOUT: Duration = Duration::from_millis(300);

/// Whether `client` is connected to a server now.
pub fn is_connected(client: &async_nats::Client) -> bool {
    client.connection_state() == async_nats::connection::State::Connected
}

/// Flushes `client` at shutdown: skipped when it is not connected, and given up after
/// [`STOP_FLUSH_TIMEOUT`]. `what` names what is being flushed, for the log.
pub async fn flush_if_connected(client: &async_nats::Client, what: &str) {
    if !is_connected(client) {
        tracing::warn!(what, "NATS is not connected: not flushing at shutdown");
        return;
    }
    match tokio::time::timeout(STOP_FLUSH_TIMEOUT, client.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, what, "NATS flush at shutdown failed"),
        Err(_) => tracing::warn!(what, "NATS flush at shutdown timed out"),
    }
}
