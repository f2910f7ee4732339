//! Binding a listen address, optionally falling back to a free port when the one asked for is
//! taken (what `natsapi dev` does for its default ports).

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Why an address could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The address is not `IP:PORT`.
    #[error("{addr:?} is not an IP:PORT address")]
    Invalid {
        /// The address given.
        addr: String,
        /// Why it does not parse.
        #[source]
        source: std::net::AddrParseError,
    },
    /// The operating system refused (port in use, no permission, ...).
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address given.
        addr: String,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
}

/// Binds `addr`. When `any_port_if_busy` and the port is in use, binds a free port on the same
/// IP instead and logs the change; any other failure is returned.
///
/// # Errors
/// [`BindError`] naming the address and the cause.
pub async fn bind(addr: &str, any_port_if_busy: bool) -> Result<TcpListener, BindError> {
    let parsed: SocketAddr =
        addr.parse().map_err(|source| BindError::Invalid { addr: addr.to_owned(), source })?;
    let listen = |source| BindError::Listen { addr: addr.to_owned(), source };
    match TcpListener::bind(parsed).await {
        Err(e) if any_port_if_busy && e.kind() == io::ErrorKind::AddrInUse => {
            let listener =
                TcpListener::bind(SocketAddr::new(parsed.ip(), 0)).await.map_err(listen)?;
            if let Ok(bound) = listener.local_addr() {
                tracing::warn!(wanted = %parsed, using = %bound, "port in use; using a free one");
            }
            Ok(listener)
        }
        bound => bound.map_err(listen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_busy_port_fails_unless_a_free_one_may_stand_in() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let error = bind(&addr, false).await.unwrap_err();
        assert!(matches!(&error, BindError::Listen { source, .. }
            if source.kind() == io::ErrorKind::AddrInUse));
        // The cause is said once: in the source, not again in the message.
        assert_eq!(error.to_string(), format!("cannot listen on {addr}"));
        let other = bind(&addr, true).await.unwrap();
        assert_ne!(other.local_addr().unwrap(), taken.local_addr().unwrap());
        assert!(matches!(bind("nonsense", true).await, Err(BindError::Invalid { .. })));
    }
}
