//! Store backends for natsapi.
//!
//! A [`Store`] runs [`natsapi_core::Operation`]s atomically: the operation reads and writes through
//! a backend's [`natsapi_core::Tx`], and its reply is released only once its writes are committed.
//! Backends: [`memory`] (for `natsapi dev` and tests) and [`sqlite`] (WAL, group commit).

pub mod error;
pub mod job;
pub mod memory;
pub mod sqlite;
mod store;

pub use error::StoreError;
pub use job::{Backend, BoxJob, Job};
pub use store::{Store, StoreConfig, StoreKind, panic_message};
