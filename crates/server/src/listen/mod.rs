//! Every HTTP listener natsapi opens (the API, the SSE poller, the ingest gateway) is bound and
//! served here, with the bounds a public port needs: a slow or silent client cannot hold a
//! connection open (a header-read timeout and an idle timeout), the number of connections is
//! capped, and a connection over the cap gets a fast `503` with `Retry-After` instead of
//! waiting in the backlog. Stopping is two steps, so that a process can stop every listener at
//! once and then wait for all of them: [`HttpServer::stop_accepting`] closes the socket and asks
//! each connection to finish the request it is serving; [`HttpServer::finished`] waits for them.

mod activity;
mod bind;
mod open_files;
mod refuse;
mod serve;
mod working;

pub use bind::{BindError, bind};
pub use open_files::{RESERVED_FILES, fit_caps, raise_open_files_limit};
pub use serve::{HttpLimits, HttpServer};
