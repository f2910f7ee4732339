//! Which requests of a connection the server is working on: those whose body has been read in
//! full and whose response has not been produced yet. While there is one, the connection is not
//! idle even though no bytes move (the server is computing, or waiting for a commit), so the
//! idle timeout leaves it alone; a client that stalls in the middle of its body is still idle.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;

/// How many requests of one connection are being worked on.
#[derive(Debug, Clone, Default)]
pub(super) struct Working(Arc<AtomicUsize>);

impl Working {
    /// Whether any request is being worked on now.
    pub(super) fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }

    /// `request` with its body watched: once it has been read in full the request counts as
    /// worked on, until the returned guard is dropped (when its response is ready, or the
    /// request is abandoned).
    pub(super) fn watch(&self, request: Request<Incoming>) -> (Request, WorkGuard) {
        let state = Arc::new(AtomicU8::new(READING));
        let guard = WorkGuard { working: self.clone(), state: state.clone() };
        let body_read = BodyRead { working: self.clone(), state };
        if http_body::Body::is_end_stream(request.body()) {
            body_read.done();
        }
        (request.map(|inner| Body::new(Watched { inner, body_read })), guard)
    }
}

/// The body is still being read.
const READING: u8 = 0;
/// The body has been read; the request counts in [`Working`].
const WORKING: u8 = 1;
/// The response is ready or the request was abandoned.
const FINISHED: u8 = 2;

/// Marks a request as worked on when its body ends.
struct BodyRead {
    working: Working,
    state: Arc<AtomicU8>,
}

impl BodyRead {
    fn done(&self) {
        let started =
            self.state.compare_exchange(READING, WORKING, Ordering::AcqRel, Ordering::Acquire);
        if started.is_ok() {
            self.working.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Ends the work on a request when dropped.
pub(super) struct WorkGuard {
    working: Working,
    state: Arc<AtomicU8>,
}

impl Drop for WorkGuard {
    fn drop(&mut self) {
        if self.state.swap(FINISHED, Ordering::AcqRel) == WORKING {
            self.working.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A request body that tells [`BodyRead`] when it has been read to its end.
struct Watched {
    inner: Incoming,
    body_read: BodyRead,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.body_read.done();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_undoes_only_what_the_body_did() {
        let working = Working::default();
        let state = Arc::new(AtomicU8::new(READING));
        let read = BodyRead { working: working.clone(), state: state.clone() };
        let guard = WorkGuard { working: working.clone(), state: state.clone() };
        assert!(!working.any(), "still reading");
        read.done();
        read.done();
        assert!(working.any());
        drop(guard);
        assert!(!working.any());
        // A body that ends after its request was abandoned does not count.
        read.done();
        assert!(!working.any());
        let abandoned =
            WorkGuard { working: working.clone(), state: Arc::new(AtomicU8::new(READING)) };
        drop(abandoned);
        assert!(!working.any());
    }
}
