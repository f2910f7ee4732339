//! The SSE endpoint: `GET /{group}/{id}` streams the connection's messages as `data: <json>`
//! frames, with keep-alive comments in between, over chunked HTTP/1.1.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, Path};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::Stream;

use super::hub::Hub;

/// The SSE route `GET /{group}/{id}`. It needs the [`Hub`] as an `Extension<Arc<Hub>>` layer.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/{group}/{id}", get(connect))
}

/// Registers the connection and streams its messages until the client goes away; the stream
/// owns the registration, so dropping it (on disconnect) removes the connection from the hub.
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
