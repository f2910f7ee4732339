//! The SSE endpoint: `GET /{group}/{id}` streams the connection's messages as `data: <json>`
//! frames, with keep-alive comments in between, over chunked HTTP/1.1.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Extension, Path};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::hub::Hub;

/// The SSE route `GET /{group}/{id}`, with its documentation (`.into()` gives the plain axum
/// router). It needs the [`Hub`] as an `Extension<Arc<Hub>>` layer.
pub fn routes<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new().routes(routes!(connect))
}

/// Registers the connection and streams its messages until the client goes away; the stream
/// owns the registration, so dropping it (on disconnect) removes the connection from the hub.
#[utoipa::path(
    get,
    operation_id = "poll",
    path = "/{group}/{id}",
    tag = "poll",
    summary = "Receive task messages (SSE)",
    description = "Registers this connection as `id` of `group` and streams the task messages \
        sent to it (`poll://any@<group>` or `poll://uni@<group>/<id>`) as Server-Sent Events: \
        `data: <json>` frames, with keep-alive comments in between, until the client goes away.",
    params(crate::http::openapi::params::PollPath),
    responses(
        (status = 200, description = "The event stream; each `data:` frame is one message \
            (`{type, task, href}` for invoke and resume, `{type, promise}` for notify)",
            content_type = "text/event-stream", body = String),
    ),
)]
async fn connect(
    Extension(hub): Extension<Arc<Hub>>,
    keep_alive: Option<Extension<PollKeepAlive>>,
    Path((group, id)): Path<(String, String)>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (registration, receiver) = hub.register(&group, &id);
    let stream = futures::stream::unfold(
        (receiver, registration),
        |(mut receiver, registration)| async move {
            let body = receiver.recv().await?;
            let event = Event::default().data(String::from_utf8_lossy(&body));
            Some((Ok(event), (receiver, registration)))
        },
    );
    let interval = keep_alive.map_or(PollKeepAlive::default().0, |Extension(k)| k.0);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(interval))
}

/// How often an idle poll stream sends a keep-alive comment: more often than its listener's
/// idle timeout, so that a stream stays open for as long as its client wants it
/// ([`HttpLimits::keep_alive_interval`](crate::listen::HttpLimits::keep_alive_interval)).
/// A layer of `Extension(PollKeepAlive(..))` sets it; without one it is 15 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollKeepAlive(pub std::time::Duration);

impl Default for PollKeepAlive {
    fn default() -> Self {
        PollKeepAlive(std::time::Duration::from_secs(15))
    }
}
