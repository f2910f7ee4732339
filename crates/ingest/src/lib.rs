//! natsapi ingest: an HTTP gateway that stores every message in JetStream
//! before it answers, and a worker that applies each stored message to the database exactly once.
//!
//! - [`gateway`]: `POST /ingest/message`, `POST /ingest/batch`, `GET /ingest/status/{id}`,
//!   the signed calls' `POST /op`, `GET /op/status/{wallet}/{id}` and `POST /query`,
//!   `GET /health`, `GET /ready`.
//! - [`worker`]: a durable pull consumer; batches applied in one transaction, acked after commit,
//!   retried with back-off, dead-lettered after `max_deliver` attempts.
//! - [`db`]: the `messages` table (the status of every message) and the typed tables of
//!   [`mapping`], kept by a [`natsapi_store::Store`] (SQLite or PostgreSQL) as one of its
//!   families; [`handler`] is the hook for custom processing.
//! - [`rpc`]: signed RPC calls: their methods (`track_comment.*` shipped), `rpclog`, the signed
//!   queries and the node key.

pub mod db;
pub mod envelope;
pub mod error;
pub mod fingerprint;
pub mod gateway;
pub mod handler;
pub mod mapping;
pub mod rpc;
pub mod status;
pub mod stream;
pub mod time;
pub mod worker;

pub use envelope::MessageEnvelope;
pub use error::IngestError;
pub use stream::StreamSettings;
