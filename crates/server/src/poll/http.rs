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
    Sse::new(stream).keep_alive(KeepAlive::default())
}
