//! The natsapi API server.
//!
//! Transports ([`nats`], [`http`]) translate requests into calls of the operation table in
//! [`operations`]; every operation runs through the same [`Api`] whatever the transport.
//! Background timers ([`timer`]) act on deadlines as they come due. Task messages go out through
//! [`delivery`]; poll workers hold [`poll`] connections (Server-Sent Events).

pub mod api;
pub mod delivery;
pub mod envelope;
pub mod http;
pub mod json;
pub mod listen;
pub mod metrics;
pub mod micro;
pub mod nats;
pub mod operations;
pub mod poll;
pub mod server;
pub mod time;
pub mod timer;
pub mod trace;

pub use api::{Api, ApiError, Response};
pub use server::{BoundServer, RunningServer, ServerConfig, ServerError};
pub use time::Time;
