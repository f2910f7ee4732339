//! The poll plugin (spec §9.3): workers hold a Server-Sent Events stream open on
//! `GET /<group>/<id>` and receive their task messages as `data: <json>` frames.
//!
//! [`Hub`] keeps the open connections and implements [`PollHub`](crate::delivery::PollHub) for
//! the task deliverer; [`routes`] is the SSE endpoint, served on its own listener (`--poll-addr`)
//! and under `/poll` on the API port.

mod http;
mod hub;

pub use http::{PollKeepAlive, routes};
pub use hub::{DEFAULT_CAPACITY, Hub, Registration};
