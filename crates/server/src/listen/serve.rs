//! The accept loop and the connections of one HTTP listener.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower::ServiceExt;

use super::activity::{Activity, Tracked};
use super::refuse;
use super::working::Working;

/// The bounds of an HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest a client may take to send a request's headers, counted from when the connection
    /// opens or the previous response was sent; so it is also how long a kept-alive connection
    /// may wait for its next request.
    pub header_read_timeout: Duration,
    /// Longest a connection may stay open with no bytes moving either way (a client trickling
    /// its body, or not reading the response).
    pub idle_timeout: Duration,
    /// Most connections open at once; a connection over the cap gets a `503`.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    /// 10 s to send headers, 60 s idle, 1024 connections.
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

impl HttpLimits {
    /// How often a long response that has nothing to say (an SSE stream) should send a
    /// keep-alive, so that the idle timeout never closes it: a third of the idle timeout, at
    /// most 15 s.
    pub fn keep_alive_interval(&self) -> Duration {
        (self.idle_timeout / 3).clamp(Duration::from_millis(10), Duration::from_secs(15))
    }
}

impl HttpLimits {
    /// When a connection with `activity` is closed if nothing moves meanwhile: a client that
    /// has sent nothing yet gets the header-read timeout (hyper's own timer starts only once
    /// the first bytes have told HTTP/1 from HTTP/2), afterwards the idle timeout runs from the
    /// last bytes moved; it does not run while the server works on a request it has read.
    fn close_at(&self, activity: &Activity, working: &Working) -> Instant {
        match activity.last() {
            _ if working.any() => Instant::now() + self.idle_timeout,
            None => activity.opened() + self.header_read_timeout,
            Some(last) => last + self.idle_timeout,
        }
    }
}

/// Refusals answered at once (each takes at most 100 ms); a connection over the cap beyond these
/// is closed without an answer.
const MAX_REFUSALS: usize = 64;

/// A listener being served. Dropping it stops accepting too, but only
/// [`finished`](Self::finished) waits for the open connections.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Serves `router` on `listener` within `limits`.
    ///
    /// # Errors
    /// If the listener's address cannot be read.
    pub fn start(
        listener: TcpListener,
        router: Router,
        limits: HttpLimits,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, router, limits, stopped));
        Ok(HttpServer { addr, stop, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listening socket (new connections are refused by the system) and asks every
    /// open connection to close once the request it is serving has been answered.
    pub fn stop_accepting(&self) {
        self.stop.send_replace(true);
    }

    /// Stops accepting, if not done yet, and waits until every connection has closed.
    pub async fn finished(self) {
        self.stop_accepting();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, addr = %self.addr, "HTTP listener failed");
        }
    }
}

/// Accepts connections until `stop`, then waits for the open ones to close.
async fn accept_loop(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let refusal: Arc<[u8]> = refuse::response(limits.max_connections).into();
    // Every connection holds a receiver; `closed()` resolves when the last one is dropped.
    let (open, open_receiver) = watch::channel(());
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                accept_failed(e).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let connection = Connection {
                    router: router.clone(),
                    limits,
                    stop: stop.clone(),
                    _slot: slot,
                    _open: open_receiver.clone(),
                };
                tokio::spawn(connection.serve(stream));
            }
            Err(_) => {
                metrics::counter!(crate::metrics::HTTP_CONNECTIONS_REFUSED).increment(1);
                if let Ok(permit) = refusals.clone().try_acquire_owned() {
                    let refusal = refusal.clone();
                    tokio::spawn(async move {
                        refuse::refuse(stream, &refusal).await;
                        drop(permit);
                    });
                }
            }
        }
    }
    drop(listener);
    drop(open_receiver);
    open.closed().await;
}

/// A failed `accept`: a connection that went away before it was accepted is nothing; running
/// out of file descriptors is waited out briefly (the connections that are closing free some)
/// instead of spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::warn!(error = %e, "cannot accept a connection; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// One accepted connection and what it holds until it closes.
struct Connection {
    router: Router,
    limits: HttpLimits,
    stop: watch::Receiver<bool>,
    /// Its place under the connection cap.
    _slot: OwnedSemaphorePermit,
    /// Keeps the listener's "connections open" channel open.
    _open: watch::Receiver<()>,
}

impl Connection {
    /// Serves HTTP/1.1 (or HTTP/2 with prior knowledge) until the client closes, a timeout
    /// closes it, or the listener stops and the request in progress has been answered.
    async fn serve(mut self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let io = TokioIo::new(Tracked::new(stream, activity.clone()));
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout);
        builder.http2().timer(TokioTimer::new());
        let working = Working::default();
        let router = self.router;
        let watching = working.clone();
        let service = hyper::service::service_fn(move |request| {
            let (request, guard) = watching.watch(request);
            let response = router.clone().oneshot(request);
            async move {
                let response = response.await;
                drop(guard);
                response
            }
        });
        let mut connection = pin!(builder.serve_connection_with_upgrades(io, service));
        let mut closing = false;
        loop {
            // Woken at least once an idle timeout, so that the first bytes (which move the
            // deadline from the header-read timeout to the idle timeout) are taken into account.
            let wake_at = self
                .limits
                .close_at(&activity, &working)
                .min(Instant::now() + self.limits.idle_timeout);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "HTTP connection ended with an error");
                    }
                    break;
                }
                _ = self.stop.wait_for(|stop| *stop), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = tokio::time::sleep_until(wake_at) => {
                    if self.limits.close_at(&activity, &working) <= Instant::now() {
                        tracing::debug!("closing a silent or idle HTTP connection");
                        break;
                    }
                }
            }
        }
    }
}
